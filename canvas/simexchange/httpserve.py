"""Plain HTTP/1.1 serving on a trio stream (h11), and detection of WebSocket upgrades.

The simulator owns its sockets instead of running under an ASGI server so that it can
refuse, drop and silence connections the way a failing exchange does.
"""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Awaitable, Callable
from http import HTTPStatus
from typing import Any

import attrs
import h11
import trio

MAX_HEAD_BYTES = 16 * 1024
_RECEIVE_BYTES = 64 * 1024


class BadRequest(Exception):
    """The peer sent something that is not a usable HTTP request."""


@attrs.frozen
class HttpRequest:
    """One request: `query` keeps the last value of each parameter."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]


@attrs.frozen
class HttpResponse:
    """A complete response; `close` ends the connection after it is sent."""

    status: int
    body: bytes = b""
    headers: tuple[tuple[str, str], ...] = ()
    close: bool = False

    @classmethod
    def json(
        cls, status: int, payload: Any, headers: tuple[tuple[str, str], ...] = ()
    ) -> HttpResponse:
        """A compact JSON body with its content type."""
        body = json.dumps(payload, separators=(",", ":")).encode()
        return cls(status, body, (("Content-Type", "application/json"), *headers))


Handler = Callable[[HttpRequest], Awaitable[HttpResponse]]


async def read_head(stream: trio.abc.ReceiveStream) -> bytes:
    """Bytes received until the end of the first request head (possibly a little more).

    Returns b"" when the peer closes before sending anything. Raises BadRequest when the head
    is too long or the peer closes mid-head.
    """
    buffer = bytearray()
    while b"\r\n\r\n" not in buffer:
        if len(buffer) > MAX_HEAD_BYTES:
            raise BadRequest("request head too long")
        data = await stream.receive_some(_RECEIVE_BYTES)
        if not data:
            if buffer:
                raise BadRequest("connection closed inside the request head")
            return b""
        buffer += data
    return bytes(buffer)


def _head_fields(head: bytes) -> tuple[list[bytes], dict[bytes, bytes]]:
    lines = head.split(b"\r\n\r\n", 1)[0].split(b"\r\n")
    headers: dict[bytes, bytes] = {}
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        headers[name.strip().lower()] = value.strip()
    return lines[0].split(b" "), headers


def is_websocket_upgrade(head: bytes) -> bool:
    """True when the request head asks for `Upgrade: websocket`."""
    return b"websocket" in _head_fields(head)[1].get(b"upgrade", b"").lower()


def websocket_upgrade_problem(head: bytes) -> str | None:
    """Why an upgrade request cannot be accepted (RFC 6455 §4.2.1), or None when it can.

    Checked here so that only well-formed handshakes reach the WebSocket library.
    """
    request_line, headers = _head_fields(head)
    if len(request_line) != 3 or request_line[0] != b"GET" or request_line[2] != b"HTTP/1.1":
        return "a WebSocket upgrade must be GET ... HTTP/1.1"
    if b"upgrade" not in headers.get(b"connection", b"").lower():
        return "missing Connection: Upgrade"
    if not headers.get(b"host"):
        return "missing Host"
    if not headers.get(b"sec-websocket-key"):
        return "missing Sec-WebSocket-Key"
    if headers.get(b"sec-websocket-version") != b"13":
        return "Sec-WebSocket-Version must be 13"
    return None


class PrefixedStream(trio.abc.Stream):
    """A stream that first replays bytes already read from `stream`, then reads on from it."""

    def __init__(self, prefix: bytes, stream: trio.abc.Stream) -> None:
        self._prefix = prefix
        self.stream = stream

    async def receive_some(self, max_bytes: int | None = None) -> bytes:
        if self._prefix:
            await trio.lowlevel.checkpoint()
            size = len(self._prefix) if max_bytes is None else max_bytes
            data, self._prefix = self._prefix[:size], self._prefix[size:]
            return data
        return bytes(await self.stream.receive_some(max_bytes))

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        await self.stream.send_all(data)

    async def wait_send_all_might_not_block(self) -> None:
        await self.stream.wait_send_all_might_not_block()

    async def send_eof(self) -> None:
        # Half-closing is never needed by a WebSocket; closing the whole stream is.
        await self.stream.aclose()

    async def aclose(self) -> None:
        await self.stream.aclose()


async def serve_http(
    stream: trio.abc.Stream, head: bytes, handler: Handler, *, idle_timeout: float
) -> None:
    """Answer requests on `stream` (starting with the bytes `head`) until the peer is done.

    A connection idle for `idle_timeout` seconds between requests is closed. Malformed
    requests get a 400 and the connection is closed.
    """
    conn = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEAD_BYTES)
    conn.receive_data(head)
    while True:
        request = None
        try:
            with trio.move_on_after(idle_timeout):
                request = await _next_request(conn, stream)
        except h11.RemoteProtocolError:
            if conn.our_state in (h11.IDLE, h11.SEND_RESPONSE):
                await _send(conn, stream, HttpResponse(400, b"bad request\n", close=True))
            return
        if request is None:
            return
        response = await handler(request)
        await _send(conn, stream, response)
        if response.close or conn.our_state is h11.MUST_CLOSE:
            return
        conn.start_next_cycle()


async def _next_event(conn: h11.Connection, stream: trio.abc.ReceiveStream) -> Any:
    while True:
        event = conn.next_event()
        if event is not h11.NEED_DATA:
            return event
        conn.receive_data(bytes(await stream.receive_some(_RECEIVE_BYTES)))


async def _next_request(conn: h11.Connection, stream: trio.abc.Stream) -> HttpRequest | None:
    event = await _next_event(conn, stream)
    if not isinstance(event, h11.Request):
        return None
    # Bodies are never used; read past them so the next request parses.
    while not isinstance(await _next_event(conn, stream), h11.EndOfMessage):
        pass
    target = urllib.parse.urlsplit(event.target.decode("ascii", "replace"))
    return HttpRequest(
        event.method.decode("ascii"),
        urllib.parse.unquote(target.path),
        dict(urllib.parse.parse_qsl(target.query)),
        {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in event.headers},
    )


async def _send(conn: h11.Connection, stream: trio.abc.Stream, response: HttpResponse) -> None:
    headers = [
        *response.headers,
        ("Content-Length", str(len(response.body))),
        ("Server", "canvas-simexchange"),
    ]
    if response.close:
        headers.append(("Connection", "close"))
    reason = HTTPStatus(response.status).phrase.encode()
    data = conn.send(h11.Response(status_code=response.status, headers=headers, reason=reason))
    if response.body:
        data += conn.send(h11.Data(data=response.body))
    data += conn.send(h11.EndOfMessage())
    await stream.send_all(data)
