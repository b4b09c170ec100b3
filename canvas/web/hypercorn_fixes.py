"""Two fixes to hypercorn 0.18's connection handling, applied from Canvas (no vendored edits).

1. Hung keep-alive after an early answer. When the app answers before reading a request's
   body (404, 405, 413, 415, 401, 403), hypercorn finishes the response from inside the app's
   `send()` and then tells the app `http.disconnect`; Quart-Trio cancels its request nursery on
   that message, and the nursery holds the very task that is still inside `send()`. The close
   hypercorn was doing there is cancelled half-way, the socket stays open and its HTTP state
   is stuck: the next request on it is never answered. `ShieldedSend` runs every HTTP `send`
   in a shielded scope, so hypercorn either recycles the connection or closes it. The shield
   costs nothing extra in waiting: hypercorn already shields its socket writes.

2. WebSocket messages over the limit. hypercorn counts a text message's size in characters
   (40,000 `é` are 80,000 bytes and pass a 64 KiB limit), and after refusing one with
   Close 1009 it keeps the refused message in its buffer and stops reading frames at the
   first later message, so the client's Close is never seen and the closing handshake never
   completes. `apply_websocket_fixes()` counts UTF-8 bytes and, after a refusal, drops every
   later data frame while still answering the Close (and pings).
"""

from __future__ import annotations

from io import BytesIO, StringIO
from typing import Any

import trio
from hypercorn.protocol import ws_stream
from hypercorn.protocol.events import StreamClosed
from wsproto.connection import ConnectionState
from wsproto.events import CloseConnection, Message, Ping
from wsproto.frame_protocol import CloseReason

_CLOSE_MESSAGE_TOO_BIG = CloseReason.MESSAGE_TOO_BIG


class ShieldedSend:
    """ASGI middleware: an HTTP response's `send` cannot be cut off by the app's own nursery."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope.get("type") != "http":
            await self.app(scope, receive, send)
            return

        async def shielded_send(message: dict[str, Any]) -> None:
            with trio.CancelScope(shield=True):
                await send(message)

        await self.app(scope, receive, shielded_send)


class ByteCountingBuffer(ws_stream.WebsocketBuffer):
    """hypercorn's message buffer, but the limit counts a text message's UTF-8 bytes."""

    def extend(self, event: Message) -> None:
        data = event.data
        if self.value is None:
            self.value = StringIO() if isinstance(data, str) else BytesIO()
        self.value.write(data)
        # surrogatepass: wsproto has already rejected invalid UTF-8, so this only sizes text.
        size = len(data.encode("utf-8", "surrogatepass")) if isinstance(data, str) else len(data)
        self.length += size
        if self.length > self.max_length:
            raise ws_stream.FrameTooLargeError()


async def _handle_events(self: ws_stream.WSStream) -> None:
    """hypercorn's frame loop with one change: a refused message does not stall the socket."""
    for event in self.connection.events():
        if isinstance(event, Message):
            if getattr(self, "_canvas_refused", False):
                continue  # the closing handshake is under way: later data frames are dropped
            try:
                self.buffer.extend(event)
            except ws_stream.FrameTooLargeError:
                self.buffer.clear()
                self._canvas_refused = True
                await self._send_wsproto_event(CloseConnection(code=_CLOSE_MESSAGE_TOO_BIG))
                continue
            if event.message_finished:
                await self.app_put(self.buffer.to_message())
                self.buffer.clear()
        elif isinstance(event, Ping):
            await self._send_wsproto_event(event.response())
        elif isinstance(event, CloseConnection):
            if self.connection.state == ConnectionState.REMOTE_CLOSING:
                await self._send_wsproto_event(event.response())
            await self.send(StreamClosed(stream_id=self.stream_id))


def apply_websocket_fixes() -> None:
    """Install fix 2 into hypercorn's WebSocket stream (idempotent; process-wide).

    hypercorn is pinned (0.18.0); the replaced method mirrors that version's.
    """
    ws_stream.WebsocketBuffer = ByteCountingBuffer  # type: ignore[misc]
    ws_stream.WSStream._handle_events = _handle_events  # type: ignore[method-assign]
