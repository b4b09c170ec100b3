"""Replay over HTTP on a real server: the whole flow, restarts, concurrency, bad input."""

from __future__ import annotations

import threading
from typing import Any

import httpx
import pytest
import trio
from helpers import http_client, ingest
from replay_support import SID, active_sets, frame_at, replay_server, walk, without_meta

PIVOTS = {"PIVOT_WINDOW_MAJOR": 3, "PIVOT_WINDOW_MINOR": 2}


def as_candle(bar: tuple) -> dict[str, Any]:
    t, o, h, low, c, v = bar
    return {"candle_time": t, "open": o, "high": h, "low": low, "close": c, "volume": v}


async def ingest_bars(client: httpx.AsyncClient, bars: list[tuple]) -> None:
    await ingest(client, SID, *[as_candle(b) for b in bars], publish=False)


async def wait_status(client: httpx.AsyncClient, job_id: str, want: str = "done") -> dict:
    with trio.fail_after(20):
        while True:
            r = await client.get("/api/replay/status", params={"job_id": job_id})
            assert r.status_code == 200, r.text
            if r.json()["status"] != "building":
                assert r.json()["status"] == want, r.json()
                return r.json()
            await trio.sleep(0.02)


async def window(client: httpx.AsyncClient, job_id: str, target: Any) -> httpx.Response:
    return await client.get("/api/replay/window", params={"job_id": job_id, "target_idx": target})


BUILD = {"series_id": SID, "window_candles": 100, "window_size": 50, "snapshot_interval": 5}


@pytest.mark.slow
async def test_whole_flow_matches_live_reads(tmp_path):
    bars = walk(110, seed=3)
    head = bars[-1][0]
    async with replay_server(tmp_path, **PIVOTS) as server, http_client(server) as client:
        await ingest_bars(client, bars)
        r = await client.post(
            "/api/replay/prepare",
            json={"series_id": SID, "to_time": head + 59, "window_candles": 7},
        )
        assert r.json() == {
            "ok": True,
            "series_id": SID,
            "requested_time": head + 59,
            "aligned_time": head,
            "window_candles": 100,
            "factor_head_time": head,
            "overlay_head_time": head,
            "computed": False,
        }
        r = await client.post("/api/replay/build", json=BUILD)
        first = r.json()
        job = first["job_id"]
        assert r.status_code == 200 and first["status"] in ("building", "done")
        assert first["cache_key"] == job and len(job) == 24 and int(job, 16) >= 0
        status = await wait_status(client, job)
        assert status["metadata"] == {
            "schema_version": 1,
            "series_id": SID,
            "timeframe_s": 60,
            "total_candles": 100,
            "from_candle_time": bars[10][0],
            "to_candle_time": head,
            "window_size": 50,
            "snapshot_interval": 5,
            "preload_offset": 0,
            "idx_to_time": "replay_kline_bars.candle_time",
            "factor_schema": [
                {"factor_name": "pivot", "history_keys": ["major", "minor"], "head_keys": []},
                {
                    "factor_name": "pen",
                    "history_keys": ["confirmed"],
                    "head_keys": ["extending", "candidate"],
                },
                {"factor_name": "zhongshu", "history_keys": ["dead"], "head_keys": ["alive"]},
                {
                    "factor_name": "anchor",
                    "history_keys": ["anchors", "switches"],
                    "head_keys": ["current_anchor_ref"],
                },
            ],
        }
        assert "preload_window" not in status
        again = await client.post("/api/replay/build", json=BUILD)
        assert again.json()["status"] == "done" and again.json()["job_id"] == job

        windows = {}
        for target, index in ((0, 0), (49, 0), (50, 1), (99, 1)):
            r = await window(client, job, target)
            assert r.status_code == 200, r.text
            body = r.json()
            assert body["job_id"] == job
            w = body["window"]
            assert (w["window_index"], w["start_idx"], w["end_idx"]) == (
                index,
                50 * index,
                50 * index + 50,
            )
            windows[index] = body
        preload = await client.get(
            "/api/replay/status", params={"job_id": job, "include_preload": "1"}
        )
        assert preload.json()["preload_window"] == windows[1]["window"]
        assert {k: v for k, v in preload.json().items() if k != "preload_window"} == status

        for index, body in windows.items():
            w, records = body["window"], body["factor_snapshots"]
            assert [k["time"] for k in w["kline"]] == [b[0] for b in bars[10 + 50 * index :][:50]]
            assert records == sorted(records, key=lambda r: (r["candle_time"], r["factor_name"]))
            actives = active_sets(w)
            for idx in range(w["start_idx"], w["end_idx"]):
                t = bars[10 + idx][0]
                q = {"series_id": SID, "at_time": t, "window_candles": 100}
                live = (await client.get("/api/factor/slices", params=q)).json()
                assert without_meta(frame_at(records, t)) == without_meta(live["snapshots"])
                for rec in records:
                    if rec["candle_time"] == t and rec["snapshot"] is not None:
                        assert rec["snapshot"] == live["snapshots"][rec["factor_name"]]
                draw = (await client.get("/api/draw/delta", params=q)).json()
                assert actives[idx] == draw["active_ids"]
        assert any(
            r["factor_name"] == "pen" for b in windows.values() for r in b["factor_snapshots"]
        )


