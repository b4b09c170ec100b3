"""The runtime metrics registry: §2.7 snapshot shape and its Prometheus exposition."""

from __future__ import annotations

import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client.parser import text_string_to_metric_families

from canvas.metrics import MetricsRegistry, metric_key
from canvas.metrics_export import PrometheusExport


def prometheus_text(reg: MetricsRegistry, ingest: object = None) -> str:
    return PrometheusExport(reg, lambda: ingest).render().decode()


def families(text: str) -> dict[str, tuple[str, list[tuple[str, dict[str, str], float]]]]:
    """Parse with the reference parser: family name → (type, [(sample, labels, value)])."""
    return {
        f.name: (f.type, [(s.name, dict(s.labels), s.value) for s in f.samples])
        for f in text_string_to_metric_families(text)
    }


def test_keys_sort_labels_without_quotes() -> None:
    reg = MetricsRegistry()
    c = reg.counter("market_ws_subscribe_total", result="ok", series_id="binance:spot:BTC/USDT:1m")
    assert c.key == "market_ws_subscribe_total{result=ok,series_id=binance:spot:BTC/USDT:1m}"
    assert reg.counter("market_ws_payloads_total").key == "market_ws_payloads_total"
    assert metric_key("x", (("a", "1"), ("b", "2"))) == "x{a=1,b=2}"


def test_same_name_and_labels_give_the_same_handle() -> None:
    reg = MetricsRegistry()
    a = reg.gauge("g", b="2", a="1")
    assert reg.gauge("g", a="1", b="2") is a
    assert reg.gauge("g", b="2", a="1") is a
    assert reg.gauge("g", a="1") is not a


def test_snapshot_shape() -> None:
    reg = MetricsRegistry()
    ok = reg.counter("market_ingest_closed_requests_total", result="ok")
    ok.inc()
    ok.inc(2)
    reg.counter("market_ingest_closed_requests_total", result="error")
    lag = reg.gauge("market_query_head_lag_seconds", series_id="binance:spot:BTC/USDT:1m")
    lag.set(42)
    subs = reg.gauge("market_ws_active_subscriptions")
    subs.inc()
    subs.inc()
    subs.dec()
    t = reg.timer("market_ingest_closed_duration_ms", result="ok")
    t.observe_ms(2.0)
    t.observe_ms(6.0)
    reg.timer("market_ws_subscribe_duration_ms", result="ok")
    assert reg.snapshot(1_700_000_000_123) == {
        "enabled": True,
        "updated_at_ms": 1_700_000_000_123,
        "counters": {
            "market_ingest_closed_requests_total{result=error}": 0.0,
            "market_ingest_closed_requests_total{result=ok}": 3.0,
        },
        "gauges": {
            "market_query_head_lag_seconds{series_id=binance:spot:BTC/USDT:1m}": 42.0,
            "market_ws_active_subscriptions": 1.0,
        },
        "timers": {
            "market_ingest_closed_duration_ms{result=ok}": {
                "count": 2,
                "total_ms": 8.0,
                "max_ms": 6.0,
                "avg_ms": 4.0,
            },
            "market_ws_subscribe_duration_ms{result=ok}": {
                "count": 0,
                "total_ms": 0.0,
                "max_ms": 0.0,
                "avg_ms": 0.0,
            },
        },
    }


def test_timer_context_manager_and_observe_since() -> None:
    reg = MetricsRegistry()
    t = reg.timer("op_duration_ms")
    with t.time():
        pass
    with pytest.raises(RuntimeError), t.time():
        raise RuntimeError("the block's failure is still timed")
    t0 = time.perf_counter()
    t.observe_since(t0)
    assert t.count == 3
    assert 0.0 <= t.max_ms <= t.total_ms < 1000.0


def test_disabled_registry_is_a_no_op() -> None:
    reg = MetricsRegistry.disabled()
    c = reg.counter("anything goes here, it is never checked", x="1")
    c.inc()
    g = reg.gauge("g")
    g.set(5)
    g.inc()
    g.dec()
    t = reg.timer("t")
    t.observe_ms(3)
    t.observe_since(time.perf_counter())
    with t.time():
        pass
    assert (c.value, g.value, t.count) == (0.0, 0.0, 0)
    # The no-op handles are shared: resolving them allocates nothing.
    assert reg.counter("a") is reg.counter("b", y="2")
    assert t.time() is t.time()
    reg.remove(c)
    assert reg.snapshot(5) == {
        "enabled": False,
        "updated_at_ms": 5,
        "counters": {},
        "gauges": {},
        "timers": {},
    }
    assert not [f for f in families(prometheus_text(reg)) if f.startswith("market_query")]


def test_names_are_checked_once_at_resolution() -> None:
    reg = MetricsRegistry()
    with pytest.raises(ValueError, match="bad metric name"):
        reg.counter("has space")
    with pytest.raises(ValueError, match="bad label name"):
        reg.counter("ok", **{"bad-label": "x"})
    with pytest.raises(ValueError, match="bad label name"):
        reg.counter("ok", __reserved="x")
    reg.counter("requests_total")
    with pytest.raises(ValueError, match="is a counter"):
        reg.gauge("requests_total")
    reg.timer("op_ms")
    with pytest.raises(ValueError, match="collides"):
        reg.gauge("op_seconds_bucket")
    reg.counter("other_seconds_count")
    with pytest.raises(ValueError, match="collides"):
        reg.timer("other_ms")


