"""Live ingest against the simulated exchange: backfill, streaming, faults cost nothing."""

from __future__ import annotations

import json

import httpx
import pytest
import trio
from helpers import eventually, http_client, recv_json, running_server, ws_client

from actors.restart import RestartPolicy
from canvas.exchange.binance import BinanceEndpoints
from canvas.exchange.rest import BinanceRest
from canvas.series_id import SeriesId
from canvas.simexchange import SimConfig, open_simexchange

SID = "binance:futures:BTC/USDT:1m"
START_MS = 1_735_689_630_000  # 2025-01-01 00:00:30 UTC
FAST = RestartPolicy(initial_s=0.05, factor=2.0, cap_s=0.2, jitter=0.0)


def canvas_settings(tmp_path, sim, **extra):
    (tmp_path / "whitelist.json").write_text(json.dumps({"series_ids": [SID]}))
    h = sim.handle
    settings = dict(
        ENABLE_INGEST=True,
        ENABLE_DEBUG_API=True,
        INGEST_BOOTSTRAP_CANDLES=30,
        BINANCE_SPOT_BASE_URL=h.spot_rest_base,
        BINANCE_FUTURES_BASE_URL=h.futures_rest_base,
        BINANCE_SPOT_WS_BASE_URL=h.spot_ws_base,
        BINANCE_FUTURES_WS_BASE_URL=h.futures_ws_base,
    )
    return settings | extra


