"""The operator's view on a real server: health vectors, series_health, ingest_state, metrics."""

from __future__ import annotations

import json

from helpers import candle, http_client, ingest, recv_json, running_server, ws_client
from prometheus_client.parser import text_string_to_metric_families

B1 = "binance:spot:ETH/USDT:1m"
B5 = "binance:spot:ETH/USDT:5m"


async def test_gates(tmp_path):
    async with running_server(tmp_path) as server, http_client(server) as client:
        for path in (
            "/api/market/debug/series_health?series_id=" + B1,
            "/api/market/health?series_id=" + B1,
            "/api/market/debug/ingest_state",
            "/api/market/debug/metrics",
            "/metrics",
        ):
            r = await client.get(path)
            assert (r.status_code, r.json()) == (404, {"detail": "not_found"}), path
    async with (
        running_server(tmp_path, ENABLE_KLINE_HEALTH_V2=True) as server,
        http_client(server) as client,
    ):
        r = await client.get("/api/market/health", params={"series_id": B1})
        assert r.status_code == 200
        assert (await client.get("/api/market/debug/ingest_state")).status_code == 404
    async with (
        running_server(tmp_path, ENABLE_DEBUG_API=True) as server,
        http_client(server) as client,
    ):
        assert (await client.get("/metrics")).status_code == 404


async def test_series_health_vector(tmp_path):
    async with (
        running_server(tmp_path, ENABLE_DEBUG_API=True) as server,
        http_client(server) as client,
    ):
        empty = (
            await client.get("/api/market/debug/series_health", params={"series_id": B5})
        ).json()
        assert (
            empty["candle_count"],
            empty["head_time"],
            empty["recent_gaps"],
            empty["base_bucket_completeness"],
        ) == (0, None, [], [])
        await ingest(client, B1, *[candle(t) for t in (300, 360, 420, 540, 600, 660)])
        await ingest(client, B5, candle(300), candle(900))
        r = await client.get(
            "/api/market/debug/series_health", params={"series_id": B5, "recent_base_buckets": 2}
        )
        body = r.json()
        assert body["gap_count"] == 1 and body["max_gap_seconds"] == 600
        assert body["base_series_id"] == B1
        assert body["base_bucket_completeness"][-1] == {
            "bucket_open_time": 600,
            "expected_minutes": 5,
            "actual_minutes": 2,
            "missing_minutes": 3,
        }
        assert body["recent_gaps"] == [
            {"prev_time": 300, "next_time": 900, "delta_seconds": 600, "missing_candles": 1}
        ]
        for bad in (
            {"series_id": B5, "max_recent_gaps": 0},
            {"series_id": B5, "recent_base_buckets": 49},
        ):
            assert (
                await client.get("/api/market/debug/series_health", params=bad)
            ).status_code == 422


async def test_health_vectors(tmp_path):
    async with (
        running_server(tmp_path, ENABLE_KLINE_HEALTH_V2=True) as server,
        http_client(server) as client,
    ):

        async def health(now=960):
            r = await client.get("/api/market/health", params={"series_id": B5, "now_time": now})
            return r.json()

        h = await health()
        assert (h["status"], h["status_reason"], h["head_time"], h["lag_seconds"]) == (
            "red",
            "missing_head",
            None,
            None,
        )
        assert h["backfill"]["state"] == "idle"
        await ingest(client, B5, candle(300))
        h = await health()
        assert (
            h["status"],
            h["expected_latest_closed_time"],
            h["missing_seconds"],
            h["missing_candles"],
        ) == ("red", 600, 300, 1)
        await ingest(client, B5, candle(600))
        assert (await health())["status"] == "green"
        await ingest(client, B5, candle(900))
        h = await health()
        assert (h["status"], h["status_reason"]) == ("yellow", "head_ahead_of_closed_window")


async def test_ingest_state_and_metrics(tmp_path):
    async with (
        running_server(tmp_path, ENABLE_DEBUG_API=True, ENABLE_RUNTIME_METRICS=True) as server,
        http_client(server) as client,
    ):
        await ingest(client, B1, candle(60), candle(120))
        await ingest(client, B1, candle(180))
        r = await client.post(
            "/api/market/ingest/candle_closed", json={"series_id": B1, "candle": candle(181)}
        )
        assert r.status_code == 422
        await client.get("/api/market/candles", params={"series_id": B1})
        async with ws_client(server) as ws:
            await ws.send_message(json.dumps({"type": "subscribe", "series_id": B1, "since": 60}))
            await recv_json(ws)
            await recv_json(ws)
            state = (await client.get("/api/market/debug/ingest_state")).json()
            assert state["note"] == "debug snapshot (structure may change)"
            assert state["subscriptions"] == {B1: 1}
            [series] = state["series"]
            assert series["series_id"] == B1 and series["store_head_time"] == 180
            assert series["subscribers"] == 1 and series["mailbox_depth"] == 0
            snap = (await client.get("/api/market/debug/metrics")).json()
            assert snap["enabled"] is True
            counters, gauges, timers = snap["counters"], snap["gauges"], snap["timers"]
            assert counters["market_ingest_closed_requests_total{result=ok}"] == 2
            assert counters["market_ingest_closed_requests_total{result=error}"] == 1
            assert counters["market_query_candles_requests_total{result=ok}"] == 1
            assert counters["market_ws_subscribe_total{result=ok}"] == 1
            assert counters["market_ws_catchup_candles_total"] == 2
            assert counters["market_ws_payloads_total"] >= 2
            assert gauges["market_ws_active_subscriptions"] == 1
            assert gauges[f"market_ingest_last_candle_time{{series_id={B1}}}"] == 180
            assert f"market_query_head_lag_seconds{{series_id={B1}}}" in gauges
            assert timers["market_ingest_closed_duration_ms{result=ok}"]["count"] == 2
            text = (await client.get("/metrics")).text
            families = {f.name: f for f in text_string_to_metric_families(text)}
            samples = {
                (s.name, tuple(sorted(s.labels.items()))): s.value
                for f in families.values()
                for s in f.samples
            }
            assert samples[("market_ingest_closed_requests_total", (("result", "ok"),))] == 2
            assert samples[("market_ws_active_subscriptions", ())] == 1