async def test_window_and_status_errors(tmp_path):
    async with replay_server(tmp_path, **PIVOTS) as server, http_client(server) as client:
        await ingest_bars(client, walk(30, seed=5))
        r = await client.post("/api/replay/build", json={**BUILD, "window_candles": 30})
        job = (await wait_status(client, r.json()["job_id"]))["job_id"]
        for bad in (30, -1, 10**12):
            r = await window(client, job, bad)
            assert (r.status_code, r.json()) == (422, {"detail": "target_idx_out_of_range"})
        for bad in ("x", "1.5", ""):
            r = await window(client, job, bad)
            assert r.status_code == 422 and isinstance(r.json()["detail"], list)
        r = await client.get("/api/replay/window", params={"job_id": job})
        assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["query", "target_idx"]
        r = await client.get("/api/replay/window", params={"target_idx": 0})
        assert r.status_code == 422
        for path, params in (
            ("/api/replay/window", {"job_id": "nope", "target_idx": 0}),
            ("/api/replay/status", {"job_id": "nope"}),
            ("/api/replay/status", {"job_id": "nope", "include_preload": "1"}),
        ):
            r = await client.get(path, params=params)
            assert (r.status_code, r.json()) == (404, {"detail": "not_found"})
        r = await client.get("/api/replay/status", params={"job_id": job, "include_preload": "2"})
        assert r.status_code == 422
        r = await client.get("/api/replay/status", params={"job_id": job, "include_preload": "0"})
        assert r.json()["status"] == "done" and "preload_window" not in r.json()


async def test_body_validation_and_contract_errors(tmp_path):
    bars = walk(30, seed=9)
    async with replay_server(tmp_path, **PIVOTS) as server, http_client(server) as client:
        empty = await client.post("/api/replay/prepare", json={"series_id": SID})
        assert (empty.status_code, empty.json()) == (404, {"detail": "no_data"})
        empty = await client.post("/api/replay/build", json={"series_id": SID})
        assert (empty.status_code, empty.json()) == (404, {"detail": "no_data"})
        await ingest_bars(client, bars)
        for route in ("prepare", "build"):
            for body in (
                {},
                {"series_id": 5},
                {"series_id": SID, "to_time": "1"},
                {"series_id": SID, "to_time": -1},
                {"series_id": SID, "to_time": 10**19},
                {"series_id": SID, "to_time": 1.5},
                {"series_id": SID, "window_candles": 0},
                {"series_id": SID, "window_candles": 5001},
                {"series_id": SID, "window_candles": True},
                [SID],
            ):
                r = await client.post(f"/api/replay/{route}", json=body)
                assert r.status_code == 422 and isinstance(r.json()["detail"], list), (body, r.text)
            r = await client.post(
                f"/api/replay/{route}", content=b"{nope", headers={"Content-Type": "application/json"}
            )
            assert r.status_code == 422
            r = await client.post(f"/api/replay/{route}", json={"series_id": "BTCUSDT"})
            assert r.status_code == 400 and r.json()["detail"].startswith("invalid series_id")
            r = await client.post(f"/api/replay/{route}", json={"series_id": SID, "to_time": 5})
            assert (r.status_code, r.json()) == (404, {"detail": "no_data"})
        for extra in (
            {"window_size": 0},
            {"window_size": 2001},
            {"snapshot_interval": 0},
            {"snapshot_interval": 201},
            {"snapshot_interval": "5"},
        ):
            r = await client.post("/api/replay/build", json={"series_id": SID, **extra})
            assert r.status_code == 422, extra
        r = await client.post("/api/replay/build", json={"series_id": SID, "window_candles": 31})
        assert (r.status_code, r.json()) == (409, {"detail": "coverage_missing"})
        # to_time aligns down to a stored candle; with 30 stored, 30 fit exactly.
        r = await client.post(
            "/api/replay/build",
            json={"series_id": SID, "window_candles": 30, "to_time": bars[-1][0] + 10},
        )
        assert r.status_code == 200 and r.json()["status"] in ("building", "done")
        await wait_status(client, r.json()["job_id"])
        r = await client.post(
            "/api/replay/prepare", json={"series_id": SID, "window_candles": None}
        )
        assert r.json()["window_candles"] == 2000 and r.json()["requested_time"] == bars[-1][0]
        r = await client.post(
            "/api/replay/prepare", json={"series_id": SID, "window_candles": 5000}
        )
        assert r.json()["window_candles"] == 5000
        r = await client.post("/api/replay/prepare", json={"series_id": SID, "to_time": 10**18 - 1})
        assert r.json()["aligned_time"] == bars[-1][0]


