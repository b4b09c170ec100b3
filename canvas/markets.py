"""Pure cores of the top-markets list and stream: parsing, cache, limits, queries (§2.10,
§2.11); the stream's SSE framing is canvas.sse."""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from types import MappingProxyType
from typing import Any, TypeGuard

import attrs

from canvas.errors import CanvasError, RateLimited, UpstreamError
from canvas.schema import Field, Schema

SUPPORTED_EXCHANGE = "binance"
MARKETS = ("spot", "futures")
EXCHANGE_INFO = "exchange_info"
TICKERS = "tickers"
KINDS = (EXCHANGE_INFO, TICKERS)
DEFAULT_TTLS: Mapping[str, float] = MappingProxyType({EXCHANGE_INFO: 3600.0, TICKERS: 10.0})
FORCE_INTERVAL_S = 2.0

Clock = Callable[[], float]


# ---- parsing ------------------------------------------------------------------------------


@attrs.frozen
class SymbolInfo:
    """A tradable symbol from exchangeInfo."""

    base_asset: str
    quote_asset: str


@attrs.frozen
class Ticker:
    """One 24 h ticker whose quote volume is a number; the other figures may be None."""

    symbol: str
    last_price: float | None
    quote_volume: float
    price_change_percent: float | None


@attrs.frozen
class MarketItem:
    """One entry of the top-markets list."""

    exchange: str
    market: str
    base_asset: str
    quote_asset: str
    last_price: float | None
    quote_volume: float
    price_change_percent: float | None

    @property
    def symbol(self) -> str:
        return f"{self.base_asset}/{self.quote_asset}"

    @property
    def symbol_id(self) -> str:
        return f"{self.exchange}:{self.market}:{self.symbol}"

    def as_json(self) -> dict[str, Any]:
        return {
            "exchange": self.exchange,
            "market": self.market,
            "symbol": self.symbol,
            "symbol_id": self.symbol_id,
            "base_asset": self.base_asset,
            "quote_asset": self.quote_asset,
            "last_price": self.last_price,
            "quote_volume": self.quote_volume,
            "price_change_percent": self.price_change_percent,
        }


def to_float(raw: object) -> float | None:
    """A finite float from a JSON number or numeric string (Binance sends strings), else None."""
    if isinstance(raw, bool):
        return None
    if isinstance(raw, (int, float)):
        value = float(raw)
    elif isinstance(raw, str):
        try:
            value = float(raw)
        except ValueError:
            return None
    else:
        return None
    # NaN and infinities are not numbers a chart can use, and JSON cannot carry them.
    return value if math.isfinite(value) else None


def _text(value: object) -> TypeGuard[str]:
    return isinstance(value, str) and value != ""


def parse_exchange_info(raw: object, market: str) -> dict[str, SymbolInfo]:
    """The tradable symbols of an exchangeInfo body, by exchange symbol (`BTCUSDT`).

    Keeps `status == "TRADING"`; for futures also `contractType` empty or `PERPETUAL`. Every
    quote asset is kept, so one cached copy serves all `quote_asset` queries. Raises
    UpstreamError for a body without a `symbols` list.
    """
    symbols = raw.get("symbols") if isinstance(raw, dict) else None
    if not isinstance(symbols, list):
        raise UpstreamError("bad_exchange_info")
    out: dict[str, SymbolInfo] = {}
    for entry in symbols:
        if not isinstance(entry, dict) or entry.get("status") != "TRADING":
            continue
        if market == "futures" and entry.get("contractType") not in (None, "", "PERPETUAL"):
            continue
        name, base, quote = entry.get("symbol"), entry.get("baseAsset"), entry.get("quoteAsset")
        if _text(name) and _text(base) and _text(quote):
            out[name] = SymbolInfo(base, quote)
    return out


def parse_tickers(raw: object) -> tuple[Ticker, ...]:
    """The tickers of a ticker/24hr body whose `quoteVolume` is a number.

    Raises UpstreamError for a body that is not a list.
    """
    if not isinstance(raw, list):
        raise UpstreamError("bad_ticker")
    out: list[Ticker] = []
    for entry in raw:
        if not isinstance(entry, dict):
            continue
        symbol = entry.get("symbol")
        volume = to_float(entry.get("quoteVolume"))
        if not isinstance(symbol, str) or volume is None:
            continue
        out.append(
            Ticker(
                symbol,
                to_float(entry.get("lastPrice")),
                volume,
                to_float(entry.get("priceChangePercent")),
            )
        )
    return tuple(out)


