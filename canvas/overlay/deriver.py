"""The pure incremental overlay: candle by candle, factor output in, new versions out (§5)."""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from functools import partial

import attrs

from canvas.factors.anchor import switch_order
from canvas.factors.base import Bar, FactorEvent, Json
from canvas.factors.zhongshu import ZhongshuCore
from canvas.overlay.instructions import (
    MARKER,
    PEN_CANDIDATE,
    PEN_CONFIRMED,
    PEN_EXTENDING,
    POLYLINE,
    ANCHOR_CURRENT,
    ZHONGSHU_ALIVE_BOTTOM,
    ZHONGSHU_ALIVE_TOP,
    OverlayVersion,
    Presence,
    box_line,
    confirmed_polyline,
    dead_prefix,
    head_polyline,
    history_id,
    marker,
    switch_marker,
    zhongshu_color,
)
from canvas.overlay.structure import (
    ALIVE,
    AnchorInputs,
    alive_pair,
    anchor_current,
    dead_boxes,
    history_lines,
    replay_zhongshu,
    tick_state,
)

NO_VERSIONS: tuple[OverlayVersion, ...] = ()
NO_PRESENCE: tuple[Presence, ...] = ()
_NO_PENS: list[Json] = []  # never extended: read only
# OverlayVersion from a tuple without the named tuple's Python-level __new__ (hot path).
_version = partial(tuple.__new__, OverlayVersion)
_ALIVE_IDS = (ZHONGSHU_ALIVE_TOP, ZHONGSHU_ALIVE_BOTTOM)
_KIND_RANK = {"major": 0, "minor": 1}
_DIRECTION_RANK = {"resistance": 0, "support": 1}


def _marker_order(ev: FactorEvent) -> tuple[int, int, int]:
    p = ev.payload
    return (_KIND_RANK[ev.kind], p["pivot_time"], _DIRECTION_RANK[p["direction"]])


def _chain_order(p: Json) -> tuple[int, int]:
    # One candle can confirm two pens that start on the same bar (a bar that is both
    # resistance and support gives a zero-length pen first): chain order.
    return (p["start_time"], p["end_time"])


