"""Hand-written HTTP/1.1 and WebSocket clients on raw sockets, for connection tests."""

from __future__ import annotations

import json
from typing import Any

import trio
from wsproto import ConnectionType, WSConnection
from wsproto.connection import ConnectionState
from wsproto.events import AcceptConnection, CloseConnection, RejectConnection
from wsproto.events import Request as WsRequest

CLOSED = "closed"


class RawHttp:
    """One keep-alive TCP connection; responses are framed by Content-Length only."""

    def __init__(self, stream: trio.SocketStream, port: int) -> None:
        self.stream = stream
        self.port = port
        self.buffer = b""

    @classmethod
    async def connect(cls, port: int) -> RawHttp:
        return cls(await trio.open_tcp_stream("127.0.0.1", port), port)

    async def aclose(self) -> None:
        await trio.aclose_forcefully(self.stream)

    def head(self, method: str, path: str, headers: dict[str, str] | None = None) -> bytes:
        lines = [f"{method} {path} HTTP/1.1", f"Host: 127.0.0.1:{self.port}"]
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        return ("\r\n".join(lines) + "\r\n\r\n").encode()

    async def send(self, data: bytes) -> bool:
        """Send bytes; False when the server has closed the connection."""
        try:
            await self.stream.send_all(data)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            return False
        return True

    async def _fill(self) -> bool:
        try:
            chunk = await self.stream.receive_some(65536)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            return False
        self.buffer += chunk
        return bool(chunk)

    async def response(self) -> tuple[int, dict[str, str], Any] | str:
        """The next response as (status, headers, body), or CLOSED if the server closed."""
        while b"\r\n\r\n" not in self.buffer:
            if not await self._fill():
                return CLOSED
        head, _, self.buffer = self.buffer.partition(b"\r\n\r\n")
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        headers = {}
        for line in header_lines:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0"))
        while len(self.buffer) < length:
            if not await self._fill():
                return CLOSED
        body, self.buffer = self.buffer[:length], self.buffer[length:]
        is_json = headers.get("content-type", "").startswith("application/json")
        return int(status_line.split()[1]), headers, json.loads(body) if is_json else body

    async def request(self, method: str, path: str, **headers: str) -> Any:
        if not await self.send(self.head(method, path, headers)):
            return CLOSED
        return await self.response()


class RawWebSocket:
    """A wsproto client on a raw socket: frames are written exactly when the test says."""

    def __init__(self, stream: trio.SocketStream) -> None:
        self.stream = stream
        self.ws = WSConnection(ConnectionType.CLIENT)

    @classmethod
    async def connect(cls, port: int, target: str = "/ws/market") -> RawWebSocket:
        self = cls(await trio.open_tcp_stream("127.0.0.1", port))
        await self.stream.send_all(self.ws.send(WsRequest(host=f"127.0.0.1:{port}", target=target)))
        while True:
            event = await self.next_event()
            if isinstance(event, AcceptConnection):
                return self
            if event is None or isinstance(event, RejectConnection):
                raise AssertionError(f"handshake refused: {event!r}")

    async def send_frames(self, *events: Any) -> None:
        """Every frame in one write, before reading anything back."""
        await self.stream.send_all(b"".join(self.ws.send(e) for e in events))

    async def next_event(self) -> Any:
        """The next wsproto event, or None at EOF."""
        while True:
            for event in self.ws.events():
                return event
            try:
                data = await self.stream.receive_some(65536)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                data = b""
            if not data:
                return None
            self.ws.receive_data(data)

    async def close_code(self) -> int:
        """Read to the server's Close, answer it if needed, then wait for EOF; the code."""
        while True:
            event = await self.next_event()
            if event is None:
                raise AssertionError("connection closed without a Close frame")
            if isinstance(event, CloseConnection):
                break
        if self.ws.state == ConnectionState.REMOTE_CLOSING:
            await self.stream.send_all(self.ws.send(event.response()))
        while await self.next_event() is not None:
            pass
        return event.code

    async def aclose(self) -> None:
        await trio.aclose_forcefully(self.stream)