def top_items(
    symbols: Mapping[str, SymbolInfo],
    tickers: Iterable[Ticker],
    *,
    exchange: str,
    market: str,
    quote_asset: str,
    limit: int,
) -> list[MarketItem]:
    """Tradable symbols quoted in `quote_asset`, by quote volume descending, at most `limit`.

    Ties are broken by symbol so the list, and so the SSE change detection, is stable.
    """
    ranked: list[tuple[float, str, MarketItem]] = []
    seen: set[str] = set()
    for t in tickers:
        info = symbols.get(t.symbol)
        if info is None or info.quote_asset != quote_asset or t.symbol in seen:
            continue
        seen.add(t.symbol)
        item = MarketItem(
            exchange,
            market,
            info.base_asset,
            info.quote_asset,
            t.last_price,
            t.quote_volume,
            t.price_change_percent,
        )
        ranked.append((-t.quote_volume, t.symbol, item))
    ranked.sort(key=lambda r: (r[0], r[1]))
    return [r[2] for r in ranked[:limit]]


# ---- cache --------------------------------------------------------------------------------


@attrs.frozen
class MarketData:
    """What one request got: symbols, tickers, and whether it all came from the cache."""

    symbols: Mapping[str, SymbolInfo]
    tickers: tuple[Ticker, ...]
    cached: bool


@attrs.frozen
class _Entry:
    value: Any
    fetched_at: float


@attrs.define(eq=False)
class MarketDataCache:
    """Per-market copies of exchangeInfo (1 h) and tickers (10 s), kept after they expire.

    Sans-IO: `begin` says what to fetch, the caller fetches and reports each outcome on the
    returned `MarketFetch`. Expired copies are kept so an upstream failure can serve them.
    `clock` returns seconds and should be monotonic. Two concurrent requests may both fetch an
    expired kind; the later write wins, which is harmless.
    """

    clock: Clock
    ttls: Mapping[str, float] = DEFAULT_TTLS
    _entries: dict[tuple[str, str], _Entry] = attrs.field(init=False, factory=dict)

    def begin(self, market: str, *, force: bool = False) -> MarketFetch:
        """Start one request: every kind when forced, else the missing or expired ones."""
        now = self.clock()
        due = tuple(
            kind
            for kind in KINDS
            if force or not self._fresh(self._entries.get((market, kind)), kind, now)
        )
        return MarketFetch(self, market, force, due)

    def _fresh(self, entry: _Entry | None, kind: str, now: float) -> bool:
        return entry is not None and now - entry.fetched_at < self.ttls[kind]

    def get(self, market: str, kind: str) -> Any | None:
        """The cached value of any age, or None."""
        entry = self._entries.get((market, kind))
        return None if entry is None else entry.value

    def put(self, market: str, kind: str, value: Any) -> None:
        """Store a freshly fetched (and parsed) value, stamped with the clock."""
        self._entries[(market, kind)] = _Entry(value, self.clock())


@attrs.define(eq=False)
class MarketFetch:
    """One request's pass through the cache.

    ```
    fetch = cache.begin(market, force=force)
    for kind in fetch.due:
        try:
            fetch.fetched(kind, parse(kind, await get(kind)))
        except UpstreamError:
            if not fetch.fall_back(kind):
                raise
    data = fetch.result()
    ```
    """

    cache: MarketDataCache
    market: str
    forced: bool
    due: tuple[str, ...]
    _fetched: set[str] = attrs.field(init=False, factory=set)

    def fetched(self, kind: str, value: Any) -> None:
        """`kind` was fetched and parsed: cache it and use it."""
        self.cache.put(self.market, kind, value)
        self._fetched.add(kind)

    def fall_back(self, kind: str) -> bool:
        """Fetching `kind` failed: True if a stale copy will be served, False if there is none."""
        return self.cache.get(self.market, kind) is not None

    def result(self) -> MarketData:
        """The data to answer with.

        Raises UpstreamError("no_data") if a kind has no copy at all, which only happens when
        `fall_back` returned False and the caller went on anyway.
        """
        symbols = self.cache.get(self.market, EXCHANGE_INFO)
        tickers = self.cache.get(self.market, TICKERS)
        if symbols is None or tickers is None:
            raise UpstreamError("no_data")
        # §2.10: cached only when nothing was fetched for this request and it was not forced;
        # a stale copy served after a failed fetch still counts as served from cache.
        return MarketData(symbols, tickers, not self.forced and not self._fetched)


