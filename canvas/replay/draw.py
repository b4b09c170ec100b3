"""Pure one-pass timeline of a replay package's drawing: catalog reach and active sets (§5)."""

from __future__ import annotations

import heapq
from collections.abc import Callable, Mapping, Sequence

import attrs

from canvas.factors.base import Json
from canvas.overlay.instructions import MARKER, touches

# A polyline's existence changes: (visible_time, present); the first one may precede the
# package's first bar (the state it starts in).
PresenceRow = tuple[int, bool]


@attrs.frozen
class DrawTimeline:
    """The drawing of a package, bar by bar.

    `visible[idx]` is how many entries of the catalog (in visible order) are visible at bar
    idx; `checkpoints[idx]` the sorted active set at each requested idx; `diffs[idx]` the
    sorted `(add_ids, remove_ids)` at each idx > 0 whose active set differs from idx - 1.
    """

    visible: list[int]
    checkpoints: dict[int, list[str]]
    diffs: dict[int, tuple[list[str], list[str]]]


@attrs.define(eq=False)
class _Polyline:
    """One polyline's existence, swept forward through its presence rows."""

    rows: Sequence[PresenceRow]
    next: int = 0
    present: bool = False
    active: bool = False

    def advance(self, t: int) -> bool:
        rows = self.rows
        while self.next < len(rows) and rows[self.next][0] <= t:
            self.present = rows[self.next][1]
            self.next += 1
        return self.present


def draw_timeline(
    bar_times: Sequence[int],
    span: int,
    catalog: Sequence[Json],
    presence: Mapping[str, Sequence[PresenceRow]],
    checkpoint_at: Callable[[int], bool],
) -> DrawTimeline:
    """Sweep the bars once, tracking which instructions §5 calls active at each bar.

    `catalog` holds §5 patch entries ordered by (visible_time, version_id): the latest
    version of each instruction visible at the first bar, then every later version up to
    the last bar. At bar t with `lo = t - span`: a marker is active once visible while its
    time lies in [lo, t]; a polyline while it exists (its latest presence row says so) and
    its latest definition has a point in [lo, t].
    """
    visible: list[int] = []
    checkpoints: dict[int, list[str]] = {}
    diffs: dict[int, tuple[list[str], list[str]]] = {}
    latest: dict[str, Json] = {}
    polylines = {iid: _Polyline(rows) for iid, rows in sorted(presence.items())}
    active: set[str] = set()
    # Active markers by time: they leave the window oldest first as lo moves forward.
    leaving: list[tuple[int, str]] = []
    pos, count = 0, len(catalog)
    for idx, t in enumerate(bar_times):
        lo = t - span
        added: set[str] = set()
        removed: set[str] = set()
        while pos < count and catalog[pos]["visible_time"] <= t:
            entry = catalog[pos]
            pos += 1
            iid = entry["instruction_id"]
            latest[iid] = entry
            # A marker's time is its pivot's time, which precedes the pivot's visible_time,
            # so a marker never waits for its time to come: it is in the window now or never.
            if entry["kind"] == MARKER and iid not in active:
                when = entry["definition"]["time"]
                if lo <= when <= t:
                    active.add(iid)
                    added.add(iid)
                    heapq.heappush(leaving, (when, iid))
        while leaving and leaving[0][0] < lo:
            _, iid = heapq.heappop(leaving)
            active.discard(iid)
            removed.add(iid)
        for iid, line in polylines.items():
            entry = latest.get(iid)
            on = line.advance(t) and entry is not None and touches(entry["definition"], lo, t)
            if on != line.active:
                line.active = on
                if on:
                    active.add(iid)
                    added.add(iid)
                else:
                    active.discard(iid)
                    removed.add(iid)
        visible.append(pos)
        if idx > 0 and (added or removed):
            add_ids, remove_ids = sorted(added - removed), sorted(removed - added)
            if add_ids or remove_ids:
                diffs[idx] = (add_ids, remove_ids)
        if checkpoint_at(idx):
            checkpoints[idx] = sorted(active)
    return DrawTimeline(visible, checkpoints, diffs)
