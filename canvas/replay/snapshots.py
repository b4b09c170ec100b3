"""Pure one-pass recorder of a replay package's factor snapshots (§7.5 `factor_snapshots`)."""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Mapping, Sequence

import attrs

from canvas.factors.base import Json
from canvas.factors.registry import FACTORS, factor_names
from canvas.factors.slices import build_slices

# A factor event as the package reads it: (visible_time, event_key, payload).
EventRow = tuple[int, str, Json]
# A head snapshot: (candle_time, head); the first one is the head at the package's first bar.
HeadRow = tuple[int, Json]


@attrs.frozen(slots=True)
class SnapshotRecord:
    """One factor's slice at bar `idx`, recorded because it differs from that factor's
    previous record; `snapshot` None means the factor dropped out of the slice there."""

    factor_name: str
    candle_time: int
    idx: int
    snapshot: Json | None

    def as_json(self) -> Json:
        return {
            "factor_name": self.factor_name,
            "candle_time": self.candle_time,
            "snapshot": self.snapshot,
        }


@attrs.define(eq=False)
class _FactorCursor:
    """Where one factor stands in the sweep: its event window `pairs[lo:hi]` and its head."""

    times: list[int]
    pairs: list[tuple[str, Json]]
    heads: Sequence[HeadRow]
    lo: int = 0
    hi: int = 0
    next_head: int = 0
    head: Json = attrs.Factory(dict)
    # The snapshot of the factor's latest record (None: no record yet, or a null record).
    shown: Json | None = None

    def advance(self, t: int, earliest: int) -> bool:
        """Move to bar `t` (events visible in [earliest, t]); answer whether the window's
        events or the head changed. Both ends only move forward, so the sweep is linear."""
        hi = bisect_right(self.times, t, self.hi)
        lo = bisect_left(self.times, earliest, self.lo, max(hi, self.lo))
        moved = hi != self.hi or lo != self.lo
        self.lo, self.hi = lo, hi
        heads = self.heads
        while self.next_head < len(heads) and heads[self.next_head][0] <= t:
            self.head = heads[self.next_head][1]
            self.next_head += 1
            moved = True
        return moved


def _dependencies() -> dict[str, set[str]]:
    """Each factor's dependencies, direct and indirect."""
    out: dict[str, set[str]] = {}
    for f in FACTORS:
        out[f.NAME] = {d for dep in f.DEPENDS for d in (dep, *out[dep])}
    return out


def record_snapshots(
    series_id: str,
    bar_times: Sequence[int],
    span: int,
    events: Mapping[str, Sequence[EventRow]],
    heads: Mapping[str, Sequence[HeadRow]],
) -> list[SnapshotRecord]:
    """Every factor's slice at each bar, kept only where its history or head changed.

    `span` is `window_candles * tf`: the slice at t holds the events with
    `t - span <= visible_time <= t` and the head at t (§4.4). `events` per factor must be in
    visible_time order and cover `[bar_times[0] - span, bar_times[-1]]`; `heads` per factor
    start with the head at the first bar. The slice itself is built by the same function
    the slices route uses, so a recorded snapshot is exactly what that route answers.
    Records come out in bar order, factors in registry order within a bar. A factor whose
    view reads its dependencies (the anchor reads the pen) is re-read when they move.
    """
    names = factor_names()
    upstream = _dependencies()
    # Factors whose slice follows the bar time while their head is non-empty.
    timed = {f.NAME for f in FACTORS if getattr(f, "HEAD_FOLLOWS_TIME", False)}
    cursors: dict[str, _FactorCursor] = {}
    for name in names:
        rows = events.get(name, ())
        cursors[name] = _FactorCursor(
            [r[0] for r in rows], [(r[1], r[2]) for r in rows], heads.get(name, ())
        )
    records: list[SnapshotRecord] = []
    for idx, t in enumerate(bar_times):
        earliest = t - span
        moved = {
            n
            for n in names
            if cursors[n].advance(t, earliest) or idx == 0 or (n in timed and cursors[n].head)
        }
        if not moved:
            continue
        changed = [n for n in names if n in moved or upstream[n] & moved]
        windows = {}
        for n in {*changed, *(d for n in changed for d in upstream[n])}:
            c = cursors[n]
            windows[n] = (c.pairs[c.lo : c.hi], c.head)
        # Only the changed factors' views are built: the zhongshu moves with every bar while
        # a centre is alive, and rebuilding its upstream's views too (every pivot of the
        # window, sorted) was most of a build's time.
        shown = build_slices(series_id, t, windows, only=changed)["snapshots"]
        for name in changed:
            cursor = cursors[name]
            snap = shown.get(name)
            prev = cursor.shown
            if snap is None:
                if prev is not None:
                    records.append(SnapshotRecord(name, t, idx, None))
                    cursor.shown = None
            elif prev is None or snap["history"] != prev["history"] or snap["head"] != prev["head"]:
                records.append(SnapshotRecord(name, t, idx, snap))
                cursor.shown = snap
    return records
