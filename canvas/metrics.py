"""In-process runtime metrics: counters, gauges and timers, read as the §2.7 JSON snapshot.

The Prometheus exposition of the same handles lives in `canvas.metrics_export`.
"""

from __future__ import annotations

import re
import time
from bisect import bisect_left
from types import TracebackType
from typing import Any, Generic, Literal, Self, TypeVar

import attrs

Kind = Literal["counter", "gauge", "timer"]

_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
_LABEL = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
# A timer `x_ms` is exported as the histogram `x_seconds`, which owns these suffixes too.
_TIMER_SUFFIXES = ("", "_bucket", "_count", "_sum")
# Histogram bucket upper bounds in milliseconds (exported in seconds): 0.5 ms to 10 s.
BUCKETS_MS = (0.5, 1.0, 2.5, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2500.0, 10000.0)


class _Value:
    """One labelled float (the state of a counter or a gauge); `inc` is a single float add."""

    __slots__ = ("key", "labels", "name", "value")

    def __init__(self, name: str, labels: tuple[tuple[str, str], ...], key: str) -> None:
        self.name = name
        self.labels = labels
        self.key = key
        self.value = 0.0

    def inc(self, amount: float = 1.0) -> None:
        self.value += amount


class Counter(_Value):
    """A monotonically increasing value."""

    __slots__ = ()


class Gauge(_Value):
    """A value that is set, or moved up and down."""

    __slots__ = ()

    def set(self, value: float) -> None:
        self.value = value

    def dec(self, amount: float = 1.0) -> None:
        self.value -= amount


class Timer:
    """Durations in milliseconds: count, total, max and a histogram over `BUCKETS_MS`.

    Time a block with `with timer.time():`, or, when the label depends on the outcome, take
    `t0 = time.perf_counter()` first and call `observe_since(t0)` on the matching handle.
    """

    __slots__ = ("buckets", "count", "key", "labels", "max_ms", "name", "total_ms")

    def __init__(self, name: str, labels: tuple[tuple[str, str], ...], key: str) -> None:
        self.name = name
        self.labels = labels
        self.key = key
        self.count = 0
        self.total_ms = 0.0
        self.max_ms = 0.0
        # Observations per bucket (not cumulative); the last slot is above the largest bound.
        self.buckets = [0] * (len(BUCKETS_MS) + 1)

    def observe_ms(self, ms: float) -> None:
        self.count += 1
        self.total_ms += ms
        self.max_ms = max(self.max_ms, ms)
        self.buckets[bisect_left(BUCKETS_MS, ms)] += 1

    def observe_since(self, t0: float) -> None:
        """Record the time elapsed since `t0`, a `time.perf_counter()` reading."""
        self.observe_ms((time.perf_counter() - t0) * 1000.0)

    def time(self) -> Timing:
        """A context manager recording the duration of its block (also when it raises)."""
        return Timing(self)


class Timing:
    """One timed block; a fresh object per use so concurrent tasks never share a start time."""

    __slots__ = ("_t0", "_timer")

    def __init__(self, timer: Timer) -> None:
        self._timer = timer
        self._t0 = 0.0

    def __enter__(self) -> Self:
        self._t0 = time.perf_counter()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._timer.observe_since(self._t0)


class _NullCounter(Counter):
    __slots__ = ()

    def inc(self, amount: float = 1.0) -> None:
        pass


class _NullGauge(Gauge):
    __slots__ = ()

    def set(self, value: float) -> None:
        pass

    def inc(self, amount: float = 1.0) -> None:
        pass

    def dec(self, amount: float = 1.0) -> None:
        pass


class _NullTiming(Timing):
    __slots__ = ()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        pass


class _NullTimer(Timer):
    __slots__ = ()

    def observe_ms(self, ms: float) -> None:
        pass

    def observe_since(self, t0: float) -> None:
        pass

    def time(self) -> Timing:
        return _NULL_TIMING


_NULL_COUNTER = _NullCounter("", (), "")
_NULL_GAUGE = _NullGauge("", (), "")
_NULL_TIMER = _NullTimer("", (), "")
_NULL_TIMING = _NullTiming(_NULL_TIMER)


def metric_key(name: str, labels: tuple[tuple[str, str], ...]) -> str:
    """`name` or `name{k1=v1,k2=v2}` with labels already sorted (the §2.7 JSON key)."""
    if not labels:
        return name
    return name + "{" + ",".join(f"{k}={v}" for k, v in labels) + "}"


_Handle = TypeVar("_Handle", Counter, Gauge, Timer)


@attrs.define(eq=False)
class _Table(Generic[_Handle]):
    """The handles of one kind, by canonical key and by the caller's own spelling."""

    kind: Kind
    cls: type[_Handle]
    by_key: dict[str, _Handle] = attrs.Factory(dict)
    # Keyed by (name, *labels-as-given): a repeated lookup skips sorting and formatting.
    memo: dict[tuple[Any, ...], _Handle] = attrs.Factory(dict)


