"""The simulated Binance exchange server: REST and kline streams on one port, plus faults."""

from __future__ import annotations

import errno
import math
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial

import attrs
import h11
import trio
import trio_websocket

from canvas.simexchange.clock import SimClock
from canvas.simexchange.combined import ConnectionGate
from canvas.simexchange.config import SimConfig, SimHandle, SimStatistics
from canvas.simexchange.control import handle_control
from canvas.simexchange.httpserve import (
    BadRequest,
    HttpRequest,
    HttpResponse,
    PrefixedStream,
    is_websocket_upgrade,
    read_head,
    serve_http,
    websocket_upgrade_problem,
)
from canvas.simexchange.listings import build_listings
from canvas.simexchange.market import SimMarket
from canvas.simexchange.routes import RestRoutes
from canvas.simexchange.sockets import SimConnection, WebSocketService
from canvas.simexchange.streams import KlineFeed, StreamRoute, malformed_messages

_REBIND_ATTEMPTS = 40
# Errors that only mean the peer went away; they end that connection, never the server.
_PEER_GONE = (
    trio.BrokenResourceError,
    trio.ClosedResourceError,
    trio_websocket.ConnectionClosed,
    h11.ProtocolError,
    BadRequest,
)


@attrs.define
class _RateLimit:
    remaining: int
    status: int
    retry_after: float


