"""One Binance combined-stream connection (`{WS_BASE}/stream?streams=a/b`): wrapped stream
messages in, SUBSCRIBE / UNSUBSCRIBE control messages out (CONTRACT §8 rev 4)."""

from __future__ import annotations

import contextlib
import itertools
import json
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import attrs
import trio
from wsproto import ConnectionType, WSConnection
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Event,
    Ping,
    RejectConnection,
    Request,
    TextMessage,
)
from wsproto.utilities import LocalProtocolError

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
READ_SIZE = 65536


def combined_url(ws_base: str, streams: list[str]) -> str:
    """`{ws_base}/stream?streams=a/b/...` (stream names need no escaping)."""
    return f"{ws_base.rstrip('/')}/stream?streams={'/'.join(streams)}"


@attrs.define(eq=False)
class CombinedConnection:
    """An open combined-stream connection; made by `open`, closed when its block ends.

    A sans-IO client (wsproto) read by its owner's task: one read of the socket yields every
    message it holds at once, so one connection can carry hundreds of busy streams without a
    scheduling round trip per message.
    """

    url: str
    transport: Transport
    _ws: WSConnection = attrs.Factory(lambda: WSConnection(ConnectionType.CLIENT))
    _ready: deque[Incoming] = attrs.Factory(deque)
    _fragments: list[str] = attrs.Factory(list)
    _closed: StreamClosed | None = None
    _send_lock: trio.Lock = attrs.Factory(trio.Lock)
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
        try:
            with trio.move_on_after(connect_timeout) as connecting:
                transport = await open_transport(url)
                conn = cls(url, transport)
                await conn._handshake()
            if connecting.cancelled_caught:
                raise StreamUnavailable(f"{url}: connect timed out")
            graceful = True
            try:
                yield conn
            except trio.Cancelled:
                graceful = False
                raise
            finally:
                if graceful and conn._closed is None:
                    with trio.move_on_after(close_timeout):
                        await conn._send(CloseConnection(code=1000))
        finally:
            if transport is not None:
                await trio.aclose_forcefully(transport)

    async def receive_batch(self, silence_timeout: float) -> list[Incoming]:
        """Every message that has arrived (at least one), oldest first. Raises StreamClosed
        (closed or cut) or StreamStalled (nothing for `silence_timeout` seconds)."""
        while not self._ready:
            if self._closed is not None:
                raise self._closed
            data: bytes | None = None
            with trio.move_on_after(silence_timeout):
                data = await self._read()
            if data is None:
                raise StreamStalled(silence_timeout)
            await self._feed(data)
        batch = list(self._ready)
        self._ready.clear()
        return batch

    async def receive(self, silence_timeout: float) -> Incoming:
        """The next message (see `receive_batch`)."""
        if not self._ready:
            self._ready.extend(await self.receive_batch(silence_timeout))
        return self._ready.popleft()

    async def send_control(self, method: str, params: list[str]) -> int:
        """Send `{"method","params","id"}`; returns the id its ControlReply will carry."""
        if self._closed is not None:
            raise self._closed
        ident = next(self._ids)
        text = json.dumps({"method": method, "params": params, "id": ident})
        await self._send(TextMessage(data=text))
        return ident

    async def _handshake(self) -> None:
        await self._send(Request(host=host_header(self.url), target=resource(self.url)))
        while True:
            data = await self._read()
            if not data:
                raise StreamUnavailable(f"{self.url}: closed during the handshake")
            self._ws.receive_data(data)
            accepted = False
            for event in self._ws.events():
                if isinstance(event, RejectConnection):
                    raise StreamUnavailable(
                        f"{self.url}: handshake rejected with HTTP {event.status_code}"
                    )
                if isinstance(event, AcceptConnection):
                    accepted = True
                else:
                    await self._on_event(event)
            if accepted:
                return

    async def _feed(self, data: bytes) -> None:
        if not data:
            self._closed = StreamClosed(1006, f"{self.url}: cut")
            return
        self._ws.receive_data(data)
        for event in self._ws.events():
            await self._on_event(event)

    async def _on_event(self, event: Event) -> None:
        if isinstance(event, TextMessage):
            self._fragments.append(event.data)
            if event.message_finished:
                self._ready.append(_classify("".join(self._fragments)))
                self._fragments.clear()
        elif isinstance(event, BytesMessage):
            if event.message_finished:
                self._ready.append(Unreadable("binary message"))
        elif isinstance(event, Ping):
            await self._send(event.response())
        elif isinstance(event, CloseConnection):
            self._closed = StreamClosed(event.code, f"{self.url}: closed ({event.reason})")
            with contextlib.suppress(StreamClosed):
                await self._send(event.response())

    async def _read(self) -> bytes:
        try:
            return await self.transport.receive_some(READ_SIZE)
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError) as exc:
            raise StreamClosed(1006, f"{self.url}: {type(exc).__name__}") from None

    async def _send(self, event: Event) -> None:
        try:
            data = self._ws.send(event)
        except LocalProtocolError as exc:
            raise StreamClosed(1006, f"{self.url}: {exc}") from None
        async with self._send_lock:
            try:
                await self.transport.send_all(data)
            except (trio.BrokenResourceError, trio.ClosedResourceError, OSError) as exc:
                raise StreamClosed(1006, f"{self.url}: {type(exc).__name__}") from None


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