def test_remove_forgets_a_labelled_metric() -> None:
    reg = MetricsRegistry()
    g = reg.gauge("lag", series_id="a")
    keep = reg.gauge("lag", series_id="b")
    g.set(1)
    reg.remove(g)
    assert list(reg.snapshot(0)["gauges"]) == ["lag{series_id=b}"]
    assert reg.gauge("lag", series_id="a") is not g
    assert reg.gauge("lag", series_id="b") is keep
    t = reg.timer("t_ms")
    reg.remove(t)
    reg.remove(t)
    assert reg.snapshot(0)["timers"] == {}


def test_prometheus_text_parses_with_the_reference_parser() -> None:
    reg = MetricsRegistry()
    reg.counter("market_ws_subscribe_total", result="ok").inc(3)
    reg.counter("market_ws_subscribe_total", result="capacity").inc()
    reg.counter("market_ws_catchup_candles_total").inc(7)
    reg.gauge("market_ingest_last_candle_time", series_id="binance:futures:BTC/USDT:1m").set(
        1735689600
    )
    t = reg.timer("market_query_candles_duration_ms", result="ok")
    t.observe_ms(1.5)
    t.observe_ms(4.5)
    t.observe_ms(20_000)
    text = prometheus_text(reg)
    # Every family is documented and typed; durations are in seconds, as a histogram.
    assert "# HELP market_query_candles_duration_seconds Time to answer" in text
    assert "# TYPE market_query_candles_duration_seconds histogram\n" in text
    assert "_duration_ms" not in text and "_duration_ms_max" not in text
    parsed = families(text)
    # The parser names a counter family without its `_total` suffix.
    assert parsed["market_ws_subscribe"] == (
        "counter",
        [
            ("market_ws_subscribe_total", {"result": "capacity"}, 1.0),
            ("market_ws_subscribe_total", {"result": "ok"}, 3.0),
        ],
    )
    assert parsed["market_ws_catchup_candles"][1][0][2] == 7.0
    assert parsed["market_ingest_last_candle_time"] == (
        "gauge",
        [
            (
                "market_ingest_last_candle_time",
                {"series_id": "binance:futures:BTC/USDT:1m"},
                1735689600.0,
            )
        ],
    )
    kind, samples = parsed["market_query_candles_duration_seconds"]
    assert kind == "histogram"
    by_sample = {(n, lab.get("le")): v for n, lab, v in samples}
    assert by_sample[("market_query_candles_duration_seconds_count", None)] == 3
    assert by_sample[("market_query_candles_duration_seconds_sum", None)] == pytest.approx(20.006)
    assert by_sample[("market_query_candles_duration_seconds_bucket", "0.001")] == 0
    assert by_sample[("market_query_candles_duration_seconds_bucket", "0.0025")] == 1
    assert by_sample[("market_query_candles_duration_seconds_bucket", "0.005")] == 2
    assert by_sample[("market_query_candles_duration_seconds_bucket", "10.0")] == 2
    assert by_sample[("market_query_candles_duration_seconds_bucket", "+Inf")] == 3
    # The standard process metrics come along.
    assert "process_cpu_seconds" in parsed and "process_resident_memory_bytes" in parsed


class _Ingest:
    def __init__(self, jobs: list[dict]) -> None:
        self.jobs = jobs

    def snapshot(self) -> list[dict]:
        return self.jobs


def test_ingest_jobs_by_state_and_restarts() -> None:
    ingest = _Ingest(
        [
            {"series_id": "binance:spot:A/USDT:1m", "state": "backoff", "crashes": 4},
            {"series_id": "binance:spot:B/USDT:1m", "state": "running", "crashes": 0},
            {"series_id": "binance:spot:C/USDT:1m", "state": "running", "crashes": 1},
        ]
    )
    parsed = families(prometheus_text(MetricsRegistry(), ingest))
    jobs = {lab["state"]: v for _, lab, v in parsed["market_ingest_jobs"][1]}
    assert jobs == {"starting": 0, "running": 2, "backoff": 1, "stopped": 0}
    stuck = [
        lab["series_id"]
        for _, lab, v in parsed["market_ingest_job_state"][1]
        if lab["state"] == "backoff" and v == 1
    ]
    assert stuck == ["binance:spot:A/USDT:1m"]
    restarts = {lab["series_id"]: v for _, lab, v in parsed["market_ingest_job_restarts"][1]}
    assert restarts["binance:spot:A/USDT:1m"] == 4
    assert parsed["market_ingest_job_restarts"][0] == "counter"
    # Without an ingest supervisor the per-state gauge is still there, all zero.
    empty = families(prometheus_text(MetricsRegistry()))
    assert {v for _, _, v in empty["market_ingest_jobs"][1]} == {0}


def test_prometheus_special_values() -> None:
    reg = MetricsRegistry()
    reg.gauge("g", k="nan").set(float("nan"))
    reg.gauge("g", k="inf").set(float("inf"))
    reg.gauge("g", k="-inf").set(float("-inf"))
    samples = {s[1]["k"]: s[2] for s in families(prometheus_text(reg))["g"][1]}
    assert samples["inf"] == float("inf")
    assert samples["-inf"] == float("-inf")
    assert samples["nan"] != samples["nan"]


@pytest.mark.slow
@settings(max_examples=150, deadline=None, database=None)
@given(st.lists(st.text(max_size=20), min_size=1, max_size=5, unique=True))
def test_label_values_round_trip_through_escaping(values: list[str]) -> None:
    reg = MetricsRegistry()
    for i, v in enumerate(values):
        reg.counter("events_total", v=v).inc(i + 1)
    parsed = families(prometheus_text(reg))["events"][1]
    assert sorted((labels["v"], value) for _, labels, value in parsed) == sorted(
        (v, float(i + 1)) for i, v in enumerate(values)
    )
