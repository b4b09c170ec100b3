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


# The replay's state after each pen tick of the window: `(tick time, core.export_state())`.
Ticks = list[tuple[int, Json]]
_time = itemgetter(0)


def tick_state(core: ZhongshuCore) -> Json:
    """The part of the core's state that can still change what it does, for comparing two
    replays. Every read of the tail follows an append and reaches back three pens, so only
    the last two pens (and whether there are two) matter. The floor only stops a seed whose
    entry pen starts before it, and entries from now on start no earlier than the
    second-last pen (pens are chained), so a floor at or before that pen's start is moot."""
    state = core.export_state()
    tail = state["tail"]
    if len(tail) > 2:
        state["tail"] = tail = tail[-2:]
    if len(tail) == 2 and state["floor"] <= tail[0]["start_time"]:
        state["floor"] = 0
    return state


def replay_zhongshu(
    pens: Sequence[Json], bars: Iterable[tuple[int, float, float]], known: Sequence = ()
) -> tuple[ZhongshuCore | None, Ticks]:
    """§1.2 from scratch over a window: `pens` by visible_time (chain order within a
    candle), `bars` the window's `(time, high, low)` in order. Every pen's visible_time is
    one of the bars' times. Answers the core after the last bar and its state after each
    pen tick.

    Only pen ticks and the candles of a pending formation do anything; other candles only
    stretch an alive zhongshu to their time, so the replay jumps over them (it runs on every
    pen that leaves a long window). `known` holds the tick states of an earlier replay over
    the same bars that started at an earlier pen: the core is a pure function of its state
    and the input, so once a tick's state equals the known one the rest of the replay is
    the earlier one's. It then stops and answers None for the core (the earlier one holds)
    and the tick states computed up to there.
    """
    core = ZhongshuCore()
    ticks: Ticks = []
    rows = list(bars)
    i, n = 0, len(pens)
    k = bisect_left(rows, pens[0]["visible_time"], key=_time) if pens else len(rows)
    while k < len(rows):
        t, high, low = rows[k]
        tick = i < n and pens[i]["visible_time"] == t
        while i < n and pens[i]["visible_time"] == t:
            core.pen_step(pens[i])
            i += 1
        core.candle_step(t, high, low)
        if tick:
            state = (t, tick_state(core))
            done = len(ticks) < len(known) and known[len(ticks)] == state
            ticks.append(state)
            if done:
                return None, ticks
        if core.pending is None:
            # Nothing but stretching until the next pen: jump to the candle before it.
            nxt = (
                bisect_left(rows, pens[i]["visible_time"], k + 1, key=_time) if i < n else len(rows)
            )
            if nxt - 1 > k and core.alive is not None:
                core.candle_step(rows[nxt - 1][0], 0.0, 0.0)
            k = max(nxt, k + 1)
        else:
            k += 1
    core.formed = []
    return core, ticks


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


def head_leg(anchor: Json, pen_head: Json) -> Json | None:
    """The pen head's candidate or extending leg that a `candidate` ref points to, if any."""
    if anchor["kind"] != CONFIRMED:
        for name in ("candidate", "extending"):
            leg = pen_head.get(name)
            if same_leg(anchor, leg):
                return leg
    return None


def window_pen(anchor: Json, by_pointer: dict[tuple[int, int], list[Json]]) -> Json | None:
    """The window pen with the ref's exact (start, end, direction), else the latest one with
    the same (start, direction). `by_pointer` holds the window pens by (start_time,
    direction)."""
    same = by_pointer.get((anchor["start_time"], anchor["direction"]))
    if not same:
        return None
    exact = [p for p in same if p["end_time"] == anchor["end_time"]]
    return exact[-1] if exact else max(same, key=lambda p: (p["visible_time"], p["end_time"]))


def resolve(
    anchor: Json, pen_head: Json, by_pointer: dict[tuple[int, int], list[Json]]
) -> tuple[list[Json], bool] | None:
    """The points of an anchor ref and whether they are dashed: its `head_leg`, else its
    `window_pen`."""
    leg = head_leg(anchor, pen_head)
    if leg is not None:
        return leg_points(leg), True
    pen = window_pen(anchor, by_pointer)
    return None if pen is None else (leg_points(pen), False)


@attrs.frozen
class AnchorInputs:
    """What the anchor drawings read from the window besides the pen head, prepared once
    per change of the window's pens or switches: the current anchor before the override,
    the window pens by (start_time, direction), and per de-duplicated history switch its
    anchor, its id and its polyline from the window pens (None when it has no points),
    which a `candidate` anchor equal to a pen head leg overrides."""

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
            pen = window_pen(anchor, by_pointer)
            line = None if pen is None else anchor_polyline(HISTORY, leg_points(pen), False)
            history.append((anchor, history_id(switch), line))
        return cls(current, by_pointer, history)


def anchor_current(inputs: AnchorInputs, pen_head: Json) -> tuple[Json | None, Json | None]:
    """The current anchor at a candle and its `anchor.current` polyline (None when it has no
    points), from the window's `inputs` and the pen head there. When the head has no
    candidate leg, its extending leg (the §2.2 step-4 leg from the last confirmed pen)
    stands in for it in the override; a leg whose end equals its start cannot change the
    outcome, because a ref that it would replace or be replaced by resolves to no points
    either way."""
    current = inputs.current
    by_pointer = inputs.by_pointer
    leg = pen_head.get("candidate") or pen_head.get("extending")
    if leg is not None:
        same = () if current is None else by_pointer.get(
            (current["start_time"], current["direction"]), ()
        )
        current = override(current, leg, pen_head, same)
    if current is None:
        return None, None
    resolved = resolve(current, pen_head, by_pointer)
    return current, None if resolved is None else anchor_polyline(ANCHOR_CURRENT, *resolved)


def history_lines(inputs: AnchorInputs, pen_head: Json, skip: int | None) -> list[tuple[str, Json]]:
    """The `anchor.history` polylines at a candle: every history anchor that has points,
    except one starting at `skip` (the current anchor's start). Unless a pen head leg
    stands in, these are the very definitions `inputs` holds."""
    out: list[tuple[str, Json]] = []
    for anchor, iid, line in inputs.history:
        if anchor["start_time"] == skip:
            continue
        leg = head_leg(anchor, pen_head)
        if leg is not None:
            line = anchor_polyline(HISTORY, leg_points(leg), False)
        if line is not None:
            out.append((iid, line))
    return out