@attrs.define(eq=False)
class SimExchange:
    """A simulated Binance spot + futures exchange.

    Start it with `await nursery.start(sim.run)` (or `open_simexchange`); fault-injection
    methods act on the running server and are also reachable under `/_sim/...`.
    """

    config: SimConfig = attrs.Factory(SimConfig)
    clock: SimClock = attrs.field(init=False)
    market: SimMarket = attrs.field(init=False)
    routes: RestRoutes = attrs.field(init=False)
    _handle: SimHandle | None = attrs.field(default=None, init=False)
    _connections: set[SimConnection] = attrs.field(factory=set, init=False)
    _rest_requests: int = attrs.field(default=0, init=False)
    _silent_until: float | None = attrs.field(default=None, init=False)
    _rate_limit: _RateLimit | None = attrs.field(default=None, init=False)
    _refusing: bool = attrs.field(default=False, init=False)
    _refuse_until: float = attrs.field(default=math.inf, init=False)
    _stop_accepting: trio.CancelScope | None = attrs.field(default=None, init=False)
    _listeners_closed: trio.Event = attrs.field(factory=trio.Event, init=False)
    _accept_again: trio.Event = attrs.field(factory=trio.Event, init=False)
    _listening: trio.Event = attrs.field(factory=trio.Event, init=False)
    _streams_changed: trio.Event = attrs.field(factory=trio.Event, init=False)
    _gate: ConnectionGate = attrs.field(init=False)
    _sockets: WebSocketService = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        config = self.config
        start = config.start_ms if config.start_ms is not None else int(time.time() * 1000)
        self.clock = SimClock(start, config.speed)
        self.market = SimMarket(config.seed)
        self.routes = RestRoutes(self.market, build_listings(config.symbols, extras=config.extras))
        self._gate = ConnectionGate(config.connection_limit, config.connection_window_s)
        self._sockets = WebSocketService(config, self.clock, self._gate, self._feed, self._opened)

    @property
    def handle(self) -> SimHandle:
        """Where the running sim listens. Raises RuntimeError when it is not running."""
        if self._handle is None:
            raise RuntimeError("the simulated exchange is not running")
        return self._handle

    async def run(
        self, *, task_status: trio.TaskStatus[SimHandle] = trio.TASK_STATUS_IGNORED
    ) -> None:
        """Serve until cancelled; `started(handle)` once every port is bound."""
        config = self.config
        try:
            async with trio.open_nursery() as nursery:
                port = await nursery.start(self._serve_market_port, nursery)
                control_port = None
                if config.control_port is not None:
                    control_port = await nursery.start(self._serve_control_port, nursery)
                self._handle = SimHandle(config.host, port, control_port)
                task_status.started(self._handle)
        finally:
            self._handle = None

    # -- fault injection ----------------------------------------------------------------------

    def drop_streams(self) -> int:
        """Cut every open kline stream without a close frame; returns how many were cut."""
        dropped = [c for c in self._connections if c.ws is not None]
        for connection in dropped:
            connection.scope.cancel()
        return len(dropped)

    def go_silent(self, seconds: float | None = None) -> None:
        """Stop sending on every stream (kept open) for `seconds`, or until `resume_streams`."""
        self._silent_until = math.inf if seconds is None else trio.current_time() + seconds

    def resume_streams(self) -> None:
        """End a silence at once; messages due from now on are sent again."""
        self._silent_until = None

    def rate_limit(self, count: int, *, status: int = 429, retry_after: float = 1) -> None:
        """Answer the next `count` REST requests with `status` (429 or 418) and `Retry-After`.

        Binance sends whole seconds; fractions are allowed here so tests need not wait long.
        """
        if status not in (418, 429) or count < 0 or retry_after < 0:
            raise ValueError("rate_limit needs count >= 0, status 418|429, retry_after >= 0")
        self._rate_limit = _RateLimit(count, status, retry_after) if count else None

    async def inject_malformed(self, count: int) -> int:
        """Send `count` malformed messages on every open stream; returns how many streams."""
        streams = [c for c in self._connections if c.ws is not None and c.route is not None]
        now = self.clock.now_ms()
        for connection in [c for c in self._connections if c.session is not None]:
            assert connection.session is not None
            try:
                await connection.session.send_malformed(count)
            except trio_websocket.ConnectionClosed:
                continue
        for connection in streams:
            assert connection.ws is not None and connection.route is not None
            for message in malformed_messages(connection.route, count, now):
                try:
                    await connection.ws.send_message(message)
                except trio_websocket.ConnectionClosed:
                    break
        return len(streams)

    async def refuse_connections(
        self, seconds: float | None = None, *, keep: object = None
    ) -> None:
        """Close the market port (connects are refused) and cut its open connections.

        Accepting resumes after `seconds` (None: never by itself), or when `accept_connections`
        is called; calling again while refusing can only postpone the reopening. Returns once
        the port is closed. The control port stays open. `keep` is a connection left open (the
        `/_sim/refuse` request that must still be answered).
        """
        self._refuse_until = math.inf if seconds is None else trio.current_time() + seconds
        if not self._refusing:
            self._refusing = True
            self._listeners_closed = trio.Event()
            self._accept_again = trio.Event()
            assert self._stop_accepting is not None
            self._stop_accepting.cancel()
        for connection in list(self._connections):
            if not connection.control and connection is not keep:
                connection.scope.cancel()
        await self._listeners_closed.wait()

    async def accept_connections(self) -> None:
        """Reopen the market port on the same port number; returns once it is listening."""
        if self._refusing:
            self._accept_again.set()
            await self._listening.wait()

    async def wait_streams(self, count: int) -> None:
        """Block until at least `count` kline streams are open."""
        while self._open_streams() < count:
            await self._streams_changed.wait()

    def statistics(self) -> SimStatistics:
        """A snapshot of the clock, the open streams and connections, and the active faults."""
        limit = self._rate_limit
        return SimStatistics(
            now_ms=self.clock.now_ms(),
            speed=self.clock.speed,
            open_streams=self._open_streams(),
            open_connections=len(self._connections),
            rest_requests=self._rest_requests,
            stream_messages=self._sockets.stream_messages,
            refusing=self._refusing,
            silent=self._is_silent(),
            rate_limited_remaining=limit.remaining if limit else 0,
            kline_streams=sum(
                len(c.session.feeds) if c.session is not None else 1
                for c in self._connections
                if c.ws is not None
            ),
            connections_accepted=self._gate.accepted,
            connections_rejected=self._gate.rejected,
            control_messages=sum(
                c.session.control_messages for c in self._connections if c.session
            ),
        )

    # -- serving ------------------------------------------------------------------------------

    async def _serve_market_port(
        self, nursery: trio.Nursery, *, task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED
    ) -> None:
        listeners = await trio.open_tcp_listeners(self.config.port, host=self.config.host)
        port = _bound_port(listeners)
        task_status.started(port)
        serve = partial(self._handle_connection, control=False)
        while True:
            self._listening.set()
            try:
                with trio.CancelScope() as self._stop_accepting:
                    await trio.serve_listeners(serve, listeners, handler_nursery=nursery)
            finally:
                await _close_all(listeners)
            self._listening = trio.Event()
            self._listeners_closed.set()
            # A later refuse_connections may move the deadline; re-check after each wake-up.
            while not self._accept_again.is_set() and trio.current_time() < self._refuse_until:
                with trio.move_on_at(self._refuse_until):
                    await self._accept_again.wait()
            listeners = await self._rebind(port)
            self._refusing = False

    async def _serve_control_port(
        self, nursery: trio.Nursery, *, task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED
    ) -> None:
        assert self.config.control_port is not None
        listeners = await trio.open_tcp_listeners(self.config.control_port, host=self.config.host)
        try:
            task_status.started(_bound_port(listeners))
            serve = partial(self._handle_connection, control=True)
            await trio.serve_listeners(serve, listeners, handler_nursery=nursery)
        finally:
            await _close_all(listeners)

    async def _rebind(self, port: int) -> list[trio.SocketListener]:
        for _ in range(_REBIND_ATTEMPTS):
            try:
                return await trio.open_tcp_listeners(port, host=self.config.host)
            except OSError as exc:
                # A just-closed port can stay busy for a moment; anything else is real.
                if exc.errno != errno.EADDRINUSE:
                    raise
            await trio.sleep(0.05)
        return await trio.open_tcp_listeners(port, host=self.config.host)

    async def _handle_connection(self, stream: trio.SocketStream, *, control: bool) -> None:
        connection = SimConnection(trio.CancelScope(), control)
        self._connections.add(connection)
        try:
            with connection.scope:
                head = await read_head(stream)
                if not head:
                    return
                problem = websocket_upgrade_problem(head) if is_websocket_upgrade(head) else None
                if problem is not None:
                    await _refuse_upgrade(stream, problem)
                elif is_websocket_upgrade(head) and not control:
                    await self._serve_websocket(connection, PrefixedStream(head, stream))
                else:
                    respond = partial(self._respond, connection)
                    await serve_http(stream, head, respond, idle_timeout=self.config.idle_timeout)
        except* _PEER_GONE:
            pass
        finally:
            self._connections.discard(connection)
            if connection.ws is not None:
                self._notify_streams()
            # Closing without a WebSocket close frame is what "dropped" means here.
            await trio.aclose_forcefully(stream)

    async def _respond(self, connection: SimConnection, request: HttpRequest) -> HttpResponse:
        if request.path.startswith("/_sim/"):
            return await handle_control(self, request, spare=connection)
        if connection.control:
            return HttpResponse.json(404, {"error": "the control port serves /_sim/ only"})
        self._rest_requests += 1
        limit = self._rate_limit
        if limit is not None:
            limit.remaining -= 1
            if limit.remaining <= 0:
                self._rate_limit = None
            body = {"code": -1003, "msg": "Too many requests; simulated rate limit."}
            return HttpResponse.json(
                limit.status, body, (("Retry-After", f"{limit.retry_after:g}"),)
            )
        return self.routes.respond(request, self.clock.now_ms())

    async def _serve_websocket(self, connection: SimConnection, stream: PrefixedStream) -> None:
        await self._sockets.serve(connection, stream)

    def _feed(self, route: StreamRoute) -> KlineFeed:
        return KlineFeed(
            self.market,
            self.clock,
            self.routes.listings.find(route.market, route.symbol),
            route,
            self.config.messages_per_bucket,
            self._is_silent,
        )

    def _opened(self) -> None:
        self._notify_streams()

    def _is_silent(self) -> bool:
        if self._silent_until is None:
            return False
        if trio.current_time() >= self._silent_until:
            self._silent_until = None
            return False
        return True

    def _open_streams(self) -> int:
        return sum(1 for c in self._connections if c.ws is not None)

    def _notify_streams(self) -> None:
        self._streams_changed.set()
        self._streams_changed = trio.Event()


async def _refuse_upgrade(stream: trio.SocketStream, problem: str) -> None:
    head = (
        "HTTP/1.1 400 Bad Request\r\nSec-WebSocket-Version: 13\r\nConnection: close\r\n"
        f"Content-Length: {len(problem) + 1}\r\n\r\n{problem}\n"
    )
    await stream.send_all(head.encode())


async def _close_all(listeners: list[trio.SocketListener]) -> None:
    for listener in listeners:
        await trio.aclose_forcefully(listener)


def _bound_port(listeners: list[trio.SocketListener]) -> int:
    return int(listeners[0].socket.getsockname()[1])


@asynccontextmanager
async def open_simexchange(config: SimConfig | None = None) -> AsyncIterator[SimExchange]:
    """Run a simulated exchange for the body of the `async with`; `sim.handle` has its URLs."""
    sim = SimExchange(config or SimConfig())
    async with trio.open_nursery() as nursery:
        await nursery.start(sim.run)
        try:
            yield sim
        finally:
            nursery.cancel_scope.cancel()