@attrs.define(eq=False)
class OverlayDeriver:
    """Derives the instruction catalog of one series.

    Fed, for each closed candle in order, the candle, the factor events that became visible
    at it and the pen head when it changed, it answers the versions to append (only
    definitions that differ from the instruction's latest version) and the existence changes
    of polylines. Its state is the windows it reads (pens by end time for `pen.confirmed`;
    pens, deaths, switches and candles by time for the zhongshu and anchor drawings), the pen
    head, and the latest definition and existence of each polyline that can still be drawn,
    all of which can be re-read from the ledgers (see `overlay.store.state_at`); the zhongshu
    replay is rebuilt from the windows. Versions within one candle come out in the order of
    ZHONGSHU-ANCHOR §3: markers (pivots, then switches), then pen.confirmed, dead boxes, the
    alive box, anchor.current, anchor.history, pen.extending and pen.candidate.
    """

    tf: int
    window_candles: int
    head_time: int | None = None
    pens: deque[Json] = attrs.Factory(deque)  # confirmed pens in the window, oldest first
    defs: dict[str, Json] = attrs.Factory(dict)  # latest definition of each polyline
    present: set[str] = attrs.Factory(set)  # polylines that exist at head_time
    # The §3 window [t - W*tf, t] by visible time: pens, deaths, switches, (time, high, low).
    seen_pens: deque[Json] = attrs.Factory(deque)
    deads: deque[Json] = attrs.Factory(deque)
    switches: deque[Json] = attrs.Factory(deque)
    bars: deque[tuple[int, float, float]] = attrs.Factory(deque)
    pen_head: Json = attrs.Factory(dict)
    zhongshu: ZhongshuCore = attrs.Factory(ZhongshuCore)
    # Derived drawings are re-evaluated only when their inputs change; a restored deriver
    # evaluates them once (writing nothing when they equal the stored versions).
    _anchor_dirty: bool = True
    _anchor_inputs: AnchorInputs | None = None
    _dead_stale: bool = True
    _dead_until: int | None = None
    _dead_shown: list[Json] | None = None
    # What the alive box's latest versions were built from, and the core's alive dict read.
    _alive_box: tuple[int, float, float, int, str] | None = None
    _alive_end: int = 0
    _alive_src: Json | None = None
    _history_put: list[tuple[str, Json]] | None = None  # the history lines last put
    _ticks: deque[tuple[int, Json]] = attrs.Factory(deque)  # the replay's pen-tick states
    _expire_at: float | None = None  # the oldest window entry's time (None: not known)

    @classmethod
    def restore(cls, tf: int, window_candles: int, state: Json) -> OverlayDeriver:
        d = cls(
            tf,
            window_candles,
            state["head_time"],
            deque(state["pens"]),
            dict(state["defs"]),
            set(state["present"]),
            deque(state["seen_pens"]),
            deque(state["deads"]),
            deque(state["switches"]),
            deque((t, h, lo) for t, h, lo in state["bars"]),
            dict(state["pen_head"]),
        )
        core, ticks = replay_zhongshu(list(d.seen_pens), d.bars)
        d.zhongshu = core or ZhongshuCore()
        d._ticks = deque(ticks)
        return d

    def export_state(self) -> Json:
        return {
            "head_time": self.head_time,
            "pens": list(self.pens),
            "defs": dict(self.defs),
            "present": sorted(self.present),
            "seen_pens": list(self.seen_pens),
            "deads": list(self.deads),
            "switches": list(self.switches),
            "bars": [list(b) for b in self.bars],
            "pen_head": dict(self.pen_head),
        }

    def step(
        self, bar: Bar, events: Sequence[FactorEvent], pen_head: Json | None
    ) -> tuple[Sequence[OverlayVersion], Sequence[Presence]]:
        """Advance to candle `bar`; `pen_head` is the pen head if it changed there, else None."""
        t = bar[0]
        self.head_time = t
        versions: list[OverlayVersion] = []
        presence: list[Presence] = []
        put = self._put
        cutoff = t - self.window_candles * self.tf
        if events:
            new_pens, new_switches = self._take_events(t, events, versions)
        else:
            new_pens, new_switches = _NO_PENS, False
        pens = self.pens
        pens_changed = bool(new_pens)
        if new_pens:
            pens.extend(new_pens)
        while pens and pens[0]["end_time"] < cutoff:
            pens.popleft()
            pens_changed = True
        if pens_changed:
            put(PEN_CONFIRMED, confirmed_polyline(pens), t, versions, presence)
        window_moved = self._slide(bar, cutoff, new_pens) or new_switches
        if window_moved or self._anchor_inputs is None:
            self._anchor_inputs = AnchorInputs.of(self.seen_pens, self.switches)
        anchor_dirty = window_moved
        if pen_head is not None:
            self.pen_head = pen_head
            anchor_dirty = True
        if self._dead_stale or (self._dead_until is not None and t > self._dead_until):
            self._dead_boxes(cutoff, t, versions, presence)
        alive = self.zhongshu.alive
        if alive is not None:
            self._put_alive(alive, t, versions, presence)
        elif ZHONGSHU_ALIVE_TOP in self.present:
            put(ZHONGSHU_ALIVE_TOP, None, t, versions, presence)
            put(ZHONGSHU_ALIVE_BOTTOM, None, t, versions, presence)
        if anchor_dirty or self._anchor_dirty:
            self._anchor_dirty = False
            self._anchor(t, versions, presence)
        if pen_head is not None:
            extending = head_polyline(PEN_EXTENDING, pen_head.get("extending"))
            put(PEN_EXTENDING, extending, t, versions, presence)
            candidate = head_polyline(PEN_CANDIDATE, pen_head.get("candidate"))
            put(PEN_CANDIDATE, candidate, t, versions, presence)
        return versions or NO_VERSIONS, presence or NO_PRESENCE

    def _take_events(
        self, t: int, events: Sequence[FactorEvent], versions: list[OverlayVersion]
    ) -> tuple[list[Json], bool]:
        """Markers to `versions`, window deques extended; answers the new pens (in chain
        order) and whether a switch arrived."""
        pivots: list[FactorEvent] = []
        switches: list[Json] = []
        new_pens: list[Json] = []
        for ev in events:
            factor = ev.factor
            if factor == "pivot":
                pivots.append(ev)
            elif factor == "pen":
                new_pens.append(ev.payload)
            elif factor == "zhongshu":
                self.deads.append(ev.payload)
                self._dead_stale = True
                self._expire_at = None
            elif factor == "anchor":
                switches.append(ev.payload)
        pivots.sort(key=_marker_order)
        for ev in pivots:
            iid, definition = marker(ev.kind, ev.payload)
            versions.append(OverlayVersion(iid, MARKER, t, definition))
        switches.sort(key=switch_order)
        for p in switches:
            iid, definition = switch_marker(p)
            versions.append(OverlayVersion(iid, MARKER, t, definition))
        if switches:
            self.switches.extend(switches)
            self._expire_at = None
        new_pens.sort(key=_chain_order)
        return new_pens, bool(switches)

    def _slide(self, bar: Bar, cutoff: int, new_pens: list[Json]) -> bool:
        """Move the §3 window to `bar` and step the zhongshu replay; answers whether the
        anchor's inputs (window pens, switches) changed."""
        bars = self.bars
        while bars and bars[0][0] < cutoff:
            bars.popleft()
        expire = self._expire_at
        changed = (expire is None or expire < cutoff) and self._expire(cutoff)
        if new_pens:
            changed = True
            self._expire_at = None
        # Candles before the first window pen never touch the replay, so extending it
        # equals replaying the window from scratch.
        t = bar[0]
        core = self.zhongshu
        for pen in new_pens:
            core.pen_step(pen)
        core.candle_step(t, bar[2], bar[3])
        if core.formed:
            core.formed = []
        if new_pens:
            self.seen_pens.extend(new_pens)
            self._ticks.append((t, tick_state(core)))
        bars.append((t, bar[2], bar[3]))
        return changed

    def _expire(self, cutoff: int) -> bool:
        """Drop what left the window (pens, switches, deaths, tick states; the definitions
        of what cannot be drawn again) and note when the next thing leaves; answers whether
        the anchor's inputs changed. When a pen left, the replay starts over from the window
        (§3), up to the previous candle (the caller steps this one like any other)."""
        seen = self.seen_pens
        restart = False
        while seen and seen[0]["visible_time"] < cutoff:
            seen.popleft()
            restart = True
        switches = self.switches
        changed = restart
        while switches and switches[0]["visible_time"] < cutoff:
            self.defs.pop(history_id(switches.popleft()), None)
            changed = True
        deads = self.deads
        while deads and deads[0]["visible_time"] < cutoff:
            prefix = dead_prefix(deads.popleft())
            self.defs.pop(f"{prefix}:top", None)
            self.defs.pop(f"{prefix}:bottom", None)
        ticks = self._ticks
        while ticks and ticks[0][0] < cutoff:
            ticks.popleft()
        if restart:
            core, redone = replay_zhongshu(list(seen), self.bars, ticks)
            if core is not None:
                self.zhongshu = core
                ticks.clear()
            else:
                for _ in redone:
                    ticks.popleft()
            ticks.extendleft(reversed(redone))
        fronts = [q[0]["visible_time"] for q in (seen, switches, deads) if q]
        self._expire_at = min(fronts, default=math.inf)
        return changed

    def _dead_boxes(
        self, cutoff: int, t: int, versions: list[OverlayVersion], presence: list[Presence]
    ) -> None:
        """Put the dead boxes when the set of drawn deaths changed (their definitions never
        change, so an unchanged set needs nothing)."""
        shown = [
            p
            for p in self.deads
            if p["start_time"] > 0 and p["end_time"] > 0 and p["end_time"] >= cutoff
            and p["start_time"] <= t
        ]
        self._dead_stale = False
        # The next change without a new death: the oldest box's end leaving the window.
        span = self.window_candles * self.tf
        self._dead_until = min(p["end_time"] for p in shown) + span if shown else None
        old = self._dead_shown
        if old is not None and len(old) == len(shown) and all(a is b for a, b in zip(old, shown)):
            return
        self._dead_shown = shown
        boxes = dead_boxes(shown, cutoff, t)
        self._replace_family("zhongshu.dead", boxes, t, versions, presence)

    def _anchor(self, t: int, versions: list[OverlayVersion], presence: list[Presence]) -> None:
        """Put `anchor.current` and the `anchor.history` family. History lines mostly are
        the very definitions last put (see `history_lines`); then there is nothing to do."""
        inputs = self._anchor_inputs
        pen_head = self.pen_head
        current, line = anchor_current(inputs, pen_head)
        self._put(ANCHOR_CURRENT, line, t, versions, presence)
        skip = None if current is None else current["start_time"]
        lines = history_lines(inputs, pen_head, skip)
        last = self._history_put
        if (
            last is not None
            and len(last) == len(lines)
            and all(a[1] is b[1] and a[0] == b[0] for a, b in zip(last, lines))
        ):
            return
        self._history_put = lines
        self._replace_family("anchor.history", lines, t, versions, presence)

    def _replace_family(
        self,
        family: str,
        derived: list[tuple[str, Json]],
        t: int,
        versions: list[OverlayVersion],
        presence: list[Presence],
    ) -> None:
        """Put the family's derived polylines (ids `{family}:...`), after ending any present
        one it lacks."""
        prefix = family + ":"
        mine = [(iid, d) for iid, d in derived if iid.startswith(prefix)]
        ids = {iid for iid, _ in mine}
        gone = [iid for iid in self.present if iid.startswith(prefix) and iid not in ids]
        for iid in sorted(gone):
            self._put(iid, None, t, versions, presence)
        for iid, definition in mine:
            self._put(iid, definition, t, versions, presence)

    def _put_alive(
        self, alive: Json, t: int, versions: list[OverlayVersion], presence: list[Presence]
    ) -> None:
        """Put the alive box. It grows every candle, so rather than building both edges and
        comparing them whole with their latest versions, this compares what those were built
        from (`_alive_box`: start, zg, zd, entry direction, colour; and `_alive_end`); after a
        restore the first box is compared whole. While the core keeps the same alive dict,
        only its end moves."""
        present = self.present
        for iid in _ALIVE_IDS:
            if iid not in present:
                present.add(iid)
                presence.append(Presence(iid, t, True))
        end = alive["end_time"]
        box = self._alive_box
        if alive is self._alive_src and box is not None:
            if end == self._alive_end:
                return
            top = bottom = True
        else:
            self._alive_src = alive
            start, direction = alive["start_time"], alive["entry_direction"]
            new = (start, alive["zg"], alive["zd"], direction, zhongshu_color(ALIVE, direction))
            self._alive_box = new
            if box is None:
                self._alive_end = end
                for iid, definition in alive_pair(alive):
                    self._put(iid, definition, t, versions, presence)
                return
            span = box[0] == start and box[3] == direction and self._alive_end == end
            top = not span or box[1] != new[1]
            bottom = not span or box[2] != new[2]
            box = new
        self._alive_end = end
        start, zg, zd, direction, color = box
        if top:
            definition = box_line(ALIVE, color, start, end, zg, direction)
            self.defs[ZHONGSHU_ALIVE_TOP] = definition
            versions.append(_version((ZHONGSHU_ALIVE_TOP, POLYLINE, t, definition)))
        if bottom:
            definition = box_line(ALIVE, color, start, end, zd, direction)
            self.defs[ZHONGSHU_ALIVE_BOTTOM] = definition
            versions.append(_version((ZHONGSHU_ALIVE_BOTTOM, POLYLINE, t, definition)))

    def _put(
        self,
        iid: str,
        definition: Json | None,
        t: int,
        versions: list[OverlayVersion],
        presence: list[Presence],
    ) -> None:
        if definition is None:
            if iid in self.present:
                self.present.discard(iid)
                presence.append(Presence(iid, t, False))
            return
        if iid not in self.present:
            self.present.add(iid)
            presence.append(Presence(iid, t, True))
        # A reappearing instruction whose definition equals its latest version needs no
        # new version: its definition at t is already that one.
        old = self.defs.get(iid)
        if old is not definition and old != definition:
            self.defs[iid] = definition
            versions.append(OverlayVersion(iid, POLYLINE, t, definition))
