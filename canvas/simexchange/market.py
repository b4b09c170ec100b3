"""Deterministic random-walk candles, generated top-down so every interval rolls up exactly.

A day's candle comes from a random-access price path; each candle of the chain
1d → 4h → 1h → 15m → 5m → 1m → 1s is split into children whose open, high, low, close and
volume roll up *exactly* (integer units) to their parent. Other Binance intervals (3m, 30m, 2h,
6h, 8h, 12h, 3d) are roll-ups of chain candles. A forming candle at time `now` is the roll-up of
the 1-second leaves that have opened by `now`, so it converges on the closed value.
"""

from __future__ import annotations

import hashlib
import math
import random
from collections import OrderedDict
from collections.abc import Sequence

import attrs

from canvas.simexchange.listings import SymbolSpec

SECOND_MS = 1_000
MINUTE_MS = 60 * SECOND_MS
HOUR_MS = 60 * MINUTE_MS
DAY_MS = 24 * HOUR_MS

INTERVALS_MS: dict[str, int] = {
    "1m": MINUTE_MS,
    "3m": 3 * MINUTE_MS,
    "5m": 5 * MINUTE_MS,
    "15m": 15 * MINUTE_MS,
    "30m": 30 * MINUTE_MS,
    "1h": HOUR_MS,
    "2h": 2 * HOUR_MS,
    "4h": 4 * HOUR_MS,
    "6h": 6 * HOUR_MS,
    "8h": 8 * HOUR_MS,
    "12h": 12 * HOUR_MS,
    "1d": DAY_MS,
    "3d": 3 * DAY_MS,
}

# Lowest level first; each level splits into the one below it.
_CHAIN_MS = (SECOND_MS, MINUTE_MS, 5 * MINUTE_MS, 15 * MINUTE_MS, HOUR_MS, 4 * HOUR_MS, DAY_MS)
_TOP = len(_CHAIN_MS) - 1
_LEVEL = {size: level for level, size in enumerate(_CHAIN_MS)}
# (lattice spacing in days, amplitude of log-price): a few octaves of value noise make a
# walk-like daily path that can be read at any day without walking from an origin.
_OCTAVES = ((1, 0.012), (4, 0.02), (16, 0.04), (64, 0.08), (256, 0.15))
_CACHE_SIZE = 10_000


@attrs.frozen(slots=True)
class Bar:
    """One candle in integer units: prices in `10**-price_decimals`, volume likewise."""

    open_ms: int
    open: int
    high: int
    low: int
    close: int
    volume: int


def rollup(bars: Sequence[Bar]) -> Bar:
    """Open of the first, max high, min low, close of the last, summed volume."""
    return Bar(
        bars[0].open_ms,
        bars[0].open,
        max(b.high for b in bars),
        min(b.low for b in bars),
        bars[-1].close,
        sum(b.volume for b in bars),
    )


def _rng(*key: object) -> random.Random:
    digest = hashlib.blake2b(repr(key).encode(), digest_size=8).digest()
    return random.Random(int.from_bytes(digest, "big"))