def latest_closed(sim) -> int:
    return (sim.clock.now_ms() // 1000 // 60) * 60 - 60


async def wait_head(client: httpx.AsyncClient, want: int, timeout: float = 20) -> None:
    async def at_head():
        params = {"series_id": SID, "limit": 1}
        body = (await client.get("/api/market/candles", params=params)).json()
        return body["server_head_time"] == want

    await eventually(at_head, timeout)


async def ledger(client: httpx.AsyncClient) -> list[dict]:
    return (
        await client.get("/api/market/candles", params={"series_id": SID, "limit": 5000})
    ).json()["candles"]


async def exchange_closed(sim, first: int, last: int) -> list[dict]:
    endpoints = BinanceEndpoints(futures_rest=sim.handle.futures_rest_base)
    async with BinanceRest.open(endpoints) as rest:
        got = await rest.fetch_closed_range(SeriesId.parse(SID), first, last)
    return [c.as_json() for c in got.candles]


async def _in_state(client, state: str) -> bool:
    return state in await job_states(client)


async def job_states(client) -> list[str]:
    state = (await client.get("/api/market/debug/ingest_state")).json()
    return [j["state"] for j in state["jobs"]]


@pytest.mark.slow
async def test_bootstrap_stream_and_faults_leave_no_hole(tmp_path):
    async with open_simexchange(SimConfig(start_ms=START_MS, speed=0)) as sim:
        async with (
            running_server(tmp_path, **canvas_settings(tmp_path, sim)) as server,
            http_client(server) as client,
        ):
            server.deps.ingest.policy = FAST
            await wait_head(client, latest_closed(sim))
            assert len(await ledger(client)) == 30
            assert await job_states(client) == ["running"]
            async with ws_client(server) as ws:
                await ws.send_message(
                    json.dumps({"type": "subscribe", "series_id": SID, "since": latest_closed(sim)})
                )
                received: list[int] = []

                async def advance(minutes: int) -> None:
                    for _ in range(minutes):
                        await sim.wait_streams(1)
                        sim.clock.advance(60_000)
                        await wait_head(client, latest_closed(sim))

                await advance(2)
                # A dropped socket: the job reconnects and backfills what closed meanwhile.
                sim.drop_streams()
                sim.clock.advance(180_000)
                await wait_head(client, latest_closed(sim))
                # Malformed messages are counted and skipped.
                await sim.wait_streams(1)
                await sim.inject_malformed(3)
                await advance(1)
                # REST rate limiting during a reconnect backfill: Retry-After is honoured.
                sim.rate_limit(2, status=429, retry_after=0.05)
                sim.drop_streams()
                sim.clock.advance(120_000)
                await wait_head(client, latest_closed(sim))
                # Refused connections: the job sits in backoff and recovers.
                await sim.refuse_connections()
                sim.clock.advance(120_000)
                await eventually(lambda: _in_state(client, "backoff"))
                await sim.accept_connections()
                await wait_head(client, latest_closed(sim))
                head = latest_closed(sim)
                with trio.fail_after(10):
                    while not received or received[-1] != head:
                        m = await recv_json(ws)
                        assert m["type"] in ("candle_closed", "candles_batch", "candle_forming"), m
                        if m["type"] == "candle_closed":
                            received.append(m["candle"]["candle_time"])
                        elif m["type"] == "candles_batch":
                            received.extend(c["candle_time"] for c in m["candles"])
            stored = await ledger(client)
            times = [c["candle_time"] for c in stored]
            assert times == list(range(times[0], head + 60, 60))  # no hole, no forming candle
            assert stored == await exchange_closed(sim, times[0], head)
            first_live = START_MS // 1000 // 60 * 60  # the first bucket closed after subscribing
            assert received == list(range(first_live, head + 60, 60))
            state = (await client.get("/api/market/debug/ingest_state")).json()
            [job] = state["jobs"]
            assert job["series_id"] == SID and job["pinned"] is True
            assert job["crashes"] >= 3 and job["malformed_messages"] >= 3
            assert job["state"] == "running"


async def test_ingest_disabled_starts_no_job(tmp_path):
    async with open_simexchange(SimConfig(start_ms=START_MS, speed=0)) as sim:
        settings = canvas_settings(tmp_path, sim, ENABLE_INGEST=False)
        async with running_server(tmp_path, **settings) as server, http_client(server) as client:
            async with ws_client(server) as ws:
                await ws.send_message(
                    json.dumps({"type": "subscribe", "series_id": "binance:spot:ETH/USDT:1m"})
                )
                # Frames are handled in order: once this one is answered, the subscribe is done.
                await ws.send_message("{}")
                assert (await recv_json(ws))["message"] == "missing message type"
            state = (await client.get("/api/market/debug/ingest_state")).json()
            assert state["jobs"] == []


@pytest.mark.slow
async def test_ondemand_jobs_refcount_and_capacity(tmp_path):
    async with open_simexchange(SimConfig(start_ms=START_MS, speed=0)) as sim:
        settings = canvas_settings(tmp_path, sim, ONDEMAND_MAX_JOBS=1, ONDEMAND_IDLE_TTL_S=0.3)
        (tmp_path / "whitelist.json").write_text('{"series_ids": []}')
        async with running_server(tmp_path, **settings) as server, http_client(server) as client:
            eth1, eth5, btc = (
                "binance:spot:ETH/USDT:1m",
                "binance:spot:ETH/USDT:5m",
                "binance:spot:BTC/USDT:1m",
            )
            async with ws_client(server) as a, ws_client(server) as b:
                await a.send_message(
                    json.dumps({"type": "subscribe", "series_id": eth1, "since": 10**10})
                )
                await b.send_message(
                    json.dumps({"type": "subscribe", "series_id": eth5, "since": 10**10})
                )
                for ws in (a, b):  # a round trip on each socket: its subscribe is done
                    await ws.send_message("{}")
                    await recv_json(ws)
                jobs = (await client.get("/api/market/debug/ingest_state")).json()["jobs"]
                assert [(j["series_id"], j["refcount"], j["pinned"]) for j in jobs] == [
                    (eth1, 2, False)
                ]
                await b.send_message(json.dumps({"type": "subscribe", "series_id": btc}))
                err = await recv_json(b)
                assert err == {
                    "type": "error",
                    "code": "capacity",
                    "message": "ondemand_ingest_capacity",
                    "series_id": btc,
                }

            # Both connections closed: the job idles out after the TTL.
            async def no_jobs():
                state = await client.get("/api/market/debug/ingest_state")
                return not state.json()["jobs"]

            await eventually(no_jobs)


async def test_restart_mid_stream_and_backfill_health(tmp_path):
    async with open_simexchange(SimConfig(start_ms=START_MS, speed=0)) as sim:
        settings = canvas_settings(tmp_path, sim)
        async with running_server(tmp_path, **settings) as server, http_client(server) as client:
            await wait_head(client, latest_closed(sim))
            h = (await client.get("/api/market/health", params={"series_id": SID})).json()
            assert h["backfill"]["state"] == "succeeded"
            assert h["backfill"]["start_missing_candles"] == 30
            assert h["backfill"]["progress_pct"] == 100
            await sim.wait_streams(1)
            sim.clock.advance(60_000)
            await wait_head(client, latest_closed(sim))
        # Canvas is down while the exchange moves on; a new process catches up from its head.
        sim.clock.advance(300_000)
        async with running_server(tmp_path, **settings) as server, http_client(server) as client:
            await wait_head(client, latest_closed(sim))
            await sim.wait_streams(1)
            sim.clock.advance(60_000)
            head = latest_closed(sim)
            await wait_head(client, head)
            stored = await ledger(client)
            times = [c["candle_time"] for c in stored]
            assert times == list(range(times[0], head + 60, 60))
            assert stored == await exchange_closed(sim, times[0], head)
