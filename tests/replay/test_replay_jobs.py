"""The replay job runner and its database: persistence, recovery, retention, deadlines."""

from __future__ import annotations

import threading

import trio
from replay_support import SID, TF, walk

from actors.replay_jobs import ReplayRunner
from canvas.factors.base import AnalyticsParams
from canvas.factors.pipeline import SeriesAnalytics
from canvas.replay import store
from canvas.replay.jobs import BUILDING, DONE, ERROR, JobRecord, evictions
from canvas.replay.package import PackageWindow
from canvas.replay.plan import plan_build
from canvas.storage import candle_ledger
from canvas.storage.db import open_db, series_db_path

PARAMS = AnalyticsParams(pivot_window_major=2, pivot_window_minor=1)


def rec(job_id, status=DONE, at=0.0, size=0):
    finished = None if status == BUILDING else at
    return JobRecord(job_id, SID, status, at, finished_at=finished, size_bytes=size)


def test_evictions_age_then_size_oldest_first():
    records = [
        rec("old", at=0, size=10),
        rec("err", ERROR, at=1),
        rec("a", at=50, size=40),
        rec("b", at=60, size=40),
        rec("c", at=70, size=40),
        rec("run", BUILDING, at=0),
    ]
    assert evictions(records, now=100, max_bytes=1000, max_age_s=99.5) == ["old"]
    assert evictions(records, now=100, max_bytes=1000, max_age_s=98) == ["old", "err"]
    assert evictions(records, now=100, max_bytes=80, max_age_s=1000) == ["old", "a"]
    assert evictions(records, now=100, max_bytes=30, max_age_s=1000, keep="c") == ["old", "a", "b"]
    assert evictions(records, now=10**6, max_bytes=0, max_age_s=1, keep="c") == [
        "old",
        "err",
        "a",
        "b",
    ]


def test_recover_marks_cut_off_builds_interrupted(tmp_path):
    path = store.replay_db_path(tmp_path)
    conn = store.open_replay_db(path)
    store.put_package(conn, rec("done1", size=3), [PackageWindow(0, b"{}", b"[]")])
    store.put_job(conn, rec("cut", BUILDING, at=5))
    conn.close()
    conn = store.open_replay_db(path)
    records = {r.job_id: r for r in store.recover(conn, now=9)}
    assert records["cut"].status == ERROR and records["cut"].error == "interrupted"
    assert records["cut"].finished_at == 9
    assert records["done1"].status == DONE
    assert store.read_window(conn, "done1", 0) == (b"{}", b"[]")
    assert store.read_window(conn, "done1", 0, with_snapshots=False) == (b"{}", b"")
    assert store.read_window(conn, "cut", 0) is None
    conn.close()


def series_on_disk(data_dir, n=60):
    conn = open_db(series_db_path(data_dir, SID))
    sa = SeriesAnalytics(conn, SID, TF, PARAMS)
    bars = walk(n, seed=3)
    with conn:
        candle_ledger.upsert(conn, bars)
    sa.after_store(bars[0][0])
    return conn, sa


def planned(sa, conn, ws):
    return plan_build(
        sa, conn, to_time=None, window_candles=50, window_size=ws, snapshot_interval=5
    )


async def wait_finished(runner, job_id):
    with trio.fail_after(10):
        while runner.record(job_id).status == BUILDING:
            await trio.sleep(0.01)
    return runner.record(job_id)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_retention_runs_after_each_build_and_at_start(tmp_path):
    conn, sa = series_on_disk(tmp_path)
    clock = Clock()
    runner = ReplayRunner(str(tmp_path), max_bytes=10**9, max_age_s=100, clock=clock)
    async with trio.open_nursery() as nursery:
        await nursery.start(runner.run)
        first = planned(sa, conn, 10)
        runner.submit(first)
        done = await wait_finished(runner, first.job_id)
        assert done.status == DONE and done.window_count == 5 and done.size_bytes > 0
        # A package too large for the budget stays until the next build: its client can
        # read it once.
        runner.max_bytes = done.size_bytes - 1
        clock.now += 50
        second = planned(sa, conn, 20)
        runner.submit(second)
        assert (await wait_finished(runner, second.job_id)).status == DONE
        assert runner.record(first.job_id) is None
        assert await runner.read_window(first.job_id, 0) is None
        assert await runner.read_window(second.job_id, 2) is not None
        nursery.cancel_scope.cancel()
    clock.now += 101
    restarted = ReplayRunner(str(tmp_path), max_age_s=100, clock=clock)
    async with trio.open_nursery() as nursery:
        await nursery.start(restarted.run)
        assert restarted.record(second.job_id) is None
        assert restarted.statistics().jobs == 0
        nursery.cancel_scope.cancel()
    conn.close()


async def test_a_build_past_its_deadline_is_an_error(tmp_path):
    conn, sa = series_on_disk(tmp_path)
    release = threading.Event()

    def hook(job_id):
        while not release.wait(0.01):
            trio.from_thread.check_cancelled()

    runner = ReplayRunner(str(tmp_path), build_timeout_s=0.2, build_hook=hook)
    try:
        async with trio.open_nursery() as nursery:
            await nursery.start(runner.run)
            p = planned(sa, conn, 10)
            assert runner.submit(p) == {
                "status": "building",
                "job_id": p.job_id,
                "cache_key": p.job_id,
            }
            assert runner.submit(p)["status"] == "building"
            failed = await wait_finished(runner, p.job_id)
            assert (failed.status, failed.error) == (ERROR, "timeout")
            assert failed.status_reply() == {
                "status": "error",
                "job_id": p.job_id,
                "cache_key": p.job_id,
                "error": "timeout",
            }
            release.set()
            runner.submit(p)
            assert (await wait_finished(runner, p.job_id)).status == DONE
            nursery.cancel_scope.cancel()
    finally:
        release.set()
        conn.close()


def test_deleting_packages_shrinks_the_file(tmp_path):
    path = store.replay_db_path(tmp_path)
    conn = store.open_replay_db(path)
    big = [PackageWindow(i, b"w" * 200_000, b"[]") for i in range(10)]
    store.put_package(conn, rec("big", size=2_000_000), big)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
    assert path.stat().st_size > 2_000_000
    store.delete_jobs(conn, ["big"])
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
    assert path.stat().st_size < 100_000
    conn.close()


async def test_a_failure_outside_the_build_ends_only_its_job(tmp_path, monkeypatch):
    """An error the job's own handling cannot store (here: retention after the build) is
    contained: the runner's nursery, and so the server, keeps going and builds the next job."""
    conn, sa = series_on_disk(tmp_path)
    runner = ReplayRunner(str(tmp_path))
    real = ReplayRunner._collect_garbage
    failures = []

    async def broken_once(self, keep=None):
        if keep is not None and not failures:
            failures.append(keep)
            raise OSError("injected retention failure")
        return await real(self, keep)

    try:
        async with trio.open_nursery() as nursery:
            await nursery.start(runner.run)
            monkeypatch.setattr(ReplayRunner, "_collect_garbage", broken_once)
            first = planned(sa, conn, 10)
            runner.submit(first)
            assert (await wait_finished(runner, first.job_id)).status == DONE
            second = planned(sa, conn, 20)
            runner.submit(second)
            assert (await wait_finished(runner, second.job_id)).status == DONE
            assert failures == [first.job_id]
            nursery.cancel_scope.cancel()
    finally:
        conn.close()