def _split(parent: Bar, child_ms: int, count: int, rng: random.Random) -> tuple[Bar, ...]:
    """`count` children that roll up exactly to `parent`."""
    o, c = parent.open, parent.close
    hi, lo = parent.high, parent.low
    walk = [0.0]
    for _ in range(count):
        walk.append(walk[-1] + rng.gauss(0.0, 1.0))
    # A Brownian bridge from open to close, scaled to wander inside [low, high].
    bridge = [walk[j] - walk[count] * j / count for j in range(count + 1)]
    line = [o + (c - o) * j / count for j in range(count + 1)]
    amplitude = max(abs(b) for b in bridge) or 1.0
    scale = (hi - lo) * rng.uniform(0.25, 0.7) / amplitude
    points = [o]
    for j in range(1, count):
        p = line[j] + scale * bridge[j]
        # Reflect off the bounds rather than clamp, so the path does not stick to them.
        if p > hi:
            p = 2 * hi - p
        elif p < lo:
            p = 2 * lo - p
        points.append(min(hi, max(lo, round(p))))
    points.append(c)

    tops = [max(points[j], points[j + 1]) for j in range(count)]
    bottoms = [min(points[j], points[j + 1]) for j in range(count)]
    # The parent's extremes land in the children whose path comes nearest to them.
    at_high = tops.index(max(tops))
    at_low = bottoms.index(min(bottoms))
    weights = [rng.randint(300, 1700) for _ in range(count)]
    total = sum(weights)
    volumes = [parent.volume * w // total for w in weights]
    volumes[-1] += parent.volume - sum(volumes)

    children = []
    for j in range(count):
        high = hi if j == at_high else tops[j] + int((hi - tops[j]) * rng.random() * 0.5)
        low = lo if j == at_low else bottoms[j] - int((bottoms[j] - lo) * rng.random() * 0.5)
        children.append(
            Bar(parent.open_ms + j * child_ms, points[j], high, low, points[j + 1], volumes[j])
        )
    return tuple(children)


@attrs.define(eq=False)
class SimMarket:
    """Candles for any (market, symbol, interval, bucket), the same for a given `seed`.

    Pure and synchronous; recently split candles are cached, so consecutive buckets are cheap.
    """

    seed: int = 0
    _cache: OrderedDict[tuple[object, ...], object] = attrs.field(
        factory=OrderedDict, init=False, repr=False
    )

    def candle(self, spec: SymbolSpec, market: str, interval: str, open_ms: int) -> Bar:
        """The closed candle of the bucket opening at `open_ms`.

        Raises ValueError for an unknown interval or a misaligned or negative `open_ms`.
        """
        size = self._check(interval, open_ms)
        return self._interval_bar(spec, market, size, open_ms, None)

    def candle_at(
        self, spec: SymbolSpec, market: str, interval: str, open_ms: int, now_ms: int
    ) -> Bar:
        """The bucket as seen at `now_ms`: forming while it is open, closed after its end."""
        size = self._check(interval, open_ms)
        if now_ms < open_ms:
            raise ValueError(f"bucket {open_ms} has not opened at {now_ms}")
        forming_at = now_ms if now_ms < open_ms + size else None
        return self._interval_bar(spec, market, size, open_ms, forming_at)

    def rolling_day(self, spec: SymbolSpec, market: str, now_ms: int) -> tuple[Bar, int]:
        """The last 24 hours (23 closed hours and the forming one) and their quote volume.

        Quote volume is in units of `10**-(price_decimals + volume_decimals)`.
        """
        hour = now_ms - now_ms % HOUR_MS
        first = max(0, hour - 23 * HOUR_MS)
        bars = [
            self.candle_at(spec, market, "1h", t, now_ms) for t in range(first, hour + 1, HOUR_MS)
        ]
        return rollup(bars), sum(quote_units(b) for b in bars)

    @staticmethod
    def _check(interval: str, open_ms: int) -> int:
        size = INTERVALS_MS.get(interval)
        if size is None:
            raise ValueError(f"unknown interval {interval!r}")
        if open_ms < 0 or open_ms % size:
            raise ValueError(f"{open_ms} is not the open of a {interval} bucket")
        return size

    def _interval_bar(
        self, spec: SymbolSpec, market: str, size: int, open_ms: int, forming_at: int | None
    ) -> Bar:
        level = _LEVEL.get(size)
        if level is not None:
            if forming_at is None:
                return self._chain_bar(spec, market, level, open_ms)
            return self._forming(spec, market, level, open_ms, forming_at)
        # Not on the chain: roll up the largest chain candles that tile the bucket.
        unit = max(s for s in _CHAIN_MS if size % s == 0)
        unit_level = _LEVEL[unit]
        end = open_ms + size if forming_at is None else forming_at + 1
        parts = []
        for t in range(open_ms, end, unit):
            if forming_at is not None and t + unit > forming_at:
                parts.append(self._forming(spec, market, unit_level, t, forming_at))
                break
            parts.append(self._chain_bar(spec, market, unit_level, t))
        return rollup(parts)

    def _forming(self, spec: SymbolSpec, market: str, level: int, open_ms: int, now: int) -> Bar:
        size = _CHAIN_MS[level]
        if level == 0 or now >= open_ms + size:
            return self._chain_bar(spec, market, level, open_ms)
        child = _CHAIN_MS[level - 1]
        children = self._children(spec, market, level, open_ms)
        index = (now - open_ms) // child
        current = self._forming(spec, market, level - 1, open_ms + index * child, now)
        return rollup((*children[:index], current))

    def _chain_bar(self, spec: SymbolSpec, market: str, level: int, open_ms: int) -> Bar:
        if level == _TOP:
            return self._day(spec, market, open_ms // DAY_MS)
        parent_size = _CHAIN_MS[level + 1]
        parent_open = open_ms - open_ms % parent_size
        children = self._children(spec, market, level + 1, parent_open)
        return children[(open_ms - parent_open) // _CHAIN_MS[level]]

    def _children(self, spec: SymbolSpec, market: str, level: int, open_ms: int) -> tuple[Bar, ...]:
        key = ("split", market, spec.symbol, level, open_ms)
        cached = self._cached(key)
        if cached is not None:
            return cached  # type: ignore[return-value]
        parent = self._chain_bar(spec, market, level, open_ms)
        child = _CHAIN_MS[level - 1]
        rng = _rng(self.seed, *key)
        children = _split(parent, child, _CHAIN_MS[level] // child, rng)
        self._store(key, children)
        return children

    def _day(self, spec: SymbolSpec, market: str, day: int) -> Bar:
        key = ("day", market, spec.symbol, day)
        cached = self._cached(key)
        if cached is not None:
            return cached  # type: ignore[return-value]
        o = self._price(spec, market, day)
        c = self._price(spec, market, day + 1)
        rng = _rng(self.seed, *key)
        top, bottom = max(o, c), min(o, c)
        # One unit of headroom either side keeps every day's range non-empty.
        high = top + round(top * abs(rng.gauss(0.0, 0.008))) + 1
        low = max(1, bottom - round(bottom * abs(rng.gauss(0.0, 0.008))) - 1)
        volume = round(spec.daily_volume_units * rng.uniform(0.6, 1.5))
        bar = Bar(day * DAY_MS, o, high, low, c, volume)
        self._store(key, bar)
        return bar

    def _price(self, spec: SymbolSpec, market: str, day: int) -> int:
        """The price at the start of `day`, in price units."""
        log_price = 0.0
        for spacing, amplitude in _OCTAVES:
            cell, offset = divmod(day, spacing)
            a = self._lattice(spec, market, spacing, cell)
            b = self._lattice(spec, market, spacing, cell + 1)
            log_price += amplitude * (a + (b - a) * offset / spacing)
        return max(1, round(spec.base_price_units * math.exp(log_price)))

    def _lattice(self, spec: SymbolSpec, market: str, spacing: int, cell: int) -> float:
        key = ("lattice", market, spec.symbol, spacing, cell)
        cached = self._cached(key)
        if cached is None:
            cached = _rng(self.seed, *key).gauss(0.0, 1.0)
            self._store(key, cached)
        return cached  # type: ignore[return-value]

    def _cached(self, key: tuple[object, ...]) -> object | None:
        value = self._cache.get(key)
        if value is not None:
            self._cache.move_to_end(key)
        return value

    def _store(self, key: tuple[object, ...], value: object) -> None:
        self._cache[key] = value
        if len(self._cache) > _CACHE_SIZE:
            self._cache.popitem(last=False)


def quote_units(bar: Bar) -> int:
    """Quote volume estimate: volume times the bar's mean price, in product units."""
    return bar.volume * (bar.open + bar.high + bar.low + bar.close) // 4
