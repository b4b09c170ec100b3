"""`GET /metrics`: the runtime metrics in Prometheus text format, built at scrape time.

prometheus_client does the exposition (escaping, `# HELP`/`# TYPE`, the `process_*`
collector) on a registry owned by one app, so tests can build as many apps as they like.
The hot path never touches it: handles stay Canvas's own (`canvas.metrics`) and are only read
here when Prometheus scrapes.
"""

from __future__ import annotations

from collections import Counter as Tally
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, ProcessCollector, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector

from canvas.metrics import BUCKETS_MS, Counter, Gauge, MetricsRegistry, Timer, exported_timer_name

CONTENT_TYPE = CONTENT_TYPE_LATEST
JOB_STATES = ("starting", "running", "backoff", "stopped")

# `# HELP` text by metric name (as the handle is named); others get a generic line.
HELP = {
    "market_ingest_closed_requests_total": "Closed-candle ingest requests (single and batch).",
    "market_query_candles_requests_total": "GET /api/market/candles requests.",
    "market_ws_subscribe_total": "WebSocket subscribe messages by result.",
    "market_ws_unsubscribe_total": "WebSocket unsubscribe messages by result.",
    "market_ws_catchup_candles_total": "Candles sent as WebSocket catch-up.",
    "market_ws_payloads_total": "WebSocket frames written to clients.",
    "market_query_head_lag_seconds": "Wall clock minus the series head at the last read.",
    "market_ws_active_subscriptions": "WebSocket subscriptions open now.",
    "market_ingest_last_candle_time": "Newest stored closed candle time (Unix seconds).",
    "market_ingest_closed_duration_ms": "Time to ingest closed candles, store to publish.",
    "market_query_candles_duration_ms": "Time to answer a candles query.",
    "market_ws_subscribe_duration_ms": "Time to serve a WebSocket subscribe.",
}

IngestSource = Callable[[], Any]


class CanvasCollector(Collector):
    """Reads a MetricsRegistry and the ingest supervisor each time it is collected."""

    def __init__(self, metrics: MetricsRegistry, ingest: IngestSource) -> None:
        self.metrics = metrics
        self.ingest = ingest

    def collect(self) -> Iterator[Metric]:
        counters, gauges, timers = self.metrics.handles()
        yield from _families(counters, CounterMetricFamily, _value)
        yield from _families(gauges, GaugeMetricFamily, _value)
        yield from _timer_families(timers)
        yield from _ingest_families(self.ingest())


def _help(name: str) -> str:
    return HELP.get(name, f"Canvas runtime metric {name}.")


def _value(family: Any, handle: Counter | Gauge) -> None:
    family.add_metric([v for _, v in handle.labels], handle.value)


def _by_name(handles: list[Any]) -> dict[tuple[str, tuple[str, ...]], list[Any]]:
    groups: dict[tuple[str, tuple[str, ...]], list[Any]] = {}
    for h in handles:
        groups.setdefault((h.name, tuple(k for k, _ in h.labels)), []).append(h)
    return groups


def _families(handles: list[Any], cls: Any, add: Callable[[Any, Any], None]) -> Iterator[Metric]:
    for (name, labels), group in _by_name(handles).items():
        family = cls(name, _help(name), labels=list(labels))
        for handle in group:
            add(family, handle)
        yield family


def _timer_families(timers: list[Timer]) -> Iterator[Metric]:
    bounds = [repr(ms / 1000.0) for ms in BUCKETS_MS] + ["+Inf"]
    for (name, labels), group in _by_name(timers).items():
        family = HistogramMetricFamily(exported_timer_name(name), _help(name), labels=list(labels))
        for t in group:
            cumulative, running = [], 0
            for bound, n in zip(bounds, list(t.buckets)):
                running += n
                cumulative.append((bound, running))
            family.add_metric([v for _, v in t.labels], cumulative, t.total_ms / 1000.0)
        yield family


def _ingest_families(ingest: Any) -> Iterator[Metric]:
    """Live ingest jobs by state, each job's state and its restarts, for alerting on one job
    stuck in backoff. Read from the supervisor's snapshot, so ingest needs no extra code."""
    jobs = ingest.snapshot() if ingest is not None else []
    by_state = GaugeMetricFamily(
        "market_ingest_jobs", "Live exchange ingest jobs by state.", labels=["state"]
    )
    tally = Tally(job["state"] for job in jobs)
    for state in sorted(set(JOB_STATES) | set(tally)):
        by_state.add_metric([state], tally.get(state, 0))
    yield by_state
    state = GaugeMetricFamily(
        "market_ingest_job_state",
        "1 for each ingest job's current state (0 for the others).",
        labels=["series_id", "state"],
    )
    restarts = CounterMetricFamily(
        "market_ingest_job_restarts",
        "Times an ingest job failed and was restarted since it started.",
        labels=["series_id"],
    )
    for job in jobs:
        for s in JOB_STATES:
            state.add_metric([job["series_id"], s], 1 if job["state"] == s else 0)
        restarts.add_metric([job["series_id"]], job["crashes"])
    yield state
    yield restarts


class PrometheusExport:
    """One app's `/metrics`: Canvas's metrics plus the standard `process_*` ones."""

    def __init__(self, metrics: MetricsRegistry, ingest: IngestSource) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(CanvasCollector(metrics, ingest))
        ProcessCollector(registry=self.registry)

    def render(self) -> bytes:
        """The exposition text (format 0.0.4) of everything registered."""
        return generate_latest(self.registry)
