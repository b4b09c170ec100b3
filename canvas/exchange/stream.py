"""One Binance kline WebSocket stream (trio-websocket): parsed updates out, typed errors on loss."""

from __future__ import annotations

import ssl
import urllib.parse
from collections.abc import Awaitable, Callable
from typing import NoReturn

import attrs
import trio
import trio_websocket

from canvas.exchange.binance import BinanceEndpoints, rest_symbol
from canvas.exchange.errors import KlineParseError, StreamClosed, StreamStalled, StreamUnavailable
from canvas.exchange.kline_parse import KlineUpdate, parse_kline_message
from canvas.series_id import SeriesId

OnUpdate = Callable[[KlineUpdate], Awaitable[None]]


@attrs.frozen
class KlineStreamStatistics:
    """Counters since the stream object was made (they survive reconnects)."""

    connects: int
    connected: bool
    messages: int
    closed: int
    forming: int
    malformed: int
    last_malformed: str | None


@attrs.define(eq=False)
class KlineStream:
    """A kline stream at `url`; `run` delivers each valid message to a callback.

    Messages for another symbol/interval than `symbol`/`interval` (when set) and messages that
    do not parse or break the candle rules are counted as malformed and skipped.
    """

    url: str = attrs.field()
    symbol: str | None = None
    interval: str | None = None
    silence_timeout: float = 30.0
    connect_timeout: float = 10.0
    close_timeout: float = 2.0
    _connects: int = attrs.field(default=0, init=False)
    _connected: bool = attrs.field(default=False, init=False)
    _messages: int = attrs.field(default=0, init=False)
    _closed: int = attrs.field(default=0, init=False)
    _forming: int = attrs.field(default=0, init=False)
    _malformed: int = attrs.field(default=0, init=False)
    _last_malformed: str | None = attrs.field(default=None, init=False)

    @url.validator
    def _check_url(self, attribute: object, url: str) -> None:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("ws", "wss") or not parts.hostname:
            raise ValueError(f"not a ws:// or wss:// URL: {url!r}")

    @classmethod
    def for_series(
        cls, endpoints: BinanceEndpoints, series: SeriesId, **options: float
    ) -> KlineStream:
        """The stream of `series`' own timeframe on its market's WS base."""
        url = endpoints.series_stream_url(series)
        return cls(url, rest_symbol(series.symbol), series.timeframe, **options)

    def statistics(self) -> KlineStreamStatistics:
        """Connects and message counts so far, and whether a connection is open now."""
        return KlineStreamStatistics(
            self._connects,
            self._connected,
            self._messages,
            self._closed,
            self._forming,
            self._malformed,
            self._last_malformed,
        )

    async def run(
        self, on_update: OnUpdate, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> NoReturn:
        """Connect, call `started()`, then await `on_update(update)` for each valid message.

        Never returns: raises StreamUnavailable (could not connect), StreamClosed (closed or
        cut), StreamStalled (silent for `silence_timeout` s; time spent in `on_update` does not
        count) or whatever `on_update` raises. The socket is closed in every case.
        """
        failure: Exception | None = None
        try:
            async with trio.open_nursery() as nursery:
                try:
                    await self._session(nursery, on_update, task_status)
                except Exception as exc:
                    # Raised below, outside the nursery, so callers never see a group.
                    failure = exc
                nursery.cancel_scope.cancel()
        except* trio_websocket.ConnectionRejected as group:
            status = getattr(group.exceptions[0], "status_code", None)
            failure = StreamUnavailable(f"{self.url}: handshake rejected with HTTP {status}")
        assert failure is not None, "a session only ends by raising"
        raise failure

    async def _session(
        self, nursery: trio.Nursery, on_update: OnUpdate, task_status: trio.TaskStatus[None]
    ) -> NoReturn:
        # We own the transport: trio-websocket 0.12 does not close its stream after an
        # abnormal closure (peer cut the TCP connection), which would leak the socket.
        ws: trio_websocket.WebSocketConnection | None = None
        stream: Transport | None = None
        graceful = True
        try:
            with trio.move_on_after(self.connect_timeout) as connecting:
                stream = await open_transport(self.url)
                ws = await trio_websocket.wrap_client_stream(
                    nursery, stream, host_header(self.url), resource(self.url)
                )
            if connecting.cancelled_caught:
                raise StreamUnavailable(f"{self.url}: connect timed out")
            assert ws is not None
            self._connects += 1
            self._connected = True
            task_status.started()
            while True:
                message: str | bytes | None = None
                with trio.move_on_after(self.silence_timeout):
                    message = await ws.get_message()
                if message is None:
                    raise StreamStalled(self.silence_timeout)
                update = self._parse(message)
                if update is not None:
                    # Outside the silence timer: a slow consumer is not a silent exchange.
                    await on_update(update)
        except trio_websocket.ConnectionClosed as exc:
            code = getattr(exc.reason, "code", None)
            raise StreamClosed(code, f"{self.url}: closed ({exc.reason})") from None
        except trio.Cancelled:
            # The reader task is cancelled with us, so no close handshake could complete.
            graceful = False
            raise
        finally:
            self._connected = False
            if ws is not None and graceful:
                with trio.move_on_after(self.close_timeout):
                    await ws.aclose()
            if stream is not None:
                await trio.aclose_forcefully(stream)

    def _parse(self, message: str | bytes) -> KlineUpdate | None:
        self._messages += 1
        try:
            update = parse_kline_message(message, symbol=self.symbol, interval=self.interval)
        except KlineParseError as exc:
            self._malformed += 1
            self._last_malformed = exc.message
            return None
        if update.closed:
            self._closed += 1
        else:
            self._forming += 1
        return update


Transport = trio.SocketStream | trio.SSLStream[trio.SocketStream]


async def open_transport(url: str) -> Transport:
    """The TCP (and, for wss, TLS) stream under a WebSocket to `url`.

    Raises StreamUnavailable when it cannot be opened. The caller owns and closes it (see
    `KlineStream._session` for why the WebSocket layer must not).
    """
    parts = urllib.parse.urlsplit(url)
    host, port = parts.hostname or "", parts.port
    try:
        if parts.scheme == "wss":
            tls = await trio.open_ssl_over_tcp_stream(
                host, port or 443, ssl_context=ssl.create_default_context()
            )
            try:
                # Handshake now, so TLS failures surface here rather than in the reader task.
                await tls.do_handshake()
            except BaseException:
                await trio.aclose_forcefully(tls)
                raise
            return tls
        return await trio.open_tcp_stream(host, port or 80)
    except (OSError, trio.BrokenResourceError) as exc:
        # trio reports each failed address in a group; the first one says enough.
        cause = exc.__cause__
        if isinstance(cause, BaseExceptionGroup) and cause.exceptions:
            cause = cause.exceptions[0]
        shown = cause or exc
        raise StreamUnavailable(f"{url}: {type(shown).__name__}: {shown}") from None


def host_header(url: str) -> str:
    """The Host header for `url` (the port only when it is not the scheme's default)."""
    parts = urllib.parse.urlsplit(url)
    default = 443 if parts.scheme == "wss" else 80
    host = parts.hostname or ""
    return host if parts.port in (None, default) else f"{host}:{parts.port}"


def resource(url: str) -> str:
    """The request target of `url`: its path and query."""
    parts = urllib.parse.urlsplit(url)
    return (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
