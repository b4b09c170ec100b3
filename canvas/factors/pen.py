"""Pen factor: pens confirmed between alternating effective major pivots, plus its head (§4.3)."""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence
from typing import ClassVar

import attrs

from canvas.factors.base import NO_EVENTS, AnalyticsParams, Bar, FactorEvent, Json

# An effective pivot: (pivot_time, pivot_price, is_support).
Pivot = tuple[int, float, bool]
# Running extremes after a pivot:
# [is_support, ext_time, ext_price, cand_time, cand_price, opp_time, opp_price].
# `ext` is the extending end (highest high after a support, lowest low after a resistance,
# earliest bar on ties), `cand` the opposite extreme on the bars strictly after `ext`, and
# `opp` the opposite extreme on all bars after the pivot (the anchor's candidate leg needs
# it when a pen's direction disagrees with its end pivot's kind, e.g. a flat pen).
Tracker = list


def _advance(tr: Tracker, t: int, h: float, lo: float) -> bool:
    """Fold one later bar into a tracker; True when `ext` or `cand` moved."""
    if tr[0]:
        opp = tr[6]
        if opp is None or lo < opp:
            tr[5] = t
            tr[6] = lo
        ext = tr[2]
        if ext is None or h > ext:
            tr[1] = t
            tr[2] = h
            tr[3] = tr[4] = None  # no bar after the new extreme yet
            return True
        cand = tr[4]
        if cand is None or lo < cand:
            tr[3] = t
            tr[4] = lo
            return True
        return False
    opp = tr[6]
    if opp is None or h > opp:
        tr[5] = t
        tr[6] = h
    ext = tr[2]
    if ext is None or lo < ext:
        tr[1] = t
        tr[2] = lo
        tr[3] = tr[4] = None
        return True
    cand = tr[4]
    if cand is None or h > cand:
        tr[3] = t
        tr[4] = h
        return True
    return False


def _leg(start_time: int, end_time: int, start_price: float, end_price: float) -> Json:
    return {
        "start_time": start_time,
        "end_time": end_time,
        "start_price": start_price,
        "end_price": end_price,
        "direction": 1 if end_price > start_price else -1,
    }


