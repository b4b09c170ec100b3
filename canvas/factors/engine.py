"""The factor engine: drives every registered factor candle by candle, with checkpointable state."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import attrs

from canvas.factors.base import NO_EVENTS, AnalyticsParams, Bar, Factor, FactorEvent, Json
from canvas.factors.registry import FACTORS

NO_HEADS: tuple[tuple[str, Json], ...] = ()


@attrs.frozen
class EngineOutput:
    """What a run over consecutive candles produced, in candle order.

    `heads` holds `(factor, candle_time, head)` for each candle at which a head changed;
    `checkpoints` holds `(candle_time, state)` every `checkpoint_every` candles (by count).
    """

    events: list[FactorEvent]
    heads: list[tuple[str, int, Json]]
    checkpoints: list[tuple[int, Json]]
    last_time: int | None


@attrs.define(eq=False)
class FactorEngine:
    """All factors of one series, fed the series' closed candles strictly in time order."""

    params: AnalyticsParams
    tf: int
    factors: list[Factor]
    count: int = 0  # candles consumed
    head_time: int | None = None  # time of the last candle consumed
    _upstream: dict[str, Sequence[FactorEvent]] = attrs.field(init=False, factory=dict)
    _by_name: dict[str, Factor] = attrs.field(init=False)
    _steps: tuple[tuple[str, Any], ...] = attrs.field(init=False)  # (name, bound step)

    def __attrs_post_init__(self) -> None:
        self._by_name = {f.NAME: f for f in self.factors}
        self._steps = tuple((f.NAME, f.step) for f in self.factors)

    @classmethod
    def create(cls, params: AnalyticsParams, tf: int) -> FactorEngine:
        return cls(params, tf, [f.create(params, tf) for f in FACTORS])

    @classmethod
    def restore(cls, params: AnalyticsParams, tf: int, state: Json) -> FactorEngine:
        """Rebuild from `export_state()`; the state must come from the same params."""
        factors = [f.restore(params, tf, state["factors"][f.NAME]) for f in FACTORS]
        return cls(params, tf, factors, state["count"], state["head_time"])

    def export_state(self) -> Json:
        return {
            "count": self.count,
            "head_time": self.head_time,
            "factors": {f.NAME: f.export_state() for f in self.factors},
        }

    def heads(self) -> dict[str, Json]:
        return {f.NAME: f.head() for f in self.factors}

    def step(self, bar: Bar) -> tuple[Sequence[FactorEvent], Sequence[tuple[str, Json]]]:
        """Consume one candle; answer its events (factor order) and the heads that changed."""
        self.count += 1
        self.head_time = bar[0]
        upstream = self._upstream
        deps = self._by_name
        events: Sequence[FactorEvent] = NO_EVENTS
        heads: Sequence[tuple[str, Json]] = NO_HEADS
        for name, factor_step in self._steps:
            evs, head = factor_step(bar, upstream, deps)
            upstream[name] = evs
            if evs:
                events = evs if not events else [*events, *evs]
            if head is not None:
                heads = [(name, head)] if not heads else [*heads, (name, head)]
        return events, heads

    def run(self, bars: Iterable[Bar], checkpoint_every: int = 0) -> EngineOutput:
        """Consume candles in order, collecting everything a ledger must record."""
        events: list[FactorEvent] = []
        heads: list[tuple[str, int, Json]] = []
        checkpoints: list[tuple[int, Json]] = []
        step = self.step
        for bar in bars:
            evs, changed = step(bar)
            if evs:
                events.extend(evs)
            if changed:
                t = bar[0]
                for name, head in changed:
                    heads.append((name, t, head))
            if checkpoint_every and self.count % checkpoint_every == 0:
                checkpoints.append((bar[0], self.export_state()))
        return EngineOutput(events, heads, checkpoints, self.head_time)
