"""The pure incremental overlay: candle by candle, factor output in, new versions out (§5)."""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence

import attrs

from canvas.factors.base import FactorEvent, Json
from canvas.overlay.instructions import (
    MARKER,
    PEN_CANDIDATE,
    PEN_CONFIRMED,
    PEN_EXTENDING,
    POLYLINE,
    OverlayVersion,
    Presence,
    confirmed_polyline,
    head_polyline,
    marker,
)

NO_VERSIONS: tuple[OverlayVersion, ...] = ()
NO_PRESENCE: tuple[Presence, ...] = ()
_KIND_RANK = {"major": 0, "minor": 1}
_DIRECTION_RANK = {"resistance": 0, "support": 1}


def _marker_order(ev: FactorEvent) -> tuple[int, int, int]:
    p = ev.payload
    return (_KIND_RANK[ev.kind], p["pivot_time"], _DIRECTION_RANK[p["direction"]])


@attrs.define(eq=False)
class OverlayDeriver:
    """Derives the instruction catalog of one series.

    Fed, for each closed candle in order, the factor events that became visible at it and
    the pen head when it changed, it answers the versions to append (only definitions that
    differ from the instruction's latest version) and the existence changes of polylines.
    Its state is the pen window plus the latest definition and existence of each polyline,
    all of which can be re-read from the ledgers at any time (see `overlay.store.state_at`).
    Versions within one candle come out in a fixed order (markers by kind, time, direction;
    then confirmed, extending, candidate), whatever order the events arrive in.
    """

    tf: int
    window_candles: int
    head_time: int | None = None
    pens: deque[Json] = attrs.Factory(deque)  # confirmed pens in the window, oldest first
    defs: dict[str, Json] = attrs.Factory(dict)  # latest definition of each polyline
    present: set[str] = attrs.Factory(set)  # polylines that exist at head_time

    @classmethod
    def restore(cls, tf: int, window_candles: int, state: Json) -> OverlayDeriver:
        return cls(
            tf,
            window_candles,
            state["head_time"],
            deque(state["pens"]),
            dict(state["defs"]),
            set(state["present"]),
        )

    def export_state(self) -> Json:
        return {
            "head_time": self.head_time,
            "pens": list(self.pens),
            "defs": dict(self.defs),
            "present": sorted(self.present),
        }

    def step(
        self, t: int, events: Sequence[FactorEvent], pen_head: Json | None
    ) -> tuple[Sequence[OverlayVersion], Sequence[Presence]]:
        """Advance to candle `t`; `pen_head` is the pen head if it changed at `t`, else None."""
        self.head_time = t
        versions: list[OverlayVersion] | None = None
        presence: list[Presence] | None = None
        pens = self.pens
        pens_changed = False
        if events:
            markers: list[FactorEvent] = []
            new_pens: list[Json] = []
            for ev in events:
                if ev.factor == "pivot":
                    markers.append(ev)
                elif ev.factor == "pen" and ev.kind == "confirmed":
                    new_pens.append(ev.payload)
            if markers:
                if len(markers) > 1:
                    markers.sort(key=_marker_order)
                versions = []
                for ev in markers:
                    iid, definition = marker(ev.kind, ev.payload)
                    versions.append(OverlayVersion(iid, MARKER, t, definition))
            if new_pens:
                # Chain order. One candle can confirm two pens that start on the same bar (a
                # bar that is both resistance and support gives a zero-length pen first).
                new_pens.sort(key=lambda p: (p["start_time"], p["end_time"]))
                pens.extend(new_pens)
                pens_changed = True
        if pens:
            # The window is a time span (§5), so pens leave it as candle times advance.
            threshold = t - self.window_candles * self.tf
            while pens and pens[0]["end_time"] < threshold:
                pens.popleft()
                pens_changed = True
        if pens_changed or pen_head is not None:
            versions = versions if versions is not None else []
            presence = []
            if pens_changed:
                self._put(PEN_CONFIRMED, confirmed_polyline(pens), t, versions, presence)
            if pen_head is not None:
                ext = head_polyline(PEN_EXTENDING, pen_head.get("extending"))
                cand = head_polyline(PEN_CANDIDATE, pen_head.get("candidate"))
                self._put(PEN_EXTENDING, ext, t, versions, presence)
                self._put(PEN_CANDIDATE, cand, t, versions, presence)
        return versions or NO_VERSIONS, presence or NO_PRESENCE

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
        if self.defs.get(iid) != definition:
            self.defs[iid] = definition
            versions.append(OverlayVersion(iid, POLYLINE, t, definition))
