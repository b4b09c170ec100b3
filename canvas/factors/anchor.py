"""Anchor factor: the pen that currently dominates, and its switches (ZHONGSHU-ANCHOR §2).

The read-side helpers (history de-duplication, the read-time override) are shared by the
slice (§2.4) and the overlay (§3), which apply them to their own windows.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import ClassVar

import attrs

from canvas.factors.base import NO_EVENTS, AnalyticsParams, Bar, FactorEvent, Json

CONFIRMED = "confirmed"
CANDIDATE = "candidate"
ZHONGSHU_ENTRY = "zhongshu_entry"
STRONG_PEN = "strong_pen"
# Within one candle a zhongshu_entry switch is always emitted before a strong_pen one (§2.2);
# the ledger keeps no insertion order, so readers sort by this rank.
_REASON_RANK = {ZHONGSHU_ENTRY: 0, STRONG_PEN: 1}


def ref(kind: str, leg: Json) -> Json:
    """A pointer to a pen or leg: `{"kind","start_time","end_time","direction"}`."""
    return {
        "kind": kind,
        "start_time": leg["start_time"],
        "end_time": leg["end_time"],
        "direction": leg["direction"],
    }


def strength(leg: Json) -> float:
    return abs(leg["end_price"] - leg["start_price"])


def _switch(t: int, reason: str, old: Json | None, new: Json) -> FactorEvent:
    if reason == ZHONGSHU_ENTRY:
        key = f"{reason}:{t}:{new['start_time']}:{new['end_time']}:{new['direction']}"
    else:
        key = (
            f"{reason}:{t}:{new['kind']}:{new['start_time']}:{new['end_time']}:{new['direction']}"
        )
    payload = {
        "switch_time": t,
        "reason": reason,
        "old_anchor": old,
        "new_anchor": new,
        "visible_time": t,
    }
    return FactorEvent("anchor", "switch", key, t, payload)


def switch_order(p: Json) -> tuple[int, int, int]:
    """Emission order of switch payloads: (visible_time, switch_time, reason rank)."""
    return (p["visible_time"], p["switch_time"], _REASON_RANK.get(p["reason"], 2))


def dedup_switches(switches: Iterable[Json]) -> list[Json]:
    """§2.4 history: per switch_time the last switch (at the first one's place), then only
    the first switch per `new_anchor.start_time`. Input in any order."""
    by_time: dict[int, Json] = {}
    for p in sorted(switches, key=switch_order):
        by_time[p["switch_time"]] = p  # dicts keep the first insertion's position
    seen: set[int] = set()
    out = []
    for p in by_time.values():
        start = p["new_anchor"]["start_time"]
        if start not in seen:
            seen.add(start)
            out.append(p)
    return out


def same_leg(a: Json, leg: Json | None) -> bool:
    """Whether a ref and a leg (or pen) have the same start, end and direction."""
    return (
        leg is not None
        and a["start_time"] == leg["start_time"]
        and a["end_time"] == leg["end_time"]
        and a["direction"] == leg["direction"]
    )


def current_strength(current: Json, pen_head: Json, pens: Sequence[Json]) -> float:
    """§2.4 s_cur: the matching head leg's strength, else the window pen with the same start
    and direction and the latest end, else -1."""
    for name in ("extending", "candidate"):
        leg = pen_head.get(name)
        if same_leg(current, leg):
            return strength(leg)
    best: Json | None = None
    for pen in pens:
        if pen["start_time"] == current["start_time"] and pen["direction"] == current["direction"]:
            if best is None or pen["end_time"] >= best["end_time"]:
                best = pen
    return -1.0 if best is None else strength(best)


def override(
    current: Json | None, leg: Json | None, pen_head: Json, pens: Sequence[Json]
) -> Json | None:
    """§2.4 read-time override of `current` by the candidate `leg` (None: no override)."""
    if leg is None:
        return current
    c = ref(CANDIDATE, leg)
    if (
        current is None
        or c["start_time"] == current["start_time"]
        or strength(leg) > current_strength(current, pen_head, pens)
    ):
        return c
    return current


def last_pen(pens: Sequence[Json]) -> Json | None:
    """The last confirmed pen of a window, in (visible_time, start_time) order."""
    if not pens:
        return None
    return max(pens, key=lambda p: (p["visible_time"], p["start_time"]))


@attrs.define(eq=False)
class AnchorFactor:
    """§2.2 with the state carried from candle to candle (§2.3, normative): `current` and
    `strength` only change as the per-tick steps say, whatever the batching."""

    NAME: ClassVar[str] = "anchor"
    DEPENDS: ClassVar[tuple[str, ...]] = ("pen", "zhongshu")
    LOGIC_VERSION: ClassVar[int] = 1
    # Its keys start with the switch reason, not the kind.
    EVENT_KIND: ClassVar[str] = "switch"

    current: Json | None = None
    strength: float | None = None
    # The last confirmed pen's [end_time, end_price, direction]: where the candidate leg starts.
    last: list | None = None

    @classmethod
    def create(cls, params: AnalyticsParams, tf: int) -> AnchorFactor:
        return cls()

    @classmethod
    def restore(cls, params: AnalyticsParams, tf: int, state: Json) -> AnchorFactor:
        return cls(state["current"], state["strength"], state["last"])

    def export_state(self) -> Json:
        return {"current": self.current, "strength": self.strength, "last": self.last}

    def head(self) -> Json:
        return {} if self.current is None else {"current_anchor_ref": self.current}

    def step(
        self, bar: Bar, upstream: Mapping[str, Sequence[FactorEvent]], deps: Mapping[str, object]
    ) -> tuple[Sequence[FactorEvent], Json | None]:
        formed: list[Json] = deps["zhongshu"].formed  # type: ignore[attr-defined]
        pens = upstream.get("pen")
        if not pens and not formed:
            # The common candle: only the candidate leg can act, and only if it outgrew the
            # current strength.
            last = self.last
            if last is None:
                return NO_EVENTS, None
            end = deps["pen"].extreme_after_last_pen(last[2] < 0)  # type: ignore[attr-defined]
            baseline = self.strength
            if end is None or (baseline is not None and abs(end[1] - last[1]) <= baseline):
                return NO_EVENTS, None
        t = bar[0]
        before = self.current
        baseline = self.strength
        best: Json | None = None
        best_s = 0.0
        for ev in pens or ():
            p = ev.payload
            s = strength(p)
            if (baseline is None or s > baseline) and (best is None or s > best_s):
                best, best_s = ref(CONFIRMED, p), s
            self.last = [p["end_time"], p["end_price"], p["direction"]]
        out: list[FactorEvent] = []
        for entry in formed:
            new = ref(CONFIRMED, entry)
            if self.current is None or new["start_time"] != self.current["start_time"]:
                out.append(_switch(t, ZHONGSHU_ENTRY, self.current, new))
            self.current, self.strength = new, strength(entry)
        leg = self._candidate_leg(deps["pen"])
        if leg is not None:
            s = abs(leg[1] - leg[0][1])
            if (baseline is None or s > baseline) and (best is None or s > best_s):
                (start_time, _, direction), end_time = leg[0], leg[2]
                best, best_s = {
                    "kind": CANDIDATE,
                    "start_time": start_time,
                    "end_time": end_time,
                    "direction": -direction,
                }, s
        if best is not None:
            if self.current is None or best["start_time"] != self.current["start_time"]:
                out.append(_switch(t, STRONG_PEN, self.current, best))
            self.current, self.strength = best, best_s
        head = None if self.current == before else self.head()
        return out or NO_EVENTS, head

    def _candidate_leg(self, pen: object) -> tuple[list, float, int] | None:
        """§2.2 step 4: `(last pen, end price, end time)` of the leg from the last confirmed
        pen's end to the most extreme price against it on the later candles."""
        last = self.last
        if last is None:
            return None
        end = pen.extreme_after_last_pen(last[2] < 0)  # type: ignore[attr-defined]
        return None if end is None else (last, end[1], end[0])

    @staticmethod
    def snapshot_view(
        events: Sequence[tuple[str, Json]], head: Json, context: Mapping[str, object], at: int
    ) -> tuple[Json, Json] | None:
        """§2.4: de-duplicated history, and the current anchor with the read-time override
        by the pen head's candidate; omitted without confirmed pens or switches in the window."""
        pen_events, pen_head = context.get("pen", ((), {}))  # type: ignore[misc]
        pens = [p for _, p in pen_events]
        if not pens and not events:
            return None
        history = dedup_switches(p for _, p in events)
        current = head.get("current_anchor_ref")
        if current is None and history:
            current = history[-1]["new_anchor"]
        if current is None:
            pen = last_pen(pens)
            current = None if pen is None else ref(CONFIRMED, pen)
        current = override(current, pen_head.get("candidate"), pen_head, pens)
        anchors = [p["new_anchor"] for p in history]
        return {"anchors": anchors, "switches": history}, {"current_anchor_ref": current}
