"""Binance JSON shapes for simulated candles, tickers and symbol lists (decimals as strings)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from canvas.simexchange.listings import Listing, SymbolSpec
from canvas.simexchange.market import Bar, quote_units

# Binance spot writes every decimal with 8 places; futures uses the symbol's own precision.
SPOT_DECIMALS = 8
QUOTE_DECIMALS = 8


def decimal_string(units: int, decimals: int, places: int) -> str:
    """`units * 10**-decimals` written with exactly `places` decimals (truncated, not rounded)."""
    sign = "-" if units < 0 else ""
    units = abs(units)
    if places < decimals:
        units //= 10 ** (decimals - places)
    else:
        units *= 10 ** (places - decimals)
    if places == 0:
        return f"{sign}{units}"
    digits = str(units).rjust(places + 1, "0")
    return f"{sign}{digits[:-places]}.{digits[-places:]}"


class Formats:
    """How one symbol's numbers are written on one market."""

    def __init__(self, spec: SymbolSpec, market: str) -> None:
        self.spec = spec
        self.price_places = SPOT_DECIMALS if market == "spot" else spec.price_decimals
        self.volume_places = SPOT_DECIMALS if market == "spot" else spec.volume_decimals
        # Roughly a million trades a day, whatever the symbol's volume units.
        self.units_per_trade = max(1, spec.daily_volume_units // 1_000_000)

    def price(self, units: int) -> str:
        return decimal_string(units, self.spec.price_decimals, self.price_places)

    def volume(self, units: int) -> str:
        return decimal_string(units, self.spec.volume_decimals, self.volume_places)

    def quote(self, units: int) -> str:
        spec = self.spec
        return decimal_string(units, spec.price_decimals + spec.volume_decimals, QUOTE_DECIMALS)

    def trades(self, bar: Bar) -> int:
        return -(-bar.volume // self.units_per_trade)


def kline_row(bar: Bar, interval_ms: int, fmt: Formats) -> list[Any]:
    """A REST kline row `[open_ms, o, h, l, c, v, close_ms, quote_v, trades, tbb, tbq, "0"]`."""
    taker = bar.volume // 2
    taker_quote = quote_units(Bar(bar.open_ms, bar.open, bar.high, bar.low, bar.close, taker))
    return [
        bar.open_ms,
        fmt.price(bar.open),
        fmt.price(bar.high),
        fmt.price(bar.low),
        fmt.price(bar.close),
        fmt.volume(bar.volume),
        bar.open_ms + interval_ms - 1,
        fmt.quote(quote_units(bar)),
        fmt.trades(bar),
        fmt.volume(taker),
        fmt.quote(taker_quote),
        "0",
    ]


def kline_event(
    bar: Bar, interval: str, interval_ms: int, fmt: Formats, *, event_ms: int, closed: bool
) -> dict[str, Any]:
    """A `<symbol>@kline_<interval>` stream message, values identical to `kline_row`."""
    row = kline_row(bar, interval_ms, fmt)
    symbol = fmt.spec.symbol
    # Trade ids only need to be plausible and increasing: derive them from the bucket.
    first_trade = bar.open_ms // 1000
    return {
        "e": "kline",
        "E": event_ms,
        "s": symbol,
        "k": {
            "t": row[0],
            "T": row[6],
            "s": symbol,
            "i": interval,
            "f": first_trade,
            "L": first_trade + max(0, row[8] - 1),
            "o": row[1],
            "c": row[4],
            "h": row[2],
            "l": row[3],
            "v": row[5],
            "n": row[8],
            "x": closed,
            "q": row[7],
            "V": row[9],
            "Q": row[10],
            "B": "0",
        },
    }


def ticker_24hr(day: Bar, quote: int, fmt: Formats, now_ms: int) -> dict[str, Any]:
    """One `/ticker/24hr` entry for the rolling day `day` with quote volume `quote`."""
    change = day.close - day.open
    percent = change * 100 / day.open if day.open else 0.0
    average = quote // day.volume if day.volume else day.close
    return {
        "symbol": fmt.spec.symbol,
        "priceChange": fmt.price(change),
        "priceChangePercent": f"{percent:.3f}",
        "weightedAvgPrice": fmt.price(average),
        "lastPrice": fmt.price(day.close),
        "openPrice": fmt.price(day.open),
        "highPrice": fmt.price(day.high),
        "lowPrice": fmt.price(day.low),
        "volume": fmt.volume(day.volume),
        "quoteVolume": fmt.quote(quote),
        "openTime": day.open_ms,
        "closeTime": now_ms,
        "count": fmt.trades(day),
    }


def exchange_info(market: str, listings: Iterable[Listing], now_ms: int) -> dict[str, Any]:
    """The `/exchangeInfo` document for one market."""
    symbols = []
    for listing in listings:
        spec = listing.spec
        row: dict[str, Any] = {
            "symbol": spec.symbol,
            "status": listing.status,
            "baseAsset": spec.base_asset,
            "quoteAsset": spec.quote_asset,
        }
        if market == "spot":
            row |= {
                "baseAssetPrecision": SPOT_DECIMALS,
                "quoteAssetPrecision": SPOT_DECIMALS,
                "isSpotTradingAllowed": listing.status == "TRADING",
            }
        else:
            row |= {
                "pair": spec.base_asset + spec.quote_asset,
                "contractType": listing.contract_type or "",
                "marginAsset": spec.quote_asset,
                "pricePrecision": spec.price_decimals,
                "quantityPrecision": spec.volume_decimals,
            }
        symbols.append(row)
    return {
        "timezone": "UTC",
        "serverTime": now_ms,
        "rateLimits": [],
        "exchangeFilters": [],
        "symbols": symbols,
    }
