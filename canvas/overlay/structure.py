"""Pure derivation of the zhongshu and anchor drawings at one candle (ZHONGSHU-ANCHOR §3)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

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
    one of the bars' times."""
    core = ZhongshuCore()
    i, n = 0, len(pens)
    for t, high, low in bars:
        while i < n and pens[i]["visible_time"] == t:
            core.pen_step(pens[i])
            i += 1
        core.candle_step(t, high, low)
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


def resolve(anchor: Json, pen_head: Json, pens: Sequence[Json]) -> tuple[list[Json], bool] | None:
    """The points of an anchor ref and whether they are dashed: the pen head's candidate or
    extending leg for a `candidate` ref equal to it, else the window pen with the exact
    (start, end, direction), else the latest one with the same (start, direction)."""
    if anchor["kind"] != CONFIRMED:
        for name in ("candidate", "extending"):
            leg = pen_head.get(name)
            if same_leg(anchor, leg):
                return leg_points(leg), True
    exact: Json | None = None
    latest: Json | None = None
    for pen in pens:
        if pen["start_time"] != anchor["start_time"] or pen["direction"] != anchor["direction"]:
            continue
        if pen["end_time"] == anchor["end_time"]:
            exact = pen
        if latest is None or (pen["visible_time"], pen["end_time"]) >= (
            latest["visible_time"],
            latest["end_time"],
        ):
            latest = pen
    pen = exact if exact is not None else latest
    return None if pen is None else (leg_points(pen), False)


def anchor_lines(
    pens: Sequence[Json], switches: Iterable[Json], pen_head: Json
) -> list[tuple[str, Json]]:
    """`anchor.current` then the `anchor.history` polylines, from the window's confirmed
    pens and switches and the pen head at the candle. When the head has no candidate leg,
    its extending leg (the §2.2 step-4 leg from the last confirmed pen) stands in for it in
    the override; a leg whose end equals its start cannot change the outcome, because a ref
    that it would replace or be replaced by resolves to no points either way."""
    history = dedup_switches(switches)
    if history:
        current: Json | None = history[-1]["new_anchor"]
    else:
        pen = last_pen(pens)
        current = None if pen is None else ref(CONFIRMED, pen)
    leg = pen_head.get("candidate") or pen_head.get("extending")
    current = override(current, leg, pen_head, pens)
    out: list[tuple[str, Json]] = []
    if current is not None:
        resolved = resolve(current, pen_head, pens)
        if resolved is not None:
            out.append((ANCHOR_CURRENT, anchor_polyline(ANCHOR_CURRENT, *resolved)))
    for switch in history:
        anchor = switch["new_anchor"]
        if current is not None and anchor["start_time"] == current["start_time"]:
            continue
        resolved = resolve(anchor, pen_head, pens)
        if resolved is not None:
            out.append((history_id(switch), anchor_polyline(HISTORY, resolved[0], False)))
    return out
