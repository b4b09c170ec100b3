"""The simulator's Binance REST endpoints (spot `/api/v3`, futures `/fapi/v1`), answered purely."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs

from canvas.simexchange.httpserve import HttpRequest, HttpResponse
from canvas.simexchange.listings import MARKETS, Listing, Listings
from canvas.simexchange.market import INTERVALS_MS, SimMarket
from canvas.simexchange.wire import Formats, exchange_info, kline_row, ticker_24hr

API_PREFIX = {"spot": "/api/v3/", "futures": "/fapi/v1/"}
KLINES_LIMIT = {"spot": 1000, "futures": 1500}
DEFAULT_KLINES_LIMIT = 500


class BinanceError(Exception):
    """A request error answered with Binance's `{"code", "msg"}` body."""

    def __init__(self, code: int, msg: str, status: int = 400) -> None:
        super().__init__(msg)
        self.code = code
        self.msg = msg
        self.status = status

    def response(self) -> HttpResponse:
        return HttpResponse.json(self.status, {"code": self.code, "msg": self.msg})


def split_market_prefix(path: str) -> tuple[str | None, str]:
    """`/futures/fapi/v1/time` → ("futures", "/fapi/v1/time"); no prefix → (None, path).

    The simulator serves both markets on one port; a base URL ending in `/spot` or
    `/futures` names the market explicitly, and a mismatched path is a 404.
    """
    for market in MARKETS:
        prefix = f"/{market}"
        if path.startswith(prefix + "/"):
            return market, path[len(prefix) :]
    return None, path


@attrs.frozen
class RestRoutes:
    """Answers market REST requests at a given exchange time."""

    market: SimMarket
    listings: Listings

    def respond(self, request: HttpRequest, now_ms: int) -> HttpResponse:
        """Answer a market request as the exchange would at `now_ms` (404 for other paths)."""
        named, path = split_market_prefix(request.path)
        for market, prefix in API_PREFIX.items():
            if path.startswith(prefix) and named in (None, market):
                endpoint = path[len(prefix) :]
                break
        else:
            return _not_found()
        handler = self._handlers().get(endpoint)
        if handler is None:
            return _not_found()
        if request.method != "GET":
            return HttpResponse.json(405, {"code": -1, "msg": "method not allowed"})
        try:
            return HttpResponse.json(200, handler(market, request.query, now_ms))
        except BinanceError as exc:
            return exc.response()

    def _handlers(self) -> dict[str, Callable[[str, dict[str, str], int], Any]]:
        return {
            "ping": lambda market, query, now: {},
            "time": lambda market, query, now: {"serverTime": now},
            "klines": self._klines,
            "exchangeInfo": self._exchange_info,
            "ticker/24hr": self._ticker_24hr,
        }

    def _klines(self, market: str, query: dict[str, str], now_ms: int) -> list[list[Any]]:
        listing = self._listing(market, query)
        interval = _required(query, "interval")
        size = INTERVALS_MS.get(interval)
        if size is None:
            raise BinanceError(-1120, "Invalid interval.")
        limit = _int_param(query, "limit")
        if limit is None:
            limit = DEFAULT_KLINES_LIMIT
        if not 1 <= limit <= KLINES_LIMIT[market]:
            raise BinanceError(-1130, "Data sent for parameter 'limit' is not valid.")
        start = _int_param(query, "startTime")
        end = _int_param(query, "endTime")
        if start is not None and end is not None and start > end:
            raise BinanceError(-1023, "Start time is greater than end time.")
        # Buckets run up to the one forming now; Binance includes that one.
        last = now_ms - now_ms % size
        if end is not None:
            last = min(last, end - end % size)
        if start is None:
            first = max(0, last - (limit - 1) * size)
        else:
            first = max(0, start + (-start) % size)
        last = min(last, first + (limit - 1) * size)
        fmt = Formats(listing.spec, market)
        return [
            kline_row(self.market.candle_at(listing.spec, market, interval, t, now_ms), size, fmt)
            for t in range(first, last + 1, size)
        ]

    def _exchange_info(self, market: str, query: dict[str, str], now_ms: int) -> dict[str, Any]:
        return exchange_info(market, self.listings.by_market[market], now_ms)

    def _ticker_24hr(self, market: str, query: dict[str, str], now_ms: int) -> Any:
        if "symbol" in query:
            return self._ticker(market, self._listing(market, query), now_ms)
        return [
            self._ticker(market, listing, now_ms) for listing in self.listings.by_market[market]
        ]

    def _ticker(self, market: str, listing: Listing, now_ms: int) -> dict[str, Any]:
        day, quote = self.market.rolling_day(listing.spec, market, now_ms)
        return ticker_24hr(day, quote, Formats(listing.spec, market), now_ms)

    def _listing(self, market: str, query: dict[str, str]) -> Listing:
        listing = self.listings.find(market, _required(query, "symbol"))
        if listing is None:
            raise BinanceError(-1121, "Invalid symbol.")
        return listing


def _required(query: dict[str, str], name: str) -> str:
    value = query.get(name, "")
    if not value:
        raise BinanceError(
            -1102, f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed."
        )
    return value


def _int_param(query: dict[str, str], name: str) -> int | None:
    value = query.get(name)
    if value is None:
        return None
    if not (value.isascii() and value.isdigit()) or len(value) > 20:
        raise BinanceError(
            -1100,
            f"Illegal characters found in parameter '{name}'; legal range is '^[0-9]{{1,20}}$'.",
        )
    return int(value)


def _not_found() -> HttpResponse:
    return HttpResponse.json(404, {"code": -1, "msg": "Not found."})
