"""A failure inside one service's task is contained: the server keeps serving (issue 12)."""

from __future__ import annotations

import pytest
from helpers import SID, candle, eventually, http_client, ingest, running_server

from actors import rollup
from actors.coverage import CoverageService


async def test_coverage_job_failure_is_contained(tmp_path, monkeypatch):
    real = CoverageService._fetch
    calls = []

    async def broken_once(self, job):
        calls.append(job.job_id)
        if len(calls) == 1:
            raise RuntimeError("injected coverage failure")
        return await real(self, job)

    monkeypatch.setattr(CoverageService, "_fetch", broken_once)
    async with running_server(tmp_path) as server, http_client(server) as client:
        await ingest(client, SID, candle(60))
        body = {"series_id": SID, "target_candles": 5, "to_time": 60}
        r = await client.post("/api/replay/ensure_coverage", json=body)
        job_id = r.json()["job_id"]

        async def final():
            r = await client.get("/api/replay/coverage_status", params={"job_id": job_id})
            return r.json() if r.json()["status"] != "building" else None

        failed = await eventually(final)
        assert failed["status"] == "error"
        assert failed["error"] == "internal_error: RuntimeError"
        # The server still serves, and the service runs the next job (here: ingest is off).
        r = await client.get("/api/market/candles", params={"series_id": SID})
        assert [c["candle_time"] for c in r.json()["candles"]] == [60]
        r = await client.post("/api/replay/ensure_coverage", json=body)
        assert r.json()["status"] == "building"
        again = await eventually(final)
        assert again["error"] == "coverage_missing: ingest_disabled"


@pytest.mark.slow
async def test_rollup_failure_is_contained_and_the_worker_recovers(tmp_path, monkeypatch):
    b1, b5 = "binance:spot:ETH/USDT:1m", "binance:spot:ETH/USDT:5m"
    real = rollup.read_rollup
    calls = []

    def broken_once(*args):
        calls.append(args)
        if len(calls) == 1:
            raise OSError("injected roll-up failure")
        return real(*args)

    async with running_server(tmp_path) as server, http_client(server) as client:
        await ingest(client, b1, *[candle(t) for t in range(0, 600, 60)])
        r = await client.get("/api/market/candles", params={"series_id": b5})
        assert [c["candle_time"] for c in r.json()["candles"]] == [0, 300]
        monkeypatch.setattr(rollup, "read_rollup", broken_once)
        await ingest(client, b1, *[candle(t) for t in range(600, 900, 60)])

        async def failed_once():
            return bool(calls)

        await eventually(failed_once)
        # The server still serves; the restarted worker rolls the next bucket up.
        await ingest(client, b1, *[candle(t) for t in range(900, 1200, 60)])

        async def rolled_up():
            r = await client.get("/api/market/candles", params={"series_id": b5})
            return 900 in [c["candle_time"] for c in r.json()["candles"]]

        await eventually(rolled_up)
        assert len(calls) >= 2
