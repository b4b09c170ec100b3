"""Binance URLs and names: REST bases and paths per market, kline stream URLs, symbol mapping."""

from __future__ import annotations

import attrs

from canvas.series_id import SeriesId

SPOT_REST_BASE = "https://api.binance.com"
FUTURES_REST_BASE = "https://fapi.binance.com"
SPOT_WS_BASE = "wss://stream.binance.com:9443"
FUTURES_WS_BASE = "wss://fstream.binance.com"

MARKETS = ("spot", "futures")
# Intervals Binance streams and serves that are also Canvas timeframes (CONTRACT §8).
KLINE_INTERVALS = ("1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "8h", "12h", "1d", "3d")
KLINES_MAX_LIMIT = {"spot": 1000, "futures": 1500}
_API_PREFIX = {"spot": "/api/v3", "futures": "/fapi/v1"}


def rest_symbol(symbol: str) -> str:
    """`BTC/USDT:USDT` → `BTCUSDT`: the part before any `:`, without the `/`."""
    return symbol.split(":")[0].replace("/", "")


def stream_symbol(symbol: str) -> str:
    """`BTC/USDT:USDT` → `btcusdt`, as used in stream names."""
    return rest_symbol(symbol).lower()


def check_market(market: str) -> str:
    """`market` itself when it is `spot` or `futures`; ValueError otherwise."""
    if market not in MARKETS:
        raise ValueError(f"unknown market {market!r}; expected one of {MARKETS}")
    return market


def _base(url: str) -> str:
    return url.rstrip("/")


@attrs.frozen
class BinanceEndpoints:
    """Base URLs for both markets (settings `BINANCE_*_BASE_URL`); defaults are Binance's own."""

    spot_rest: str = attrs.field(default=SPOT_REST_BASE, converter=_base)
    futures_rest: str = attrs.field(default=FUTURES_REST_BASE, converter=_base)
    spot_ws: str = attrs.field(default=SPOT_WS_BASE, converter=_base)
    futures_ws: str = attrs.field(default=FUTURES_WS_BASE, converter=_base)

    def rest_url(self, market: str, endpoint: str) -> str:
        """`("futures", "klines")` → `{futures_rest}/fapi/v1/klines`."""
        base = self.spot_rest if check_market(market) == "spot" else self.futures_rest
        return f"{base}{_API_PREFIX[market]}/{endpoint.lstrip('/')}"

    def kline_stream_url(self, market: str, symbol: str, interval: str) -> str:
        """`{WS_BASE}/ws/{sym}@kline_{interval}`; `symbol` may be `BTC/USDT` or `BTCUSDT`."""
        base = self.spot_ws if check_market(market) == "spot" else self.futures_ws
        if interval not in KLINE_INTERVALS:
            raise ValueError(f"{interval!r} is not a Binance kline interval")
        return f"{base}/ws/{stream_symbol(symbol)}@kline_{interval}"

    def series_stream_url(self, series: SeriesId) -> str:
        """The kline stream of a series (its own timeframe)."""
        return self.kline_stream_url(series.market, series.symbol, series.timeframe)

    @staticmethod
    def klines_limit(market: str) -> int:
        """Most rows one klines request may ask for: spot 1000, futures 1500."""
        return KLINES_MAX_LIMIT[check_market(market)]