@attrs.define(eq=False)
class ForceLimiter:
    """At most one `force=true` per (client IP, market) every `interval` seconds.

    Keys older than `interval` are dropped on each call; beyond `max_keys` live keys the oldest
    is dropped too (that client may then force early), so memory stays bounded under a flood.
    `clock` returns seconds and should be monotonic.
    """

    clock: Clock
    interval: float = FORCE_INTERVAL_S
    max_keys: int = 10_000
    _last: OrderedDict[tuple[str, str], float] = attrs.field(init=False, factory=OrderedDict)

    def allow(self, client_ip: str, market: str) -> bool:
        """True (and the window starts now) if this key may force; a refusal does not reset it."""
        now = self.clock()
        last = self._last
        # Stamps are appended in clock order, so expired keys sit at the front.
        while last:
            oldest, stamp = next(iter(last.items()))
            if now - stamp < self.interval:
                break
            del last[oldest]
        key = (client_ip, market)
        if key in last:
            return False
        last[key] = now
        while len(last) > self.max_keys:
            last.popitem(last=False)
        return True

    def check(self, client_ip: str, market: str) -> None:
        """Like `allow`, but raises RateLimited (429) on refusal."""
        if not self.allow(client_ip, market):
            raise RateLimited

    def __len__(self) -> int:
        return len(self._last)


# ---- responses ----------------------------------------------------------------------------


def top_markets_response(
    query: TopMarketsQuery, items: Iterable[MarketItem], *, generated_at_ms: int, cached: bool
) -> dict[str, Any]:
    """The §2.10 body (also the SSE `top_markets` event data)."""
    return {
        "exchange": query.exchange,
        "market": query.market,
        "quote_asset": query.quote_asset,
        "limit": query.limit,
        "generated_at_ms": generated_at_ms,
        "cached": cached,
        "items": [item.as_json() for item in items],
    }


# ---- query validation ---------------------------------------------------------------------


@attrs.frozen
class TopMarketsQuery:
    """A validated §2.10 query."""

    exchange: str
    market: str
    quote_asset: str
    limit: int
    force: bool


@attrs.frozen
class TopMarketsStreamQuery:
    """A validated §2.11 query; the stream never forces, whatever `query.force` says."""

    query: TopMarketsQuery
    interval_s: float
    max_events: int


TOP_MARKETS_FIELDS = (
    Field("exchange", "string", default=SUPPORTED_EXCHANGE, fold="lower"),
    Field("market", "string", required=True, choices=MARKETS, fold="lower"),
    Field("quote_asset", "string", default="USDT", fold="upper", max_length=12),
    Field("limit", "integer", default=20, lo=1, hi=200),
    Field("force", "boolean", default=False),
)
TOP_MARKETS_QUERY = Schema("query", *TOP_MARKETS_FIELDS)
TOP_MARKETS_STREAM_QUERY = Schema(
    "query",
    *TOP_MARKETS_FIELDS,
    Field("interval_s", "number", default=2.0, lo=0.2, hi=30.0),
    Field("max_events", "integer", default=0, lo=0, hi=1000, description="0 = unlimited"),
)


def _query(values: dict[str, Any]) -> TopMarketsQuery:
    names = ("exchange", "market", "quote_asset", "limit", "force")
    return TopMarketsQuery(*(values[name] for name in names))


def _checked(query: TopMarketsQuery) -> TopMarketsQuery:
    # Malformed parameters (422, raised by the schema) come before the exchange is judged (400).
    if query.exchange != SUPPORTED_EXCHANGE:
        raise CanvasError("unsupported exchange", status=400)
    return query


def parse_top_markets_query(args: Mapping[str, str]) -> TopMarketsQuery:
    """Validate §2.10's query string (first value of each parameter).

    Raises ValidationFailed (422, every problem listed) or CanvasError 400 "unsupported exchange".
    """
    return _checked(_query(TOP_MARKETS_QUERY.parse(args)))


def parse_top_markets_stream_query(args: Mapping[str, str]) -> TopMarketsStreamQuery:
    """Validate §2.11's query string: §2.10's plus `interval_s` and `max_events`."""
    values = TOP_MARKETS_STREAM_QUERY.parse(args)
    return TopMarketsStreamQuery(
        _checked(_query(values)), values["interval_s"], values["max_events"]
    )
