"""The app's top-markets state: one cache of the exchange's symbols and tickers and one
force limiter, shared by every §2.10 request and §2.11 stream of the app."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import attrs
import trio

from canvas.errors import UpstreamError
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
    parse_exchange_info,
    parse_tickers,
    top_items,
    top_markets_response,
)

# The REST client retries 429s after their Retry-After; a list request should not wait on
# that for minutes, so one upstream document gets this long before the cached copy is used.
UPSTREAM_BUDGET_S = 15.0


@attrs.frozen
class TopMarketsStatistics:
    """Streams open now and streams opened since the app started."""

    open_streams: int
    streams_started: int


@attrs.define(eq=False)
class TopMarkets:
    """The app's top-markets state: one cache and one force limiter shared by every request.

    Built once by the server (`AppDeps.top_markets`). `clock` drives the cache and the
    limiter: monotonic seconds, trio's clock by default.
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


async def _fetch(rest: BinanceRest, market: str, kind: str) -> Any:
    """One upstream document, parsed; UpstreamError on failure or after the time budget."""
    with trio.move_on_after(UPSTREAM_BUDGET_S):
        if kind == EXCHANGE_INFO:
            return parse_exchange_info(await rest.exchange_info(market), market)
        return parse_tickers(await rest.tickers_24hr(market))
    raise UpstreamError("timeout")
