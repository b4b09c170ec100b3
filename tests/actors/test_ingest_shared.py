"""Shared exchange connections (CONTRACT §8 rev 4) against the simulated exchange: the ingest
supervisor and store-only series actors, without the HTTP front end."""

from __future__ import annotations

from contextlib import asynccontextmanager

import pytest
import trio
from helpers import eventually

from actors import messages as msg
from actors.directory import Directory
from actors.ingest_jobs import IngestSupervisor
from actors.restart import RestartPolicy
from actors.series_actor import ActorDeps
from canvas.exchange.binance import BinanceEndpoints
from canvas.exchange.rest import BinanceRest
from canvas.series_id import SeriesId
from canvas.simexchange import SimConfig, open_simexchange

START_MS = 1_735_689_630_000
FAST = RestartPolicy(initial_s=0.05, factor=2.0, cap_s=0.2, jitter=0.0)


def endpoints(sim) -> BinanceEndpoints:
    h = sim.handle
    return BinanceEndpoints(
        h.spot_rest_base, h.futures_rest_base, h.spot_ws_base, h.futures_ws_base
    )


@asynccontextmanager
async def supervisor(tmp_path, sim, whitelist: list[str], **options):
    deps = ActorDeps(data_dir=str(tmp_path), catchup_limit=5000, idle_ttl_s=60)
    async with trio.open_nursery() as nursery:
        directory = await nursery.start(Directory(deps).run)
        options = {
            "bootstrap_candles": 3,
            "max_backfill_candles": 50_000,
            "max_ondemand": 0,
            "idle_ttl_s": 60,
            "policy": FAST,
        } | options
        ingest = IngestSupervisor(directory, endpoints(sim), whitelist, True, (), **options)
        try:
            yield await nursery.start(ingest.run)
        finally:
            nursery.cancel_scope.cancel()


