"""The simulated exchange's symbols: price scale, volume scale and listing status per market."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Sequence

import attrs

MARKETS = ("spot", "futures")
QUOTE_ASSETS = ("USDT", "USDC", "FDUSD", "BTC", "ETH", "BNB")
DEFAULT_SYMBOLS = ("BTCUSDT", "ETHUSDT", "BNBUSDT", "SOLUSDT", "XRPUSDT", "DOGEUSDT")

# Rough real-world magnitudes so charts and top-market lists look plausible:
# base asset → (USD price, price decimals, volume decimals, daily volume in base units).
_KNOWN_ASSETS: dict[str, tuple[float, int, int, float]] = {
    "BTC": (65_000.0, 2, 5, 25_000.0),
    "ETH": (3_200.0, 2, 4, 400_000.0),
    "BNB": (600.0, 2, 3, 1_500_000.0),
    "SOL": (150.0, 2, 2, 9_000_000.0),
    "XRP": (0.6, 4, 1, 2_000_000_000.0),
    "DOGE": (0.15, 5, 0, 6_000_000_000.0),
}
_STABLE = ("USDT", "USDC", "FDUSD")


@attrs.frozen
class SymbolSpec:
    """How one symbol's prices and volumes are generated and written.

    Prices are integers in units of `10**-price_decimals`, volumes in units of
    `10**-volume_decimals`; integer arithmetic keeps roll-ups exact.
    """

    symbol: str
    base_asset: str
    quote_asset: str
    base_price: float
    price_decimals: int
    volume_decimals: int
    daily_volume: float

    @property
    def base_price_units(self) -> int:
        return max(1, round(self.base_price * 10.0**self.price_decimals))

    @property
    def daily_volume_units(self) -> int:
        return max(1, round(self.daily_volume * 10.0**self.volume_decimals))


@attrs.frozen
class Listing:
    """One row of a market's exchangeInfo; `contract_type` is None on spot."""

    spec: SymbolSpec
    status: str = "TRADING"
    contract_type: str | None = None

    @property
    def symbol(self) -> str:
        return self.spec.symbol


@attrs.frozen
class Listings:
    """Every listed symbol, per market, in exchangeInfo order."""

    by_market: dict[str, tuple[Listing, ...]]

    def find(self, market: str, symbol: str) -> Listing | None:
        """The listing of `symbol` (exchange spelling, e.g. BTCUSDT) on `market`, or None."""
        for listing in self.by_market.get(market, ()):
            if listing.symbol == symbol:
                return listing
        return None

    def symbols(self, market: str) -> tuple[str, ...]:
        return tuple(listing.symbol for listing in self.by_market.get(market, ()))


def _unit_hash(*key: object) -> float:
    digest = hashlib.blake2b(repr(key).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def split_symbol(text: str) -> tuple[str, str]:
    """`BTC/USDT` or `BTCUSDT` → ("BTC", "USDT"). Raises ValueError when no quote is recognised."""
    text = text.strip().upper()
    if "/" in text:
        base, _, quote = text.partition("/")
        if base.isalnum() and quote.isalnum():
            return base, quote
        raise ValueError(f"bad symbol {text!r}")
    for quote in QUOTE_ASSETS:
        if text.endswith(quote) and len(text) > len(quote) and text.isalnum():
            return text[: -len(quote)], quote
    raise ValueError(f"cannot split {text!r} into base and quote (quotes: {QUOTE_ASSETS})")


def _usd_price(asset: str) -> float:
    if asset in _STABLE:
        return 1.0
    if asset in _KNOWN_ASSETS:
        return _KNOWN_ASSETS[asset][0]
    # Unknown assets get a stable pseudo-random price between 0.01 and 1000.
    return 10 ** (-2 + 5 * _unit_hash("price", asset))


def symbol_spec(base: str, quote: str, symbol: str | None = None) -> SymbolSpec:
    """The generation parameters for `base`/`quote`, listed as `symbol` (default base+quote)."""
    price = _usd_price(base) / _usd_price(quote)
    if base in _KNOWN_ASSETS and quote in _STABLE:
        _, price_decimals, volume_decimals, daily_volume = _KNOWN_ASSETS[base]
    else:
        magnitude = math.floor(math.log10(price))
        price_decimals = min(8, max(0, 5 - magnitude))
        volume_decimals = min(8, max(0, magnitude + 1))
        daily_quote = 10 ** (7 + 2 * _unit_hash("volume", base, quote))
        daily_volume = daily_quote / price
    return SymbolSpec(
        symbol or base + quote, base, quote, price, price_decimals, volume_decimals, daily_volume
    )


def build_listings(symbols: Sequence[str], *, extras: bool = True) -> Listings:
    """Both markets list `symbols` as TRADING (futures as PERPETUAL).

    With `extras`, a few rows that a top-markets filter must drop are added: a spot pair
    with a non-USDT quote, a spot symbol in BREAK, and a futures quarterly contract.
    """
    specs = [symbol_spec(*split_symbol(s)) for s in symbols]
    names = {spec.symbol for spec in specs}
    spot = [Listing(spec) for spec in specs]
    futures = [Listing(spec, contract_type="PERPETUAL") for spec in specs]
    if extras:
        spot += _absent(names, [Listing(symbol_spec("ETH", "BTC"))])
        spot += _absent(names, [Listing(symbol_spec("LUNA", "USDT"), status="BREAK")])
        quarterly = symbol_spec("BTC", "USDT", "BTCUSDT_260626")
        futures.append(Listing(quarterly, contract_type="CURRENT_QUARTER"))
    _reject_duplicates(spot)
    _reject_duplicates(futures)
    return Listings({"spot": tuple(spot), "futures": tuple(futures)})


def _absent(names: set[str], listings: Iterable[Listing]) -> list[Listing]:
    return [listing for listing in listings if listing.symbol not in names]


def _reject_duplicates(listings: list[Listing]) -> None:
    seen: set[str] = set()
    for listing in listings:
        if listing.symbol in seen:
            raise ValueError(f"symbol {listing.symbol} listed twice")
        seen.add(listing.symbol)
