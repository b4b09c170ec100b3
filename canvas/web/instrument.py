"""Request metrics measured where the work happens: counts and durations by result."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from canvas.metrics import MetricsRegistry


class RouteMetrics:
    """`<name>_requests_total{result}` and `<name>_duration_ms{result}` for one route family."""

    def __init__(self, registry: MetricsRegistry, name: str) -> None:
        self.ok = registry.counter(f"{name}_requests_total", result="ok")
        self.error = registry.counter(f"{name}_requests_total", result="error")
        self.ok_ms = registry.timer(f"{name}_duration_ms", result="ok")
        self.error_ms = registry.timer(f"{name}_duration_ms", result="error")

    @contextmanager
    def measure(self) -> Iterator[None]:
        t0 = time.perf_counter()
        try:
            yield
        except BaseException:
            self.error.inc()
            self.error_ms.observe_since(t0)
            raise
        self.ok.inc()
        self.ok_ms.observe_since(t0)


def route_metrics(registry: MetricsRegistry) -> dict[str, RouteMetrics]:
    return {
        "ingest": RouteMetrics(registry, "market_ingest_closed"),
        "candles": RouteMetrics(registry, "market_query_candles"),
    }
