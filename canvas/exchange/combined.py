"""One Binance combined-stream connection (`{WS_BASE}/stream?streams=a/b`): wrapped stream
messages in, SUBSCRIBE / UNSUBSCRIBE control messages out (CONTRACT §8 rev 4)."""

from __future__ import annotations

import itertools
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import attrs
import trio
import trio_websocket

from canvas.exchange.errors import StreamClosed, StreamStalled, StreamUnavailable
from canvas.exchange.stream import Transport, host_header, open_transport, resource


@attrs.frozen
class StreamMessage:
    """A data message: the stream it belongs to and its unwrapped payload (not yet parsed)."""

    stream: str
    data: Any


@attrs.frozen
class ControlReply:
    """The exchange's answer to a control message: `error` None when it was accepted."""

    id: int
    error: str | None


@attrs.frozen
class Unreadable:
    """A message that is neither a wrapped stream message nor a control reply."""

    reason: str


Incoming = StreamMessage | ControlReply | Unreadable
MESSAGE_QUEUE = 64


def combined_url(ws_base: str, streams: list[str]) -> str:
    """`{ws_base}/stream?streams=a/b/...` (stream names need no escaping)."""
    return f"{ws_base.rstrip('/')}/stream?streams={'/'.join(streams)}"


@attrs.define(eq=False)
class CombinedConnection:
    """An open combined-stream connection; made by `open`, closed when its block ends."""

    url: str
    ws: trio_websocket.WebSocketConnection
    _ids: itertools.count = attrs.Factory(lambda: itertools.count(1))

    @classmethod
    @asynccontextmanager
    async def open(
        cls,
        ws_base: str,
        streams: list[str],
        *,
        connect_timeout: float = 10.0,
        close_timeout: float = 2.0,
    ) -> AsyncIterator[CombinedConnection]:
        """Connect with `streams` already subscribed (in the URL).

        Raises StreamUnavailable when the connection cannot be opened (refused, handshake
        rejected, e.g. 429 for too many connections, or timed out).
        """
        url = combined_url(ws_base, streams)
        transport: Transport | None = None
        graceful = True
        try:
            async with trio.open_nursery() as nursery:
                with trio.move_on_after(connect_timeout) as connecting:
                    transport = await open_transport(url)
                    # One connection carries hundreds of streams: let the protocol reader
                    # run ahead of our dispatcher by a bounded number of messages.
                    ws = await trio_websocket.wrap_client_stream(
                        nursery,
                        transport,
                        host_header(url),
                        resource(url),
                        message_queue_size=MESSAGE_QUEUE,
                    )
                if connecting.cancelled_caught:
                    raise StreamUnavailable(f"{url}: connect timed out")
                try:
                    yield cls(url, ws)
                except trio.Cancelled:
                    # The reader task is cancelled with us: no close handshake can complete.
                    graceful = False
                    raise
                finally:
                    if graceful:
                        with trio.move_on_after(close_timeout):
                            await ws.aclose()
                    nursery.cancel_scope.cancel()
        except BaseExceptionGroup as group:
            # The nursery wraps what the body raised; callers want the error itself.
            if len(group.exceptions) != 1:
                raise
            leaf = group.exceptions[0]
            if isinstance(leaf, trio_websocket.ConnectionRejected):
                status = getattr(leaf, "status_code", None)
                raise StreamUnavailable(f"{url}: handshake rejected with HTTP {status}") from None
            raise leaf from None
        finally:
            # We own the transport (see KlineStream._session for why).
            if transport is not None:
                await trio.aclose_forcefully(transport)

    async def receive(self, silence_timeout: float) -> Incoming:
        """The next message. Raises StreamClosed (closed or cut) or StreamStalled (nothing
        for `silence_timeout` seconds)."""
        message: str | bytes | None = None
        try:
            with trio.move_on_after(silence_timeout):
                message = await self.ws.get_message()
        except trio_websocket.ConnectionClosed as exc:
            code = getattr(exc.reason, "code", None)
            raise StreamClosed(code, f"{self.url}: closed ({exc.reason})") from None
        if message is None:
            raise StreamStalled(silence_timeout)
        return _classify(message)

    async def send_control(self, method: str, params: list[str]) -> int:
        """Send `{"method","params","id"}`; returns the id its ControlReply will carry."""
        ident = next(self._ids)
        text = json.dumps({"method": method, "params": params, "id": ident})
        try:
            await self.ws.send_message(text)
        except trio_websocket.ConnectionClosed as exc:
            code = getattr(exc.reason, "code", None)
            raise StreamClosed(code, f"{self.url}: closed ({exc.reason})") from None
        return ident


def _classify(message: str | bytes) -> Incoming:
    try:
        doc = json.loads(message)
    except ValueError:
        return Unreadable("not JSON")
    if not isinstance(doc, dict):
        return Unreadable("message is not an object")
    stream = doc.get("stream")
    if isinstance(stream, str) and "data" in doc:
        return StreamMessage(stream, doc["data"])
    ident = doc.get("id")
    if (
        isinstance(ident, int)
        and not isinstance(ident, bool)
        and ("result" in doc or "error" in doc)
    ):
        error = doc.get("error")
        return ControlReply(ident, None if error is None else json.dumps(error))
    return Unreadable("neither a stream message nor a reply")