async def test_logic_hash_gate_comes_first(tmp_path):
    bars = walk(30, seed=2)
    async with replay_server(tmp_path, **PIVOTS) as server, http_client(server) as client:
        await ingest_bars(client, bars)
    stale = replay_server(tmp_path, FACTOR_LOGIC_VERSION="v2", **PIVOTS)
    async with stale as server, http_client(server) as client:
        for route, body in (
            ("prepare", {"series_id": SID, "to_time": 1}),
            ("build", {"series_id": SID, "window_candles": 5000}),
        ):
            r = await client.post(f"/api/replay/{route}", json=body)
            assert r.status_code == 409
            assert r.json()["detail"].startswith("stale_factor_logic_hash:mismatch:")


async def test_packages_survive_a_restart(tmp_path):
    bars = walk(60, seed=4)
    build = {**BUILD, "window_candles": 60, "window_size": 25}
    async with replay_server(tmp_path, **PIVOTS) as server, http_client(server) as client:
        await ingest_bars(client, bars)
        r = await client.post("/api/replay/build", json=build)
        job = r.json()["job_id"]
        status = await wait_status(client, job)
        windows = [(await window(client, job, i)).content for i in (0, 30, 59)]
    async with replay_server(tmp_path, **PIVOTS) as server, http_client(server) as client:
        r = await client.get("/api/replay/status", params={"job_id": job})
        assert r.json() == status
        assert [(await window(client, job, i)).content for i in (0, 30, 59)] == windows
        r = await client.post("/api/replay/build", json=build)
        assert r.json() == {
            "status": "done",
            "job_id": job,
            "cache_key": job,
            "metadata": status["metadata"],
        }
        # A new candle moves the head, so the same request names a new package.
        await ingest_bars(client, walk(61, seed=4)[-1:])
        r = await client.post("/api/replay/build", json=build)
        assert r.json()["job_id"] != job
        await wait_status(client, r.json()["job_id"])


def blocking_hook(release: threading.Event, entered: list[str]):
    """A build hook holding each build inside its read transaction until released (or
    cancelled: the hook runs in the build's worker thread)."""

    def hook(job_id: str) -> None:
        entered.append(job_id)
        while not release.wait(0.01):
            trio.from_thread.check_cancelled()

    return hook


async def test_builds_respect_the_limit_while_ingest_goes_on(tmp_path):
    bars = walk(120, seed=8)
    release, entered = threading.Event(), []
    async with replay_server(tmp_path, REPLAY_MAX_CONCURRENT_BUILDS=1, **PIVOTS) as server:
        runner = server.deps.replay
        runner.build_hook = blocking_hook(release, entered)
        try:
            async with http_client(server) as client:
                await ingest_bars(client, bars)
                jobs = []
                for size in (50, 40, 30):
                    r = await client.post("/api/replay/build", json={**BUILD, "window_size": size})
                    assert r.json()["status"] == "building"
                    jobs.append(r.json()["job_id"])
                with trio.fail_after(10):
                    while not (entered and runner.statistics().waiting == 2):
                        await trio.sleep(0.01)
                stats = runner.statistics()
                assert (stats.running, stats.building, stats.max_concurrent) == (1, 3, 1)
                # One build sits inside its read transaction: the series still ingests and
                # answers reads.
                more = walk(125, seed=8)[120:]
                with trio.fail_after(5):
                    for bar in more:
                        await ingest(client, SID, as_candle(bar))
                    r = await client.get(
                        "/api/factor/slices", params={"series_id": SID, "at_time": more[-1][0]}
                    )
                assert r.status_code == 200 and r.json()["at_time"] == more[-1][0]
                for job in jobs:
                    r = await client.get("/api/replay/status", params={"job_id": job})
                    assert r.json()["status"] == "building"
                release.set()
                for job in jobs:
                    meta = (await wait_status(client, job))["metadata"]
                    assert meta["to_candle_time"] == bars[-1][0]
                assert runner.statistics().peak_running == 1 and len(entered) == 3
        finally:
            release.set()


async def test_a_build_cut_off_by_shutdown_is_an_error_after_restart(tmp_path):
    bars = walk(40, seed=6)
    release, entered = threading.Event(), []
    async with replay_server(tmp_path, **PIVOTS) as server, http_client(server) as client:
        server.deps.replay.build_hook = blocking_hook(release, entered)
        await ingest_bars(client, bars)
        r = await client.post("/api/replay/build", json={**BUILD, "window_candles": 40})
        job = r.json()["job_id"]
        with trio.fail_after(10):
            while not entered:
                await trio.sleep(0.01)
    async with replay_server(tmp_path, **PIVOTS) as server, http_client(server) as client:
        r = await client.get("/api/replay/status", params={"job_id": job})
        assert r.json() == {
            "status": "error",
            "job_id": job,
            "cache_key": job,
            "error": "interrupted",
        }
        assert (await window(client, job, 0)).status_code == 404
        # An errored job is built again on request.
        r = await client.post("/api/replay/build", json={**BUILD, "window_candles": 40})
        assert r.json() == {"status": "building", "job_id": job, "cache_key": job}
        await wait_status(client, job)
