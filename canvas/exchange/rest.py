"""Async Binance REST client (httpx under trio): server time, klines backfill, market lists."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import attrs
import httpx
import trio

from canvas.candles import Candle
from canvas.exchange.binance import KLINE_INTERVALS, BinanceEndpoints, rest_symbol
from canvas.exchange.errors import (
    ExchangeMalformed,
    ExchangeRateLimited,
    ExchangeStatusError,
    ExchangeUnavailable,
    KlineParseError,
    KlineRejected,
)
from canvas.exchange.kline_parse import parse_kline_row
from canvas.series_id import SeriesId

OnPage = Callable[[list[Candle]], Awaitable[None]]


@attrs.frozen
class ClosedRange:
    """What a backfill fetched.

    `candles` is empty when the pages went to an `on_page` callback instead. `server_time_ms`
    is the exchange clock read at the start, which decided what counts as closed.
    """

    candles: tuple[Candle, ...]
    server_time_ms: int
    pages: int
    delivered: int
    dropped_unclosed: int
    rejected: int


def _retry_after(header: str | None, default: float) -> float:
    """Seconds from a `Retry-After` header (Binance sends whole seconds)."""
    try:
        value = float(header) if header is not None else default
    except ValueError:
        return default
    return value if math.isfinite(value) and value >= 0 else default


def _error_body(response: httpx.Response) -> tuple[int | None, str | None]:
    try:
        body = response.json()
    except ValueError:
        return None, None
    if isinstance(body, dict) and isinstance(body.get("code"), int):
        msg = body.get("msg")
        return body["code"], msg if isinstance(msg, str) else None
    return None, None


@attrs.define(eq=False)
class BinanceRest:
    """REST calls against one set of endpoints, sharing one `httpx.AsyncClient`.

    429/418 answers are retried after their `Retry-After` (at most `rate_limit_retries` times,
    and never waiting longer than `max_retry_after` seconds); other failures raise at once:
    ExchangeUnavailable (network), ExchangeStatusError (status), ExchangeMalformed (body).
    """

    client: httpx.AsyncClient
    endpoints: BinanceEndpoints = attrs.Factory(BinanceEndpoints)
    rate_limit_retries: int = 3
    max_retry_after: float = 60.0
    default_retry_after: float = 1.0

    @classmethod
    @asynccontextmanager
    async def open(
        cls, endpoints: BinanceEndpoints | None = None, *, timeout: float = 10.0, **options: Any
    ) -> AsyncIterator[BinanceRest]:
        """A client with its own connection pool, closed when the block ends."""
        async with httpx.AsyncClient(timeout=timeout) as client:
            yield cls(client, endpoints or BinanceEndpoints(), **options)

    async def get_json(
        self, market: str, endpoint: str, params: dict[str, Any] | None = None
    ) -> Any:
        """GET `{base}{/api/v3|/fapi/v1}/{endpoint}` and return the decoded JSON body."""
        url = self.endpoints.rest_url(market, endpoint)
        retries = 0
        while True:
            try:
                response = await self.client.get(url, params=params)
            except httpx.TimeoutException:
                raise ExchangeUnavailable(f"timed out: GET {url}") from None
            except httpx.TransportError as exc:
                raise ExchangeUnavailable(f"{type(exc).__name__}: GET {url}: {exc}") from None
            status = response.status_code
            if status in (418, 429):
                wait = _retry_after(response.headers.get("Retry-After"), self.default_retry_after)
                if retries >= self.rate_limit_retries or wait > self.max_retry_after:
                    raise ExchangeRateLimited(status, wait)
                retries += 1
                await trio.sleep(wait)
                continue
            if not 200 <= status < 300:
                code, msg = _error_body(response)
                raise ExchangeStatusError(status, code, msg)
            try:
                return response.json()
            except ValueError:
                raise ExchangeMalformed(f"GET {url}: body is not JSON") from None

    async def server_time(self, market: str) -> int:
        """The exchange clock in Unix ms (`/api/v3/time`, `/fapi/v1/time`)."""
        body = await self.get_json(market, "time")
        server_time = body.get("serverTime") if isinstance(body, dict) else None
        if isinstance(server_time, bool) or not isinstance(server_time, int):
            raise ExchangeMalformed("time: no integer serverTime")
        return server_time

    async def klines(
        self,
        market: str,
        symbol: str,
        interval: str,
        *,
        start_ms: int | None = None,
        end_ms: int | None = None,
        limit: int | None = None,
    ) -> list[list[Any]]:
        """One klines page as raw rows (the forming bucket included, as Binance sends it)."""
        params: dict[str, Any] = {"symbol": rest_symbol(symbol), "interval": interval}
        for name, value in (("startTime", start_ms), ("endTime", end_ms), ("limit", limit)):
            if value is not None:
                params[name] = value
        rows = await self.get_json(market, "klines", params)
        if not isinstance(rows, list) or not all(isinstance(r, list) for r in rows):
            raise ExchangeMalformed("klines: body is not a list of rows")
        return rows

    async def fetch_closed_range(
        self,
        series: SeriesId,
        start_time: int,
        end_time: int | None = None,
        *,
        on_page: OnPage | None = None,
    ) -> ClosedRange:
        """Closed candles with `start_time <= candle_time <= end_time` (seconds, inclusive).

        Reads serverTime first; `end_time` None means up to the latest closed bucket. Pages of
        up to 1000 (spot) / 1500 (futures) rows until the range is covered or a page comes back
        short. Rows not closed by serverTime are dropped, rows breaking the candle rules are
        counted in `rejected` and skipped. With `on_page`, each non-empty page is awaited there
        (store page by page) and `candles` stays empty.
        """
        server_ms = await self.server_time(series.market)
        return await self._fetch(series, server_ms, start_time * 1000, end_time, on_page)

    async def fetch_latest_closed(
        self, series: SeriesId, count: int, *, on_page: OnPage | None = None
    ) -> ClosedRange:
        """The newest `count` closed buckets by the exchange clock (a bootstrap)."""
        if count < 1:
            raise ValueError("count must be >= 1")
        server_ms = await self.server_time(series.market)
        tf_ms = series.tf * 1000
        start_ms = _last_closed_open(server_ms, tf_ms) - (count - 1) * tf_ms
        return await self._fetch(series, server_ms, max(0, start_ms), None, on_page)

    async def _fetch(
        self,
        series: SeriesId,
        server_ms: int,
        start_ms: int,
        end_time: int | None,
        on_page: OnPage | None,
    ) -> ClosedRange:
        if series.timeframe not in KLINE_INTERVALS:
            raise ValueError(f"{series.timeframe} is not a Binance kline interval")
        market, tf_ms = series.market, series.tf * 1000
        limit = self.endpoints.klines_limit(market)
        # Never ask for buckets that cannot have closed yet by the exchange's clock.
        end_ms = _last_closed_open(server_ms, tf_ms)
        if end_time is not None:
            end_ms = min(end_ms, end_time * 1000)
        kept: list[Candle] = []
        pages = delivered = dropped = rejected = 0
        cursor = start_ms
        while cursor <= end_ms:
            rows = await self.klines(
                market, series.symbol, series.timeframe, start_ms=cursor, end_ms=end_ms, limit=limit
            )
            pages += 1
            page: list[Candle] = []
            for row in rows:
                try:
                    candle, close_ms = parse_kline_row(row, series.tf)
                except KlineRejected:
                    rejected += 1
                    continue
                except KlineParseError as exc:
                    raise ExchangeMalformed(f"klines row: {exc.message}") from None
                if close_ms >= server_ms:
                    dropped += 1
                elif cursor <= candle.candle_time * 1000 <= end_ms:
                    page.append(candle)
            if page:
                delivered += len(page)
                if on_page is not None:
                    await on_page(page)
                else:
                    kept.extend(page)
            if len(rows) < limit:
                break
            last_open = rows[-1][0]
            if not isinstance(last_open, int) or last_open < cursor:
                raise ExchangeMalformed("klines: a full page did not move forward")
            cursor = last_open + tf_ms
        return ClosedRange(tuple(kept), server_ms, pages, delivered, dropped, rejected)

    async def exchange_info(self, market: str) -> dict[str, Any]:
        """The market's `exchangeInfo` document (has a `symbols` list)."""
        body = await self.get_json(market, "exchangeInfo")
        if not isinstance(body, dict) or not isinstance(body.get("symbols"), list):
            raise ExchangeMalformed("exchangeInfo: no symbols list")
        return body

    async def tickers_24hr(self, market: str) -> list[dict[str, Any]]:
        """Every symbol's rolling 24 h ticker (`ticker/24hr` without a symbol)."""
        body = await self.get_json(market, "ticker/24hr")
        if not isinstance(body, list) or not all(isinstance(t, dict) for t in body):
            raise ExchangeMalformed("ticker/24hr: not a list of objects")
        return body


def _last_closed_open(server_ms: int, tf_ms: int) -> int:
    """Open time of the newest bucket whose close time `open + tf - 1` is before `server_ms`."""
    return (server_ms - tf_ms) // tf_ms * tf_ms