@attrs.define(eq=False)
class MetricsRegistry:
    """Every metric of one process, created on first use and kept until `remove`.

    Resolve a handle once (`registry.counter("x_total", result="ok")`) and keep it: the hot
    path is then one attribute update with no string work. Asking again for the same name and
    labels returns the same handle. Label values are strings; the §2.7 JSON keys show them
    unquoted, so values should avoid `,`, `=` and `}` (Prometheus text escapes everything).
    Handles are updated from the Trio thread only; they take no locks.
    """

    enabled: bool = True
    _kinds: dict[str, Kind] = attrs.field(init=False, factory=dict)
    _counters: _Table[Counter] = attrs.field(init=False, factory=lambda: _Table("counter", Counter))
    _gauges: _Table[Gauge] = attrs.field(init=False, factory=lambda: _Table("gauge", Gauge))
    _timers: _Table[Timer] = attrs.field(init=False, factory=lambda: _Table("timer", Timer))

    @classmethod
    def disabled(cls) -> MetricsRegistry:
        """A registry whose handles do nothing, so code can record metrics unconditionally."""
        return cls(enabled=False)

    def counter(self, name: str, **labels: str) -> Counter:
        """The counter `name` with `labels`."""
        if not self.enabled:
            return _NULL_COUNTER
        return self._resolve(self._counters, name, labels)

    def gauge(self, name: str, **labels: str) -> Gauge:
        """The gauge `name` with `labels`."""
        if not self.enabled:
            return _NULL_GAUGE
        return self._resolve(self._gauges, name, labels)

    def timer(self, name: str, **labels: str) -> Timer:
        """The timer `name` with `labels`; durations are in milliseconds."""
        if not self.enabled:
            return _NULL_TIMER
        return self._resolve(self._timers, name, labels)

    def remove(self, handle: Counter | Gauge | Timer) -> None:
        """Forget one labelled metric (say the gauge of a series that has gone away).

        Handles still held elsewhere keep working but are no longer reported.
        """
        if isinstance(handle, Counter):
            self._drop(self._counters, handle)
        elif isinstance(handle, Gauge):
            self._drop(self._gauges, handle)
        else:
            self._drop(self._timers, handle)

    @staticmethod
    def _drop(table: _Table[_Handle], handle: _Handle) -> None:
        if table.by_key.get(handle.key) is handle:
            del table.by_key[handle.key]
            for memo_key in [k for k, v in table.memo.items() if v is handle]:
                del table.memo[memo_key]

    def _resolve(self, table: _Table[_Handle], name: str, labels: dict[str, str]) -> _Handle:
        memo_key = (name, *labels.items())
        handle = table.memo.get(memo_key)
        if handle is not None:
            return handle
        self._check_name(table.kind, name)
        for label in labels:
            if not _LABEL.match(label) or label.startswith("__"):
                raise ValueError(f"bad label name {label!r} on metric {name!r}")
        pairs = tuple(sorted((k, str(v)) for k, v in labels.items()))
        key = metric_key(name, pairs)
        handle = table.by_key.get(key)
        if handle is None:
            handle = table.cls(name, pairs, key)
            table.by_key[key] = handle
        table.memo[memo_key] = handle
        return handle

    def _check_name(self, kind: Kind, name: str) -> None:
        if not _NAME.match(name):
            raise ValueError(f"bad metric name {name!r}")
        known = self._kinds.get(name)
        if known == kind:
            return
        if known is not None:
            raise ValueError(f"metric {name!r} is a {known}, not a {kind}")
        # The Prometheus families must not collide: a timer `x` also exposes `x_count`,
        # `x_sum` and `x_max`, so those names are taken too.
        taken = _exposed_names(kind, name)
        for other, other_kind in self._kinds.items():
            if taken & _exposed_names(other_kind, other):
                raise ValueError(f"metric {name!r} ({kind}) collides with {other!r}")
        self._kinds[name] = kind

    def snapshot(self, now_ms: int) -> dict[str, Any]:
        """The §2.7 body, keys sorted; `now_ms` is the caller's wall clock."""
        timers: dict[str, dict[str, float | int]] = {}
        for key in sorted(self._timers.by_key):
            t = self._timers.by_key[key]
            timers[key] = {
                "count": t.count,
                "total_ms": t.total_ms,
                "max_ms": t.max_ms,
                "avg_ms": t.total_ms / t.count if t.count else 0.0,
            }
        return {
            "enabled": self.enabled,
            "updated_at_ms": now_ms,
            "counters": {k: float(c.value) for k, c in sorted(self._counters.by_key.items())},
            "gauges": {k: float(g.value) for k, g in sorted(self._gauges.by_key.items())},
            "timers": timers,
        }

    def handles(self) -> tuple[list[Counter], list[Gauge], list[Timer]]:
        """Every live handle by kind, sorted by key (for an exporter reading at scrape time)."""
        return (
            [self._counters.by_key[k] for k in sorted(self._counters.by_key)],
            [self._gauges.by_key[k] for k in sorted(self._gauges.by_key)],
            [self._timers.by_key[k] for k in sorted(self._timers.by_key)],
        )


def exported_timer_name(name: str) -> str:
    """The Prometheus name of a timer: `x_duration_ms` → `x_duration_seconds`."""
    return (name.removesuffix("_ms")) + "_seconds"


def _exposed_names(kind: Kind, name: str) -> set[str]:
    if kind == "timer":
        return {name, *(exported_timer_name(name) + s for s in _TIMER_SUFFIXES)}
    return {name}
