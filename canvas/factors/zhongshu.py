"""Zhongshu factor: the zone where consecutive pens overlap, and its death (ZHONGSHU-ANCHOR §1).

The state machine (`ZhongshuCore`) is shared with the overlay, which replays it over the
pens and candles of its window (§3); the factor adds the ledger's view: `zhongshu.dead`
events and the `alive` head.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import ClassVar

import attrs

from canvas.factors.base import NO_EVENTS, AnalyticsParams, Bar, FactorEvent, Json

PEN_CONFIRMED = "pen_confirmed"
PRICE_CROSS = "price_cross"


def pen_range(pen: Json) -> tuple[float, float]:
    """`[lo, hi]` of a pen (or any leg with start/end prices)."""
    a, b = pen["start_price"], pen["end_price"]
    return (a, b) if a <= b else (b, a)


def _form(
    entry: Json, p1: Json, p2: Json, r3: tuple[float, float]
) -> tuple[float, float] | None:
    """`(zg, zd)` when the four ranges share a point (touching counts), else None. The entry
    pen takes part in the overlap test but does not bound the zone."""
    e, a, b = pen_range(entry), pen_range(p1), pen_range(p2)
    if max(e[0], a[0], b[0], r3[0]) > min(e[1], a[1], b[1], r3[1]):
        return None
    return min(a[1], b[1], r3[1]), max(a[0], b[0], r3[0])


_ZONE_KEYS = ("start_time", "end_time", "zg", "zd", "entry_direction", "formed_time")


def dead_payload(alive: Json, death_time: int) -> Json:
    """The `zhongshu.dead` payload of a zhongshu killed at tick `death_time` (§1.3)."""
    p = {k: alive[k] for k in _ZONE_KEYS}
    p["death_time"] = p["visible_time"] = death_time
    p["formed_reason"] = alive["formed_reason"]
    return p


def dead_key(p: Json) -> str:
    return (
        f"dead:{p['start_time']}:{p['formed_time']}:{p['death_time']}:"
        f"{p['zg']:.8f}:{p['zd']:.8f}:{p['formed_reason']}"
    )


@attrs.define(eq=False)
class ZhongshuCore:
    """§1.2 for one sequence of ticks: `pen_step` for each pen confirmed in a tick, then
    `candle_step` with the tick's candle. Pens are `pen.confirmed` payloads.

    `formed` holds the entry pens of the formations since the last `begin_tick` (pen-step
    ones first), which the anchor factor consumes (§2.2 step 3).
    """

    alive: Json | None = None
    pending: Json | None = None
    tail: list[Json] = attrs.Factory(list)
    floor: int = 0
    formed: list[Json] = attrs.Factory(list)

    @classmethod
    def restore(cls, state: Json) -> ZhongshuCore:
        alive, pending = state["alive"], state["pending"]
        return cls(
            None if alive is None else dict(alive),
            None if pending is None else dict(pending),
            list(state["tail"]),
            state["floor"],
        )

    def export_state(self) -> Json:
        # Copies: `alive` and `pending` are updated in place, and a checkpoint taken now
        # may be encoded only after later candles ran.
        return {
            "alive": None if self.alive is None else dict(self.alive),
            "pending": None if self.pending is None else dict(self.pending),
            "tail": list(self.tail),
            "floor": self.floor,
        }

    def pen_step(self, pen: Json) -> Json | None:
        """Feed one confirmed pen; answers the dead payload when it killed the zhongshu."""
        tail = self.tail
        tail.append(pen)
        if len(tail) > 4:
            del tail[0]
        alive = self.alive
        if alive is None:
            pending = self.pending
            if pending is not None and pen["start_time"] == pending["p3_start_time"]:
                r3 = pen_range(pen)
                when = pen["visible_time"]
                self._try_form(pending, r3, when, pen["end_time"], PEN_CONFIRMED, awaiting=False)
                self.pending = None
            if self.alive is None and self.pending is None:
                self._seed()
            return None
        if alive["awaiting_p3"] and pen["start_time"] == alive["p3_start_time"]:
            alive["awaiting_p3"] = False
            alive["end_time"] = max(alive["end_time"], pen["end_time"])
            return None
        lo, hi = pen_range(pen)
        if hi < alive["zd"] or lo > alive["zg"]:
            dead = dead_payload(alive, pen["visible_time"])
            self.floor = tail[-2]["start_time"]
            self.alive = None
            self._seed()
            return dead
        alive["end_time"] = max(alive["end_time"], pen["end_time"])
        return None

    def candle_step(self, t: int, high: float, low: float) -> None:
        alive = self.alive
        if alive is not None:
            if t > alive["end_time"]:
                alive["end_time"] = t
            return
        pending = self.pending
        if pending is None or t <= pending["p3_start_time"]:
            return
        if pending["p3_direction"] < 0:
            if low < pending["extreme"]:
                pending["extreme"] = low
            crossed = low <= pending["trigger"]
        else:
            if high > pending["extreme"]:
                pending["extreme"] = high
            crossed = high >= pending["trigger"]
        if crossed and pending["cross_time"] is None:
            pending["cross_time"] = t
        if pending["cross_time"] is not None:
            a, b = pending["p3_start_price"], pending["extreme"]
            r3 = (a, b) if a <= b else (b, a)
            if self._try_form(pending, r3, pending["cross_time"], t, PRICE_CROSS, awaiting=True):
                self.pending = None

    def _seed(self) -> None:
        tail = self.tail
        if len(tail) < 3:
            return
        entry, p1, p2 = tail[-3], tail[-2], tail[-1]
        if self.floor > 0 and entry["start_time"] < self.floor:
            return
        self.pending = {
            "entry": entry,
            "p1": p1,
            "p2": p2,
            "p3_direction": -p2["direction"],
            "p3_start_time": p2["end_time"],
            "p3_start_price": p2["end_price"],
            "extreme": p2["end_price"],
            "trigger": p1["end_price"],
            "cross_time": None,
        }

    def _try_form(
        self,
        pending: Json,
        r3: tuple[float, float],
        formed_time: int,
        end_time: int,
        reason: str,
        awaiting: bool,
    ) -> bool:
        entry = pending["entry"]
        zone = _form(entry, pending["p1"], pending["p2"], r3)
        if zone is None:
            return False
        self.alive = {
            "start_time": entry["start_time"],
            "end_time": end_time,
            "zg": zone[0],
            "zd": zone[1],
            "entry_direction": entry["direction"],
            "formed_time": formed_time,
            "formed_reason": reason,
            "awaiting_p3": awaiting,
            "p3_start_time": pending["p3_start_time"],
        }
        self.formed.append(entry)
        return True


def _same_zone(shown: Json, alive: Json) -> bool:
    """Whether a stored alive entry describes the same formation as `alive`."""
    return (
        shown["start_time"] == alive["start_time"]
        and shown["formed_time"] == alive["formed_time"]
        and shown["zg"] == alive["zg"]
        and shown["zd"] == alive["zd"]
        and shown["formed_reason"] == alive["formed_reason"]
    )


def alive_view(alive: Json, t: int) -> Json:
    """One entry of the `alive` head at tick `t` (§1.3)."""
    return {
        "start_time": alive["start_time"],
        "end_time": alive["end_time"],
        "zg": alive["zg"],
        "zd": alive["zd"],
        "entry_direction": alive["entry_direction"],
        "formed_time": alive["formed_time"],
        "formed_reason": alive["formed_reason"],
        "death_time": None,
        "visible_time": t,
    }


@attrs.define(eq=False)
class ZhongshuFactor:
    """§1 over the pen's confirmed pens, in O(1) per candle (the state is bounded: at most
    one alive zhongshu, one pending formation and the last four pens)."""

    NAME: ClassVar[str] = "zhongshu"
    DEPENDS: ClassVar[tuple[str, ...]] = ("pen",)
    LOGIC_VERSION: ClassVar[int] = 1
    # Its slice at t depends on t beyond the stored head (see `stretched`).
    HEAD_FOLLOWS_TIME: ClassVar[bool] = True

    core: ZhongshuCore = attrs.Factory(ZhongshuCore)
    current_head: Json = attrs.Factory(dict)
    _shown: Json | None = None  # the core's alive dict the stored head describes

    @classmethod
    def create(cls, params: AnalyticsParams, tf: int) -> ZhongshuFactor:
        return cls()

    @classmethod
    def restore(cls, params: AnalyticsParams, tf: int, state: Json) -> ZhongshuFactor:
        return cls(ZhongshuCore.restore(state["core"]), state["head"])

    def export_state(self) -> Json:
        return {"core": self.core.export_state(), "head": self.current_head}

    def head(self) -> Json:
        return self.current_head

    @property
    def formed(self) -> list[Json]:
        """The entry pens of this candle's formations (read by the anchor factor)."""
        return self.core.formed

    def step(
        self, bar: Bar, upstream: Mapping[str, Sequence[FactorEvent]], deps: Mapping[str, object]
    ) -> tuple[Sequence[FactorEvent], Json | None]:
        core = self.core
        if core.formed:
            core.formed = []
        t = bar[0]
        events: Sequence[FactorEvent] = NO_EVENTS
        pens = upstream.get("pen")
        if pens:
            out: list[FactorEvent] = []
            for ev in pens:
                dead = core.pen_step(ev.payload)
                if dead is not None:
                    out.append(FactorEvent("zhongshu", "dead", dead_key(dead), t, dead))
            if out:
                events = out
        core.candle_step(t, bar[2], bar[3])
        if not core.tail:
            return events, None
        # While candles flow an alive zhongshu's end_time and visible_time are the candle
        # time, so only its formation and death are stored; reads stretch the stored entry
        # to the time asked (`stretched`). The head at every t is still exactly §1.3's.
        alive = core.alive
        if alive is not None and alive is self._shown:
            return events, None  # the same formation, only stretched
        shown = self.current_head.get("alive")
        if alive is None:
            if shown == []:
                return events, None
            head: Json = {"alive": []}
        else:
            self._shown = alive
            if shown and _same_zone(shown[0], alive):
                return events, None  # first candle after a restore
            head = {"alive": [alive_view(alive, t)]}
        self.current_head = head
        return events, head

    @staticmethod
    def stretched(head: Json, at: int) -> Json:
        """The §1.3 head at candle time `at` from the stored head at or before it."""
        alive = head.get("alive")
        if not alive:
            return head
        return {"alive": [{**alive[0], "end_time": at, "visible_time": at}]}

    @staticmethod
    def snapshot_view(
        events: Sequence[tuple[str, Json]], head: Json, context: Mapping[str, object], at: int
    ) -> tuple[Json, Json] | None:
        """§1.3: the window's deaths by visible_time (at most one per candle) and the stored
        head; omitted while there is neither a death in the window nor an alive zhongshu."""
        dead = [p for _, p in events]
        alive = head.get("alive") or []
        if not dead and not alive:
            return None
        dead.sort(key=lambda p: p["visible_time"])
        return {"dead": dead}, ZhongshuFactor.stretched(head, at)
