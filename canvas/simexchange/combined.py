"""Simulated combined-stream connections: `/stream?streams=a/b`, messages wrapped as
`{"stream","data"}`, SUBSCRIBE / UNSUBSCRIBE answered `{"result":null,"id"}`, and the
exchange's limit on control messages per second (exceeding it closes the connection)."""

from __future__ import annotations

import json
import re
import urllib.parse
from collections import deque
from collections.abc import Callable
from typing import Any

import attrs
import trio
import trio_websocket

from canvas.simexchange.routes import split_market_prefix
from canvas.simexchange.streams import KlineFeed, StreamRoute, malformed_messages

_NAME = re.compile(r"^([a-z0-9_]+)@kline_([0-9]+[mhd])$")
# Binance answers a malformed control message with an error and keeps the connection.
_INVALID = {"code": 2, "msg": "Invalid request"}
CLOSE_POLICY = 1008


def parse_combined_path(path: str) -> tuple[str, list[str]] | None:
    """`/[spot|futures]/stream?streams=a/b` → (market, [a, b]); None for another path."""
    named, rest = split_market_prefix(path)
    parts = urllib.parse.urlsplit(rest)
    if parts.path != "/stream":
        return None
    query = urllib.parse.parse_qs(parts.query).get("streams", [""])[0]
    return named or "spot", [name for name in query.split("/") if name]


def stream_route(market: str, name: str) -> StreamRoute | None:
    """The route of a stream name such as `btcusdt@kline_1m`, or None when it is not one."""
    return StreamRoute.parse(f"/{market}/ws/{name}")


@attrs.define(eq=False)
class CombinedSession:
    """One combined connection: a kline feed task per subscribed stream, control handling.

    `make_feed(route)` builds a stream's feed; `count(n)` counts sent stream messages.
    """

    ws: trio_websocket.WebSocketConnection
    market: str
    make_feed: Callable[[StreamRoute], KlineFeed]
    now_ms: Callable[[], int]
    count: Callable[[int], None]
    control_per_second: int
    feeds: dict[str, trio.CancelScope] = attrs.Factory(dict)
    control_messages: int = 0
    _recent: deque[float] = attrs.Factory(deque)
    _nursery: trio.Nursery | None = None

    async def run(self, names: list[str]) -> None:
        """Serve until the client goes away or breaks the control-message limit."""
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            for name in names:
                self._start(name)
            await self._read_control()
            nursery.cancel_scope.cancel()

    def streams(self) -> list[str]:
        return sorted(self.feeds)

    async def send_malformed(self, count: int) -> None:
        """`count` malformed payloads on each subscribed stream, wrapped like real ones."""
        for name in self.streams():
            route = stream_route(self.market, name)
            assert route is not None
            for text in malformed_messages(route, count, self.now_ms()):
                try:
                    data: Any = json.loads(text)
                except ValueError:
                    data = text  # not JSON at all: sent as a string payload
                await self.ws.send_message(json.dumps({"stream": name, "data": data}))

    def _start(self, name: str) -> bool:
        route = stream_route(self.market, name)
        if route is None:
            return False
        if name not in self.feeds:
            scope = self.feeds[name] = trio.CancelScope()
            assert self._nursery is not None
            # From now: the feed task may start after the clock moved on.
            self._nursery.start_soon(self._feed, name, route, scope, self.now_ms())
        return True

    async def _feed(
        self, name: str, route: StreamRoute, scope: trio.CancelScope, since_ms: int
    ) -> None:
        prefix = f'{{"stream":"{name}","data":'

        async def send(text: str) -> None:
            await self.ws.send_message(prefix + text + "}")
            self.count(1)

        with scope:
            try:
                await self.make_feed(route).run(send, since_ms)
            except trio_websocket.ConnectionClosed:
                pass
        if self.feeds.get(name) is scope:
            del self.feeds[name]

    async def _read_control(self) -> None:
        while True:
            try:
                text = await self.ws.get_message()
            except trio_websocket.ConnectionClosed:
                return
            now = trio.current_time()
            self._recent.append(now)
            while self._recent and now - self._recent[0] >= 1.0:
                self._recent.popleft()
            self.control_messages += 1
            if len(self._recent) > self.control_per_second:
                await self.ws.aclose(CLOSE_POLICY, "too many control messages")
                return
            await self.ws.send_message(json.dumps(self._answer(text)))

    def _answer(self, text: str | bytes) -> dict[str, Any]:
        try:
            doc = json.loads(text)
        except ValueError:
            return {"error": _INVALID, "id": None}
        if not isinstance(doc, dict):
            return {"error": _INVALID, "id": None}
        ident, method, params = doc.get("id"), doc.get("method"), doc.get("params")
        if method not in ("SUBSCRIBE", "UNSUBSCRIBE") or not isinstance(params, list):
            return {"error": _INVALID, "id": ident}
        if not all(isinstance(p, str) and stream_route(self.market, p) for p in params):
            return {"error": _INVALID, "id": ident}
        for name in params:
            if method == "SUBSCRIBE":
                self._start(name)
            elif name in self.feeds:
                self.feeds.pop(name).cancel()
        return {"result": None, "id": ident}


@attrs.define(eq=False)
class ConnectionGate:
    """The per-IP limit on new connections (every client of the sim is one IP): at most
    `limit` accepted in any `window_s` seconds; None admits all."""

    limit: int | None
    window_s: float
    accepted: int = 0
    rejected: int = 0
    _times: deque[float] = attrs.Factory(deque)

    def admit(self, now: float) -> bool:
        while self._times and now - self._times[0] >= self.window_s:
            self._times.popleft()
        if self.limit is not None and len(self._times) >= self.limit:
            self.rejected += 1
            return False
        self._times.append(now)
        self.accepted += 1
        return True
