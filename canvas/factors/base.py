"""Shared vocabulary of the factor engine: parameters, bars, events and the factor protocol."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, Protocol

import attrs
import msgspec

# A closed candle as the ledger stores it: (candle_time, open, high, low, close, volume).
# Factors take the raw row rather than a Candle so the hot loop allocates nothing per bar.
Bar = tuple[int, float, float, float, float, float]
Json = dict[str, Any]
# One factor's part of a slice: the window's `(event_key, payload)` events and its head.
SliceWindow = tuple[Sequence[tuple[str, Json]], Json]

_encode = json.JSONEncoder(separators=(",", ":"), check_circular=False).encode


def dumps(value: object) -> str:
    """Compact JSON; the ledgers compare texts, so every writer must use this one."""
    return _encode(value)


_decode = msgspec.json.Decoder().decode


def loads(text: str | bytes) -> Any:
    """Parse stored JSON text (what `dumps` wrote): msgspec gives the same values as
    json.loads, four to six times faster, which reads of many versions or events feel."""
    return _decode(text)


# Shared "nothing happened" values, so a quiet candle costs no allocation.
NO_EVENTS: tuple[FactorEvent, ...] = ()


def _at_least_one(_: object, attribute: attrs.Attribute[int], value: int) -> None:
    if value < 1:
        raise ValueError(f"{attribute.name} must be >= 1, got {value}")


@attrs.frozen
class AnalyticsParams:
    """Everything that shapes a series' factor and overlay output (from settings, §9).

    `logic_override` is `FACTOR_LOGIC_VERSION` ("" when unset); it only feeds the logic hash.
    `overlay_window_candles` is `OVERLAY_WINDOW_CANDLES`, the reach of `pen.confirmed` (§5).
    """

    pivot_window_major: int = attrs.field(default=50, validator=_at_least_one)
    pivot_window_minor: int = attrs.field(default=5, validator=_at_least_one)
    logic_override: str = ""
    overlay_window_candles: int = attrs.field(default=2000, validator=_at_least_one)

    def hash_params(self) -> Json:
        """The `params` object of the logic hash (§4.5): factor parameters only."""
        return {
            "pivot_window_major": self.pivot_window_major,
            "pivot_window_minor": self.pivot_window_minor,
        }


@attrs.frozen(slots=True)
class FactorEvent:
    """One ledger entry: final once visible (late data aside, §4.6).

    `kind` groups a factor's events (`major`/`minor` for pivot, `confirmed` for pen); `key`
    is unique per factor and starts with `{kind}:` (the ledger stores only the key) unless
    the factor declares one `EVENT_KIND` for all its events, and `payload` is exactly the
    JSON object clients see.
    """

    factor: str
    kind: str
    key: str
    visible_time: int
    payload: Json


class Factor(Protocol):
    """A pure incremental factor.

    It sees closed candles one at a time, in time order, together with the events its
    dependencies (`DEPENDS`, earlier in the registry) emitted for the same candle and those
    factors themselves (`deps`, by name, already stepped on this candle, for a dependant
    that reads a head or a per-candle result such as the zhongshu's formations), and
    answers the events it emits plus its new head when the head changed (None otherwise).
    Its whole state survives `export_state` → JSON → `restore`, so a restarted server
    continues without replaying history.

    Optional class attributes: `EVENT_KIND`, the kind of all its events when their keys do
    not start with it (the anchor's start with the switch reason); `HEAD_FOLLOWS_TIME`, when
    its slice at t depends on t beyond the stored head (the zhongshu stores an alive
    zhongshu once and its slice stretches it to t), so the replay recorder re-reads it.
    """

    NAME: ClassVar[str]
    DEPENDS: ClassVar[tuple[str, ...]]
    LOGIC_VERSION: ClassVar[int]

    @classmethod
    def create(cls, params: AnalyticsParams, tf: int) -> Factor: ...

    @classmethod
    def restore(cls, params: AnalyticsParams, tf: int, state: Json) -> Factor: ...

    def export_state(self) -> Json: ...

    def head(self) -> Json: ...

    def step(
        self, bar: Bar, upstream: Mapping[str, Sequence[FactorEvent]], deps: Mapping[str, Factor]
    ) -> tuple[Sequence[FactorEvent], Json | None]: ...

    @staticmethod
    def snapshot_view(
        events: Sequence[tuple[str, Json]],
        head: Json,
        context: Mapping[str, SliceWindow],
        at: int,
    ) -> tuple[Json, Json] | None:
        """`(history, head)` of a §4.4 slice at time `at` from the window's `(key, payload)`
        events and the stored head, or None when the factor has nothing to show (it is then
        left out of the reply). `context` holds every factor's `(events, head)` at the same
        slice, for a factor whose view reads its dependencies (the anchor reads the pen's)."""
        ...
