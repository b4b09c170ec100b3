"""The simulator's WebSocket side: one kline stream per connection (`/ws/<stream>`) or a
combined connection (`/stream?streams=...`), behind the exchange's connection-rate limit and
closed once older than the configured lifetime."""

from __future__ import annotations

import math
from collections.abc import Callable

import attrs
import trio
import trio_websocket

from canvas.simexchange.clock import SimClock
from canvas.simexchange.combined import CombinedSession, ConnectionGate, parse_combined_path
from canvas.simexchange.config import SimConfig
from canvas.simexchange.httpserve import PrefixedStream
from canvas.simexchange.streams import KlineFeed, StreamRoute

CLOSE_GOING_AWAY = 1001


@attrs.define(eq=False)
class SimConnection:
    """One client connection of the sim; `ws` is set once it is a WebSocket stream."""

    scope: trio.CancelScope
    control: bool
    route: StreamRoute | None = None
    ws: trio_websocket.WebSocketConnection | None = None
    session: CombinedSession | None = None


@attrs.define(eq=False)
class WebSocketService:
    """Serves upgraded connections. `make_feed(route)` builds a stream's feed; `opened()` is
    called when a connection starts streaming."""

    config: SimConfig
    clock: SimClock
    gate: ConnectionGate
    make_feed: Callable[[StreamRoute], KlineFeed]
    opened: Callable[[], None]
    stream_messages: int = 0

    async def serve(self, connection: SimConnection, stream: PrefixedStream) -> None:
        async with trio.open_nursery() as nursery:
            request = None
            # The head was checked, so the request is already buffered; this is a safety net.
            with trio.move_on_after(self.config.idle_timeout):
                request = await trio_websocket.wrap_server_stream(nursery, stream)
            if request is None:
                nursery.cancel_scope.cancel()
                return
            combined = parse_combined_path(request.path)
            route = StreamRoute.parse(request.path) if combined is None else None
            if combined is None and route is None:
                await request.reject(404, body=b"unknown stream\n")
            elif not self.gate.admit(trio.current_time()):
                await request.reject(429, body=b"too many new connections\n")
            else:
                ws = await request.accept()
                lifetime = self.config.connection_lifetime_s
                with trio.move_on_after(math.inf if lifetime is None else lifetime) as aged:
                    if combined is not None:
                        await self._serve_combined(connection, ws, *combined)
                    else:
                        assert route is not None
                        await self._serve_single(connection, ws, route)
                # Like Binance at 24 h: the connection is closed, whatever it carries.
                reason = (CLOSE_GOING_AWAY, "connection lifetime reached")
                await ws.aclose(*(reason if aged.cancelled_caught else ()))
            nursery.cancel_scope.cancel()

    async def _serve_single(
        self, connection: SimConnection, ws: trio_websocket.WebSocketConnection, route: StreamRoute
    ) -> None:
        since_ms = self.clock.now_ms()
        connection.route, connection.ws = route, ws
        self.opened()
        async with trio.open_nursery() as inner:
            inner.start_soon(_until_closed, ws, inner.cancel_scope)
            inner.start_soon(
                self._feed_until_closed, self.make_feed(route), ws, since_ms, inner.cancel_scope
            )

    async def _serve_combined(
        self,
        connection: SimConnection,
        ws: trio_websocket.WebSocketConnection,
        market: str,
        names: list[str],
    ) -> None:
        session = CombinedSession(
            ws,
            market,
            self.make_feed,
            self.clock.now_ms,
            self._count,
            self.config.control_per_second,
        )
        connection.session, connection.ws = session, ws
        self.opened()
        await session.run(names)

    def _count(self, n: int) -> None:
        self.stream_messages += n

    async def _feed_until_closed(
        self,
        feed: KlineFeed,
        ws: trio_websocket.WebSocketConnection,
        since_ms: int,
        scope: trio.CancelScope,
    ) -> None:
        async def send(text: str) -> None:
            await ws.send_message(text)
            self.stream_messages += 1

        try:
            await feed.run(send, since_ms)
        except trio_websocket.ConnectionClosed:
            scope.cancel()


async def _until_closed(ws: trio_websocket.WebSocketConnection, scope: trio.CancelScope) -> None:
    """Read (and ignore) client messages; when the client goes away, stop the stream."""
    try:
        while True:
            await ws.get_message()
    except trio_websocket.ConnectionClosed:
        scope.cancel()
