"""Pure derivation of the zhongshu and anchor drawings at one candle (ZHONGSHU-ANCHOR §3)."""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable, Sequence
from operator import itemgetter

import attrs

from canvas.factors.anchor import (
    CONFIRMED,
    dedup_switches,
    last_pen,
    override,
    ref,
    same_leg,
)
from canvas.factors.base import Json
from canvas.factors.zhongshu import ZhongshuCore
from canvas.overlay.instructions import (
    ANCHOR_CURRENT,
    anchor_polyline,
    dead_prefix,
    history_id,
    leg_points,
    zhongshu_pair,
)

ALIVE = "zhongshu.alive"
DEAD = "zhongshu.dead"
HISTORY = "anchor.history"


def replay_zhongshu(pens: Sequence[Json], bars: Iterable[tuple[int, float, float]]) -> ZhongshuCore:
    """§1.2 from scratch over a window: `pens` by visible_time (chain order within a
    candle), `bars` the window's `(time, high, low)` in order. Every pen's visible_time is
    one of the bars' times.

    Only pen ticks and the candles of a pending formation do anything; other candles only
    stretch an alive zhongshu to their time, so the replay jumps over them (it runs on every
    pen that leaves a long window).
    """
    core = ZhongshuCore()
    rows = list(bars)
    times = list(map(itemgetter(0), rows))
    i, n = 0, len(pens)
    k = bisect_left(times, pens[0]["visible_time"]) if pens else len(rows)
    while k < len(rows):
        t, high, low = rows[k]
        if i < n and pens[i]["visible_time"] == t:
            while i < n and pens[i]["visible_time"] == t:
                core.pen_step(pens[i])
                i += 1
        core.candle_step(t, high, low)
        if core.pending is None:
            # Nothing but stretching until the next pen: jump to the candle before it.
            nxt = bisect_left(times, pens[i]["visible_time"], k + 1) if i < n else len(rows)
            if nxt - 1 > k and core.alive is not None:
                core.candle_step(times[nxt - 1], 0.0, 0.0)
            k = max(nxt, k + 1)
        else:
            k += 1
    core.formed = []
    return core


def alive_pair(alive: Json | None) -> list[tuple[str, Json]]:
    return [] if alive is None else zhongshu_pair(ALIVE, ALIVE, alive)


def dead_boxes(deads: Iterable[Json], cutoff: int, t: int) -> list[tuple[str, Json]]:
    """The dead boxes of the window's deaths, oldest first (top before bottom)."""
    out: list[tuple[str, Json]] = []
    for p in deads:
        if p["start_time"] <= 0 or p["end_time"] <= 0:
            continue
        if p["end_time"] < cutoff or p["start_time"] > t:
            continue
        out += zhongshu_pair(DEAD, dead_prefix(p), p)
    return out


def _by_pointer(pens: Sequence[Json]) -> dict[tuple[int, int], list[Json]]:
    out: dict[tuple[int, int], list[Json]] = {}
    for pen in pens:
        out.setdefault((pen["start_time"], pen["direction"]), []).append(pen)
    return out


def resolve(
    anchor: Json, pen_head: Json, by_pointer: dict[tuple[int, int], list[Json]]
) -> tuple[list[Json], bool] | None:
    """The points of an anchor ref and whether they are dashed: the pen head's candidate or
    extending leg for a `candidate` ref equal to it, else the window pen with the exact
    (start, end, direction), else the latest one with the same (start, direction).
    `by_pointer` holds the window pens by (start_time, direction)."""
    if anchor["kind"] != CONFIRMED:
        for name in ("candidate", "extending"):
            leg = pen_head.get(name)
            if same_leg(anchor, leg):
                return leg_points(leg), True
    same = by_pointer.get((anchor["start_time"], anchor["direction"]))
    if not same:
        return None
    exact = [p for p in same if p["end_time"] == anchor["end_time"]]
    pen = exact[-1] if exact else max(same, key=lambda p: (p["visible_time"], p["end_time"]))
    return leg_points(pen), False


@attrs.frozen
class AnchorInputs:
    """What the anchor drawings read from the window besides the pen head, prepared once
    per change of the window's pens or switches: the current anchor before the override,
    the window pens by (start_time, direction), and per de-duplicated history switch its id
    and, for a `confirmed` anchor (whose points do not depend on the pen head), its
    polyline (None when it has no points)."""

    current: Json | None
    by_pointer: dict[tuple[int, int], list[Json]]
    history: list[tuple[Json, str, Json | None]]

    @classmethod
    def of(cls, pens: Sequence[Json], switches: Iterable[Json]) -> AnchorInputs:
        switched = dedup_switches(switches)
        if switched:
            current: Json | None = switched[-1]["new_anchor"]
        else:
            pen = last_pen(pens)
            current = None if pen is None else ref(CONFIRMED, pen)
        by_pointer = _by_pointer(pens)
        history = []
        for switch in switched:
            anchor = switch["new_anchor"]
            line = None
            if anchor["kind"] == CONFIRMED:
                resolved = resolve(anchor, {}, by_pointer)
                if resolved is not None:
                    line = anchor_polyline(HISTORY, resolved[0], False)
            history.append((anchor, history_id(switch), line))
        return cls(current, by_pointer, history)


def anchor_lines(inputs: AnchorInputs, pen_head: Json) -> list[tuple[str, Json]]:
    """`anchor.current` then the `anchor.history` polylines at a candle, from the window's
    `inputs` and the pen head there. When the head has no candidate leg, its extending leg
    (the §2.2 step-4 leg from the last confirmed pen) stands in for it in the override; a
    leg whose end equals its start cannot change the outcome, because a ref that it would
    replace or be replaced by resolves to no points either way."""
    current = inputs.current
    by_pointer = inputs.by_pointer
    leg = pen_head.get("candidate") or pen_head.get("extending")
    if leg is not None:
        same = () if current is None else by_pointer.get(
            (current["start_time"], current["direction"]), ()
        )
        current = override(current, leg, pen_head, same)
    out: list[tuple[str, Json]] = []
    if current is not None:
        resolved = resolve(current, pen_head, by_pointer)
        if resolved is not None:
            out.append((ANCHOR_CURRENT, anchor_polyline(ANCHOR_CURRENT, *resolved)))
    skip = None if current is None else current["start_time"]
    for anchor, iid, line in inputs.history:
        if anchor["start_time"] == skip:
            continue
        if anchor["kind"] != CONFIRMED:
            resolved = resolve(anchor, pen_head, by_pointer)
            line = None if resolved is None else anchor_polyline(HISTORY, resolved[0], False)
        if line is not None:
            out.append((iid, line))
    return out
