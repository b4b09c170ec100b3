"""Top markets by 24 h quote volume (§2.10) and their server-sent event stream (§2.11)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import attrs
import trio
from quart import Blueprint, Response, current_app, request

from canvas.errors import ServiceUnavailable, UpstreamError
from canvas.exchange.rest import BinanceRest
from canvas.markets import (
    DEFAULT_TTLS,
    EXCHANGE_INFO,
    Clock,
    ForceLimiter,
    MarketData,
    MarketDataCache,
    MarketItem,
    TopMarketsQuery,
    TopMarketsStreamQuery,
    parse_exchange_info,
    parse_tickers,
    parse_top_markets_query,
    parse_top_markets_stream_query,
    sse_error,
    sse_event,
    sse_ping,
    top_items,
    top_markets_response,
)
from canvas.web.app import AppDeps, deps_of
from canvas.web.json_response import json_response

blueprint = Blueprint("top_markets", __name__)

SERVICE_KEY = "top_markets"
# The REST client retries 429s after their Retry-After; a list request should not wait on
# that for minutes, so one upstream document gets this long before the cached copy is used.
UPSTREAM_BUDGET_S = 15.0
SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


@attrs.frozen
class TopMarketsStatistics:
    """Streams open now and streams opened since the app started."""

    open_streams: int
    streams_started: int


@attrs.define(eq=False)
class TopMarkets:
    """The app's top-markets state: one cache and one force limiter shared by every request.

    Lives in `deps.services["top_markets"]` (see `top_markets_of`); a test may put one there
    first, for instance with short TTLs. `clock` drives the cache and the limiter: monotonic
    seconds, trio's clock by default.
    """

    cache: MarketDataCache
    limiter: ForceLimiter
    _open_streams: int = attrs.field(default=0, init=False)
    _streams_started: int = attrs.field(default=0, init=False)
    _streams_changed: trio.Event = attrs.field(factory=trio.Event, init=False)

    @classmethod
    def create(
        cls, clock: Clock = trio.current_time, ttls: Mapping[str, float] = DEFAULT_TTLS
    ) -> TopMarkets:
        """A fresh cache (with `ttls` per kind) and force limiter on `clock`."""
        return cls(MarketDataCache(clock, ttls), ForceLimiter(clock))

    async def load(self, rest: BinanceRest, market: str, *, force: bool) -> MarketData:
        """The market's symbols and tickers: cached copies, refreshed where due (all if forced).

        A failed refresh falls back to the cached copy of any age. Raises UpstreamError when a
        document could not be fetched and was never cached.
        """
        fetch = self.cache.begin(market, force=force)
        for kind in fetch.due:
            try:
                fetch.fetched(kind, await _fetch(rest, market, kind))
            except UpstreamError:
                if not fetch.fall_back(kind):
                    raise
        return fetch.result()

    async def build(
        self, rest: BinanceRest, query: TopMarketsQuery, now_ms: int, *, force: bool
    ) -> tuple[list[MarketItem], dict[str, Any]]:
        """The ranked items and the §2.10 body built from them at `now_ms`."""
        data = await self.load(rest, query.market, force=force)
        items = top_items(
            data.symbols,
            data.tickers,
            exchange=query.exchange,
            market=query.market,
            quote_asset=query.quote_asset,
            limit=query.limit,
        )
        body = top_markets_response(query, items, generated_at_ms=now_ms, cached=data.cached)
        return items, body

    def statistics(self) -> TopMarketsStatistics:
        return TopMarketsStatistics(self._open_streams, self._streams_started)

    async def wait_streams_closed(self) -> None:
        """Block until no stream is open (a disconnected client's stream has ended)."""
        while self._open_streams:
            await self._streams_changed.wait()

    @contextmanager
    def streaming(self) -> Iterator[None]:
        """Count one open stream for the duration of the block."""
        self._open_streams += 1
        self._streams_started += 1
        self._notify()
        try:
            yield
        finally:
            self._open_streams -= 1
            self._notify()

    def _notify(self) -> None:
        self._streams_changed.set()
        self._streams_changed = trio.Event()


def top_markets_of(deps: AppDeps) -> TopMarkets:
    """The app's TopMarkets, created on first use (one per app, never per module)."""
    service = deps.services.get(SERVICE_KEY)
    if service is None:
        service = deps.services[SERVICE_KEY] = TopMarkets.create()
    return service


async def _fetch(rest: BinanceRest, market: str, kind: str) -> Any:
    """One upstream document, parsed; UpstreamError on failure or after the time budget."""
    with trio.move_on_after(UPSTREAM_BUDGET_S):
        if kind == EXCHANGE_INFO:
            return parse_exchange_info(await rest.exchange_info(market), market)
        return parse_tickers(await rest.tickers_24hr(market))
    raise UpstreamError("timeout")


def _rest_client(deps: AppDeps) -> BinanceRest:
    # The ingest supervisor owns the process's one Binance REST client (it runs even with
    # ingest disabled), so the list shares its connection pool and configured base URLs.
    rest = getattr(deps.services.get("ingest"), "rest", None)
    if rest is None:
        raise ServiceUnavailable()
    return rest


def _now_ms(deps: AppDeps) -> int:
    return int(deps.clock() * 1000)


@blueprint.get("/api/market/top_markets")
async def top_markets():
    query = parse_top_markets_query(request.args)
    deps = deps_of(current_app)
    service = top_markets_of(deps)
    if query.force:
        service.limiter.check(request.remote_addr or "", query.market)
    _, body = await service.build(_rest_client(deps), query, _now_ms(deps), force=query.force)
    return json_response(body)


@blueprint.get("/api/market/top_markets/stream")
async def top_markets_stream():
    stream_query = parse_top_markets_stream_query(request.args)
    deps = deps_of(current_app)
    frames = _frames(top_markets_of(deps), _rest_client(deps), stream_query, deps)
    response = Response(frames, content_type="text/event-stream", headers=SSE_HEADERS)
    # Quart would otherwise cut the stream after RESPONSE_TIMEOUT (60 s).
    response.timeout = None
    return response


async def _frames(
    service: TopMarkets, rest: BinanceRest, stream_query: TopMarketsStreamQuery, deps: AppDeps
) -> AsyncIterator[str]:
    """The §2.11 frames until `max_events` or server shutdown.

    Everything it needs is captured up front: the body is iterated outside the request
    context. When the client goes away Quart cancels the handler and closes this generator,
    so the stream ends at its next checkpoint and leaves nothing behind.
    """
    query, max_events = stream_query.query, stream_query.max_events
    last_items: list[MarketItem] | None = None
    events = 0
    with service.streaming():
        while True:
            frame = None
            try:
                items, body = await service.build(rest, query, _now_ms(deps), force=False)
            except UpstreamError as exc:
                frame = sse_error(str(exc.detail), _now_ms(deps))
            else:
                if items != last_items:
                    last_items = items
                    frame = sse_event(body["generated_at_ms"], "top_markets", body)
            if frame is not None:
                events += 1
                yield frame
                if max_events and events >= max_events:
                    return
            yield sse_ping(int(deps.clock()))
            # Sleep one interval, but end at once on shutdown rather than hold the server's
            # graceful stop for its whole budget.
            with trio.move_on_after(stream_query.interval_s):
                await deps.shutting_down.wait()
            if deps.shutting_down.is_set():
                return
