"""Pivot factor: major and minor swing highs/lows, each confirmed W candles later (§4.2)."""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence
from typing import ClassVar

import attrs

from canvas.factors.base import NO_EVENTS, AnalyticsParams, Bar, FactorEvent, Json

RESISTANCE = "resistance"
SUPPORT = "support"


def _event(kind: str, pivot_time: int, price: float, direction: str, t: int, w: int) -> FactorEvent:
    payload = {
        "pivot_time": pivot_time,
        "pivot_price": price,
        "direction": direction,
        "visible_time": t,
        "window": w,
    }
    return FactorEvent("pivot", kind, f"{kind}:{pivot_time}:{direction}:{w}", t, payload)


@attrs.define(eq=False)
class PivotFactor:
    """Incremental pivots in O(1) amortised per candle.

    Windows are positional (indices into the series' candle list), so four monotonic deques
    of `(value, index)` slide over the last `2W+1` bars: a major resistance at `i = j-W` is
    exactly "i is the *leftmost* maximum of highs[i-W..i+W]" (strict left, non-strict right),
    which the max-deque answers by keeping equal values (its front is then the earliest
    maximum). Minors allow ties on both sides, so only the window's maximum value matters.
    The gap rule only needs the run of consecutive (gap-free) candles ending at the bar.
    """

    NAME: ClassVar[str] = "pivot"
    DEPENDS: ClassVar[tuple[str, ...]] = ()
    LOGIC_VERSION: ClassVar[int] = 1

    tf: int
    major: int
    minor: int
    n: int = 0  # candles seen; the next candle's positional index
    run: int = 0  # consecutive gap-free candles ending at the last one
    prev_time: int | None = None
    last_major_index: int | None = None
    # Highs/lows of the last `minor + 1` bars, indexed by position modulo that size.
    ring_h: list[float] = attrs.Factory(list)
    ring_l: list[float] = attrs.Factory(list)
    maj_hi: deque[tuple[float, int]] = attrs.Factory(deque)
    maj_lo: deque[tuple[float, int]] = attrs.Factory(deque)
    min_hi: deque[tuple[float, int]] = attrs.Factory(deque)
    min_lo: deque[tuple[float, int]] = attrs.Factory(deque)

    @classmethod
    def create(cls, params: AnalyticsParams, tf: int) -> PivotFactor:
        size = params.pivot_window_minor + 1
        return cls(
            tf,
            params.pivot_window_major,
            params.pivot_window_minor,
            ring_h=[0.0] * size,
            ring_l=[0.0] * size,
        )

    @classmethod
    def restore(cls, params: AnalyticsParams, tf: int, state: Json) -> PivotFactor:
        f = cls.create(params, tf)
        f.n = state["n"]
        f.run = state["run"]
        f.prev_time = state["prev_time"]
        f.last_major_index = state["last_major_index"]
        f.ring_h = list(state["ring_h"])
        f.ring_l = list(state["ring_l"])
        for name in ("maj_hi", "maj_lo", "min_hi", "min_lo"):
            setattr(f, name, deque((v, i) for v, i in state[name]))
        return f

    def export_state(self) -> Json:
        return {
            "n": self.n,
            "run": self.run,
            "prev_time": self.prev_time,
            "last_major_index": self.last_major_index,
            "ring_h": list(self.ring_h),
            "ring_l": list(self.ring_l),
            "maj_hi": [[v, i] for v, i in self.maj_hi],
            "maj_lo": [[v, i] for v, i in self.maj_lo],
            "min_hi": [[v, i] for v, i in self.min_hi],
            "min_lo": [[v, i] for v, i in self.min_lo],
        }

    def head(self) -> Json:
        return {}

    def step(
        self, bar: Bar, upstream: Mapping[str, Sequence[FactorEvent]], deps: Mapping[str, object]
    ) -> tuple[Sequence[FactorEvent], Json | None]:
        t = bar[0]
        h = bar[2]
        lo = bar[3]
        j = self.n
        self.n = j + 1
        prev = self.prev_time
        run = self.run + 1 if prev is not None and t - prev == self.tf else 1
        self.run = run
        self.prev_time = t
        w_maj = self.major
        w_min = self.minor
        size = w_min + 1
        k = j % size
        self.ring_h[k] = h
        self.ring_l[k] = lo

        # Push the bar into the four sliding windows; indices advance by one per candle, so
        # at most the front entry can have left its window.
        gone = j - 2 * w_maj - 1
        dq = self.maj_hi
        while dq and dq[-1][0] < h:
            dq.pop()
        dq.append((h, j))
        if dq[0][1] == gone:
            dq.popleft()
        dq = self.maj_lo
        while dq and dq[-1][0] > lo:
            dq.pop()
        dq.append((lo, j))
        if dq[0][1] == gone:
            dq.popleft()
        gone = j - 2 * w_min - 1
        dq = self.min_hi
        while dq and dq[-1][0] <= h:
            dq.pop()
        dq.append((h, j))
        if dq[0][1] == gone:
            dq.popleft()
        dq = self.min_lo
        while dq and dq[-1][0] >= lo:
            dq.pop()
        dq.append((lo, j))
        if dq[0][1] == gone:
            dq.popleft()

        events: list[FactorEvent] | None = None
        # Major: the bar W back must have a full left window and a gap-free run up to now.
        if run > w_maj and j >= 2 * w_maj:
            i = j - w_maj
            top = self.maj_hi[0]
            bottom = self.maj_lo[0]
            if top[1] == i or bottom[1] == i:
                events = []
                pivot_time = t - w_maj * self.tf
                if top[1] == i:
                    events.append(_event("major", pivot_time, top[0], RESISTANCE, t, w_maj))
                if bottom[1] == i:
                    events.append(_event("major", pivot_time, bottom[0], SUPPORT, t, w_maj))
                self.last_major_index = i
        # Minor: only in the segment after the latest major pivot (positional).
        last_major = self.last_major_index
        if last_major is not None and run > w_min and j - 2 * w_min >= last_major:
            k = (j - w_min) % size
            is_res = self.ring_h[k] >= self.min_hi[0][0]
            is_sup = self.ring_l[k] <= self.min_lo[0][0]
            if is_res or is_sup:
                if events is None:
                    events = []
                pivot_time = t - w_min * self.tf
                if is_res:
                    events.append(_event("minor", pivot_time, self.ring_h[k], RESISTANCE, t, w_min))
                if is_sup:
                    events.append(_event("minor", pivot_time, self.ring_l[k], SUPPORT, t, w_min))
        if events is None:
            return NO_EVENTS, None
        return events, None

    @staticmethod
    def snapshot_view(
        events: Sequence[tuple[str, Json]], head: Json, context: Mapping[str, object], at: int
    ) -> tuple[Json, Json] | None:
        """§4.4: majors and minors by (visible_time, pivot_time, direction); shown only while
        a major is in the window."""
        major = [p for k, p in events if k.startswith("major:")]
        if not major:
            return None
        minor = [p for k, p in events if k.startswith("minor:")]
        order = _pivot_order
        return {"major": sorted(major, key=order), "minor": sorted(minor, key=order)}, {}


def _pivot_order(p: Json) -> tuple[int, int, str]:
    return (p["visible_time"], p["pivot_time"], p["direction"])