def latest_closed(sim) -> int:
    return (sim.clock.now_ms() // 1000 // 60) * 60 - 60


async def rows(ingest: IngestSupervisor, sid: str) -> list[tuple]:
    reply = await ingest.directory.ask(SeriesId.parse(sid), msg.QueryCandles(None, 5000))
    return [tuple(r) for r in reply.rows]


async def wait_heads(ingest: IngestSupervisor, sids: list[str], head: int) -> None:
    async def all_there():
        for sid in sids:
            got = await rows(ingest, sid)
            if not got or got[-1][0] != head:
                return False
        return True

    await eventually(all_there, timeout=30)


async def assert_exchange_equal(sim, ingest: IngestSupervisor, sids: list[str]) -> None:
    """Every ledger is contiguous and equals the exchange's closed candles over its range."""
    async with BinanceRest.open(endpoints(sim)) as rest:
        for sid in sids:
            stored = await rows(ingest, sid)
            times = [r[0] for r in stored]
            assert times == list(range(times[0], times[-1] + 60, 60)), sid
            want = await rest.fetch_closed_range(SeriesId.parse(sid), times[0], times[-1])
            assert stored == [c.as_row() for c in want.candles], sid


async def all_running(ingest: IngestSupervisor, count: int) -> None:
    async def running():
        states = [j["state"] for j in ingest.snapshot()]
        return len(states) == count and set(states) == {"running"}

    await eventually(running, timeout=60)


@asynccontextmanager
async def running(tmp_path, config: SimConfig, whitelist: list[str], **options):
    """A sim and a supervisor whose pinned jobs all run; (sim, supervisor)."""
    async with (
        open_simexchange(config) as sim,
        supervisor(tmp_path, sim, whitelist, **options) as ingest,
    ):
        await all_running(ingest, len(whitelist))
        yield sim, ingest


async def step_minutes(sim, ingest, sids, minutes: int) -> None:
    for _ in range(minutes):
        sim.clock.advance(60_000)
        await wait_heads(ingest, sids, latest_closed(sim))


@pytest.mark.slow
async def test_300_series_share_two_connections(tmp_path):
    symbols = tuple(f"C{i:03d}USDT" for i in range(300))
    sids = [f"binance:futures:C{i:03d}/USDT:1m" for i in range(300)]
    config = SimConfig(start_ms=START_MS, speed=0, symbols=symbols, extras=False)
    with trio.fail_after(90):
        async with running(tmp_path, config, sids) as (sim, ingest):
            stats = sim.statistics()
            assert (stats.open_streams, stats.kline_streams) == (2, 300)
            loads = sorted(c["streams"] for c in ingest.pools["futures"].statistics())
            assert loads == [100, 200]
            connections = {j["connection"] for j in ingest.snapshot()}
            assert len(connections) == 2
            await step_minutes(sim, ingest, sids, 1)
            await assert_exchange_equal(sim, ingest, sids)


@pytest.mark.slow
async def test_ondemand_join_and_leave_disturb_no_other_series(tmp_path):
    pinned = ["binance:futures:BTC/USDT:1m", "binance:futures:ETH/USDT:1m"]
    extra = [
        SeriesId.parse("binance:futures:SOL/USDT:1m"),
        SeriesId.parse("binance:futures:XRP/USDT:1m"),
    ]
    # The exchange closes a connection sending more than 5 control messages a second.
    config = SimConfig(start_ms=START_MS, speed=0, control_per_second=5)
    with trio.fail_after(30):
        async with running(tmp_path, config, pinned, idle_ttl_s=0.05) as (sim, ingest):
            for round_ in range(2):
                for i, series in enumerate(extra):
                    ingest.acquire(10 + i, series)
                await all_running(ingest, 4)
                assert sim.statistics().kline_streams == 4
                assert len({j["connection"] for j in ingest.snapshot()}) == 1
                await step_minutes(sim, ingest, pinned + [str(s) for s in extra], 1)
                for i, series in enumerate(extra):
                    ingest.release(10 + i, series)

                async def reaped():
                    return len(ingest.jobs) == 2 and sim.statistics().kline_streams == 2

                await eventually(reaped)
                await step_minutes(sim, ingest, pinned, 1)
            stats = sim.statistics()
            # One connection all along; joins and leaves went as control messages on it.
            assert (stats.open_streams, stats.connections_accepted) == (1, 1)
            assert stats.control_messages >= 4
            assert [j["crashes"] for j in ingest.snapshot()] == [0, 0]
            await assert_exchange_equal(sim, ingest, pinned)


async def test_dropped_shared_connection_backfills_every_series(tmp_path):
    sids = [f"binance:spot:{s}/USDT:1m" for s in ("BTC", "ETH", "BNB", "SOL")]
    config = SimConfig(start_ms=START_MS, speed=0)
    with trio.fail_after(30):
        async with running(tmp_path, config, sids) as (sim, ingest):
            await step_minutes(sim, ingest, sids, 1)
            assert sim.drop_streams() == 1
            sim.clock.advance(180_000)  # three buckets close while it is down
            await wait_heads(ingest, sids, latest_closed(sim))
            await all_running(ingest, 4)
            await step_minutes(sim, ingest, sids, 1)
            assert all(j["crashes"] >= 1 for j in ingest.snapshot())
            assert sim.statistics().open_streams == 1
            await assert_exchange_equal(sim, ingest, sids)


@pytest.mark.slow
async def test_connection_renewed_before_its_lifetime_without_a_gap(tmp_path):
    sids = ["binance:futures:BTC/USDT:1m", "binance:futures:ETH/USDT:1m"]
    # The exchange would close a connection after 3 s; Canvas renews after 0.3 s.
    config = SimConfig(start_ms=START_MS, speed=0, connection_lifetime_s=3.0)
    with trio.fail_after(30):
        async with running(tmp_path, config, sids, connection_lifetime_s=0.3) as (sim, ingest):
            first = {j["connection"] for j in ingest.snapshot()}
            pool = ingest.pools["futures"]
            for _ in range(3):
                # A bucket closes while no stream message flows; only the backfill that follows
                # each renewal can bring it (the successor's streams start after the close).
                sim.go_silent()
                sim.clock.advance(60_000)
                opened = pool.opened_total

                async def renewed(at_least=opened + 1):
                    return pool.opened_total >= at_least

                await eventually(renewed)
                sim.resume_streams()
                await wait_heads(ingest, sids, latest_closed(sim))
            assert {j["connection"] for j in ingest.snapshot()} != first
            # Renewal is not a failure: no job crashed, no stream was lost.
            assert [j["crashes"] for j in ingest.snapshot()] == [0, 0]
            await assert_exchange_equal(sim, ingest, sids)


@pytest.mark.slow
async def test_a_failed_job_reports_its_backoff_and_recovers(tmp_path, monkeypatch):
    sid = "binance:spot:BTC/USDT:1m"
    real = IngestSupervisor._backfill
    failures = []

    async def broken_once(self, job):
        if not failures:
            failures.append(job.series)
            raise RuntimeError("injected backfill failure")
        return await real(self, job)

    monkeypatch.setattr(IngestSupervisor, "_backfill", broken_once)
    slow = RestartPolicy(initial_s=1.0, factor=2.0, cap_s=1.0, jitter=0.0)
    config = SimConfig(start_ms=START_MS, speed=0)
    with trio.fail_after(30):
        async with (
            open_simexchange(config) as sim,
            supervisor(tmp_path, sim, [sid], policy=slow) as ingest,
        ):

            async def backing_off():
                jobs = ingest.snapshot()
                return jobs[0] if jobs and jobs[0]["state"] == "backoff" else None

            job = await eventually(backing_off)
            assert job["crashes"] == 1
            assert job["last_error"] == "RuntimeError: injected backfill failure"
            assert 0 < job["next_retry_in_s"] <= 1.0
            await all_running(ingest, 1)
            assert ingest.snapshot()[0]["next_retry_in_s"] is None
            await step_minutes(sim, ingest, [sid], 1)
