"""ensure_coverage / coverage_status (§7.2) against the simulated exchange."""

from __future__ import annotations

from helpers import candle, eventually, http_client, ingest, running_server

from canvas.simexchange import SimConfig, open_simexchange

SID = "binance:futures:BTC/USDT:1m"
START_MS = 1_735_689_630_000


def exchange_settings(sim, **extra):
    h = sim.handle
    return dict(
        BINANCE_SPOT_BASE_URL=h.spot_rest_base,
        BINANCE_FUTURES_BASE_URL=h.futures_rest_base,
        BINANCE_SPOT_WS_BASE_URL=h.spot_ws_base,
        BINANCE_FUTURES_WS_BASE_URL=h.futures_ws_base,
        **extra,
    )


async def wait_final(client, job_id):
    async def finished():
        r = await client.get("/api/replay/coverage_status", params={"job_id": job_id})
        assert r.status_code == 200
        return r.json() if r.json()["status"] != "building" else None

    return await eventually(finished, timeout=20)


async def test_backfills_range_from_exchange(tmp_path):
    async with open_simexchange(SimConfig(start_ms=START_MS, speed=0)) as sim:
        latest = START_MS // 1000 // 60 * 60 - 60
        async with (
            running_server(tmp_path, **exchange_settings(sim, ENABLE_INGEST=True)) as server,
            http_client(server) as client,
        ):
            body = {"series_id": SID, "target_candles": 120, "to_time": latest + 59}
            r = await client.post("/api/replay/ensure_coverage", json=body)
            job_id = f"coverage_{SID}:{latest}:120"
            assert r.json() == {"status": "building", "job_id": job_id}
            done = await wait_final(client, job_id)
            assert done == {
                "status": "done",
                "job_id": job_id,
                "candles_ready": 120,
                "required_candles": 120,
                "head_time": latest,
                "error": None,
            }
            r = await client.post("/api/replay/ensure_coverage", json=body)
            assert r.json() == {"status": "done", "job_id": job_id}
            candles = (
                await client.get("/api/market/candles", params={"series_id": SID, "limit": 5000})
            ).json()
            assert len(candles["candles"]) >= 120


async def test_without_exchange_the_count_decides(tmp_path):
    async with (
        running_server(tmp_path, ENABLE_INGEST=False) as server,
        http_client(server) as client,
    ):
        await ingest(client, SID, *[candle(t) for t in range(60, 60 * 11, 60)])
        body = {"series_id": SID, "target_candles": 20, "to_time": 600}
        r = await client.post("/api/replay/ensure_coverage", json=body)
        job_id = r.json()["job_id"]
        assert job_id == f"coverage_{SID}:600:20"
        out = await wait_final(client, job_id)
        assert out["status"] == "error" and out["error"].startswith("coverage_missing")
        assert out["candles_ready"] == 10 and out["required_candles"] == 20
        r = await client.post(
            "/api/replay/ensure_coverage",
            json={"series_id": SID, "target_candles": 10, "to_time": 600},
        )
        assert r.json()["status"] == "done"
        assert (
            await client.get("/api/replay/coverage_status", params={"job_id": "nope"})
        ).status_code == 404
        for bad in (
            {"series_id": SID, "target_candles": 0},
            {"series_id": SID, "target_candles": 5001},
            {"series_id": SID, "to_time": "x"},
            {"target_candles": 5},
        ):
            assert (await client.post("/api/replay/ensure_coverage", json=bad)).status_code == 422
        r = await client.post("/api/replay/ensure_coverage", json={"series_id": "bad"})
        assert r.status_code == 400