@attrs.define(eq=False)
class PenFactor:
    """Incremental pens in O(1) amortised per candle.

    Only the last three effective pivots are ever read, so only they are kept. The head
    depends on `effective[-2]` and the bars after it; rather than rescanning those bars, a
    tracker of running extremes is kept for `effective[-1]` (which becomes `effective[-2]`
    when an opposite pivot is appended) and for `effective[-2]`. A new or replacing pivot
    is always the bar exactly `W_major` candles back (§4.2), so its tracker is seeded from
    a ring of the last `W_major` bars; same-direction majors are more than W apart, so
    that seeding costs O(1) amortised.
    """

    NAME: ClassVar[str] = "pen"
    DEPENDS: ClassVar[tuple[str, ...]] = ("pivot",)
    LOGIC_VERSION: ClassVar[int] = 1

    ring: deque[tuple[int, float, float]]
    effective: list[Pivot] = attrs.Factory(list)
    track_last: Tracker | None = None  # running extremes after effective[-1]
    track_prev: Tracker | None = None  # running extremes after effective[-2]
    confirmed: bool = False  # a pen has been confirmed (effective has reached 3 entries)
    current_head: Json = attrs.Factory(dict)

    @classmethod
    def create(cls, params: AnalyticsParams, tf: int) -> PenFactor:
        return cls(deque(maxlen=params.pivot_window_major))

    @classmethod
    def restore(cls, params: AnalyticsParams, tf: int, state: Json) -> PenFactor:
        f = cls.create(params, tf)
        f.ring.extend((t, h, lo) for t, h, lo in state["ring"])
        f.effective = [(t, p, s) for t, p, s in state["effective"]]
        f.track_last = state["track_last"]
        f.track_prev = state["track_prev"]
        f.confirmed = state["confirmed"]
        f.current_head = state["head"]
        return f

    def export_state(self) -> Json:
        return {
            "ring": [list(b) for b in self.ring],
            "effective": [list(p) for p in self.effective],
            "track_last": None if self.track_last is None else list(self.track_last),
            "track_prev": None if self.track_prev is None else list(self.track_prev),
            "confirmed": self.confirmed,
            "head": self.current_head,
        }

    def head(self) -> Json:
        return self.current_head

    def step(
        self, bar: Bar, upstream: Mapping[str, Sequence[FactorEvent]], deps: Mapping[str, object]
    ) -> tuple[Sequence[FactorEvent], Json | None]:
        t = bar[0]
        h = bar[2]
        lo = bar[3]
        self.ring.append((t, h, lo))
        if self.track_last is not None:
            _advance(self.track_last, t, h, lo)
        changed = self.track_prev is not None and _advance(self.track_prev, t, h, lo)
        events: Sequence[FactorEvent] = NO_EVENTS
        pivots = upstream.get("pivot")
        if pivots:
            out: list[FactorEvent] = []
            for ev in pivots:
                if ev.kind == "major":
                    changed = self._take_pivot(ev, out) or changed
            if out:
                events = out
        if changed and self.confirmed:
            head = self._build_head()
            if head != self.current_head:
                self.current_head = head
                return events, head
        return events, None

    def _take_pivot(self, ev: FactorEvent, out: list[FactorEvent]) -> bool:
        """Feed one major pivot; True when effective[-2] (the head's start) changed."""
        p = ev.payload
        pivot_time = p["pivot_time"]
        price = p["pivot_price"]
        support = p["direction"] == "support"
        eff = self.effective
        if eff and eff[-1][2] == support:
            last = eff[-1][1]
            if (price < last) if support else (price > last):
                eff[-1] = (pivot_time, price, support)
                self.track_last = self._seed(pivot_time, support)
            return False
        eff.append((pivot_time, price, support))
        self.track_prev = self.track_last
        self.track_last = self._seed(pivot_time, support)
        if len(eff) >= 3:
            (st, sp, _), (et, ep, _) = eff[-3], eff[-2]
            direction = 1 if ep > sp else -1
            payload = {
                "start_time": st,
                "end_time": et,
                "start_price": sp,
                "end_price": ep,
                "direction": direction,
                "visible_time": ev.visible_time,
            }
            key = f"confirmed:{st}:{et}:{direction}"
            out.append(FactorEvent("pen", "confirmed", key, ev.visible_time, payload))
            self.confirmed = True
            if len(eff) > 3:
                del eff[0]
        return True

    def _seed(self, pivot_time: int, support: bool) -> Tracker:
        tr: Tracker = [support, None, None, None, None, None, None]
        for t, h, lo in self.ring:
            if t > pivot_time:
                _advance(tr, t, h, lo)
        return tr

    def extreme_after_last_pen(self, highest: bool) -> tuple[int, float] | None:
        """`(time, price)` of the highest high (or lowest low) on the bars after the last
        confirmed pen's end, earliest on ties; None before a pen or without such a bar."""
        tr = self.track_prev
        if not self.confirmed or tr is None:
            return None
        if tr[0] == highest:  # after a support, `ext` is the highest high
            return None if tr[2] is None else (tr[1], tr[2])
        return None if tr[6] is None else (tr[5], tr[6])

    def _build_head(self) -> Json:
        start_time, start_price, _ = self.effective[-2]
        tr = self.track_prev
        head: Json = {}
        ext = tr[2] if tr is not None else None
        if ext is None or ext == start_price:
            return head
        head["extending"] = _leg(start_time, tr[1], start_price, ext)
        cand = tr[4]
        if cand is not None and cand != ext:
            head["candidate"] = _leg(tr[1], tr[3], ext, cand)
        return head

    @staticmethod
    def snapshot_view(
        events: Sequence[tuple[str, Json]], head: Json, context: Mapping[str, object], at: int
    ) -> tuple[Json, Json] | None:
        """§4.4: confirmed pens by (visible_time, start_time); shown only while one is in the
        window, with the head at the slice time."""
        confirmed = [p for k, p in events if k.startswith("confirmed:")]
        if not confirmed:
            return None
        confirmed.sort(key=lambda p: (p["visible_time"], p["start_time"]))
        return {"confirmed": confirmed}, head
