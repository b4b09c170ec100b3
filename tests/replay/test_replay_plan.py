"""Prepare and build planning (§7.1, §7.3) on a series' analytics, and the snapshot build."""

from __future__ import annotations

import pytest
from replay_support import SID, TF, analysed, walk

from canvas.errors import (
    Conflict,
    CoverageMissing,
    LedgerOutOfSync,
    NoData,
    PipelineFailed,
    StaleFactorLogic,
)
from canvas.factors.base import AnalyticsParams
from canvas.factors.pipeline import OVERLAY_STEP, SeriesAnalytics
from canvas.replay.plan import build_from_ledger, plan_build, prepare
from canvas.storage import candle_ledger
from canvas.storage.db import open_db, series_db_path

PARAMS = AnalyticsParams(pivot_window_major=2, pivot_window_minor=1, overlay_window_candles=30)


def plan(sa, conn, wc=20, ws=7, si=3, to_time=None):
    return plan_build(
        sa, conn, to_time=to_time, window_candles=wc, window_size=ws, snapshot_interval=si
    )


class Faults:
    """A fault hook failing the overlay step while `armed`."""

    def __init__(self) -> None:
        self.armed = False

    def __call__(self, step: str) -> None:
        if self.armed and step == OVERLAY_STEP:
            raise RuntimeError("overlay step failed")


def test_prepare_aligns_and_echoes():
    bars = walk(30, seed=1)
    conn, sa = analysed(bars, PARAMS)
    head = bars[-1][0]
    reply = prepare(sa, conn, to_time=head - 1, window_candles=5)
    assert reply == {
        "ok": True,
        "series_id": SID,
        "requested_time": head - 1,
        "aligned_time": bars[-2][0],
        "window_candles": 100,
        "factor_head_time": head,
        "overlay_head_time": head,
        "computed": False,
    }
    assert prepare(sa, conn, to_time=None, window_candles=2000)["requested_time"] == head
    with pytest.raises(NoData):
        prepare(sa, conn, to_time=bars[0][0] - 1, window_candles=100)
    with pytest.raises(NoData):
        prepare(None, None, to_time=None, window_candles=100)
    empty = open_db(":memory:")
    with pytest.raises(NoData):
        prepare(SeriesAnalytics(empty, SID, TF, PARAMS), empty, to_time=5, window_candles=100)


def test_prepare_brings_lagging_heads_up():
    bars = walk(30, seed=2)
    conn = open_db(":memory:")
    faults = Faults()
    sa = SeriesAnalytics(conn, SID, TF, PARAMS, fault_hook=faults)
    with conn:
        candle_ledger.upsert(conn, bars[:20])
    sa.after_store(bars[0][0])
    faults.armed = True
    with conn:
        candle_ledger.upsert(conn, bars[20:])
    with pytest.raises(PipelineFailed):
        sa.after_store(bars[20][0])
    assert sa.overlay_head_time == bars[19][0] and sa.factor_head_time == bars[-1][0]
    with pytest.raises(LedgerOutOfSync) as err:
        plan(sa, conn)
    assert err.value.detail == "ledger_out_of_sync:replay"
    # Still failing: prepare tries, then answers the contract's 409.
    with pytest.raises(LedgerOutOfSync) as err:
        prepare(sa, conn, to_time=None, window_candles=100)
    assert err.value.detail == "ledger_out_of_sync:overlay"
    # Aligned at or before the overlay head: nothing to compute.
    ok = prepare(sa, conn, to_time=bars[19][0], window_candles=100)
    assert ok["computed"] is False and ok["overlay_head_time"] == bars[19][0]
    faults.armed = False
    reply = prepare(sa, conn, to_time=None, window_candles=100)
    assert reply["computed"] is True and reply["overlay_head_time"] == bars[-1][0]


def test_gate_first_then_no_data_coverage_and_sync():
    bars = walk(30, seed=3)
    conn, sa = analysed(bars, PARAMS)
    stale = SeriesAnalytics(
        conn,
        SID,
        TF,
        AnalyticsParams(
            pivot_window_major=2,
            pivot_window_minor=1,
            overlay_window_candles=30,
            logic_override="other",
        ),
    )
    for call in (
        lambda: plan(stale, conn, wc=5000, to_time=0),
        lambda: prepare(stale, conn, to_time=0, window_candles=100),
    ):
        with pytest.raises(StaleFactorLogic) as err:
            call()
        assert err.value.detail.startswith("stale_factor_logic_hash:mismatch:")
    with pytest.raises(NoData):
        plan(sa, conn, to_time=bars[0][0] - 1)
    with pytest.raises(CoverageMissing):
        plan(sa, conn, wc=31)
    with pytest.raises(CoverageMissing):
        plan(sa, conn, wc=10, to_time=bars[5][0])
    assert plan(sa, conn, wc=30).spec.from_time == bars[0][0]


def test_gaps_in_the_range_are_missing_coverage():
    bars = walk(40, seed=4, gap_every=6)
    conn, sa = analysed(bars, PARAMS)
    times = [b[0] for b in bars]
    run = next(i for i in range(len(times) - 1, 0, -1) if times[i] - times[i - 1] > TF)
    ok = plan(sa, conn, wc=len(times) - run)
    assert ok.spec.from_time == times[run]
    with pytest.raises(CoverageMissing):
        plan(sa, conn, wc=len(times) - run + 1)


def test_cache_key_follows_what_the_package_reads():
    bars = walk(40, seed=5)
    conn, sa = analysed(bars, PARAMS)
    key = plan(sa, conn, to_time=bars[30][0]).cache_key
    assert plan(sa, conn, to_time=bars[30][0] + 30).cache_key == key
    others = {
        plan(sa, conn, to_time=bars[29][0]).cache_key,
        plan(sa, conn, to_time=bars[30][0], wc=21).cache_key,
        plan(sa, conn, to_time=bars[30][0], ws=8).cache_key,
        plan(sa, conn, to_time=bars[30][0], si=4).cache_key,
        plan(sa, conn).cache_key,
    }
    assert key not in others and len(others) == 5
    # Candles after the package's last bar do not change it.
    extra = walk(41, seed=5)[-1:]
    with conn:
        candle_ledger.upsert(conn, extra)
    sa.after_store(extra[0][0])
    assert plan(sa, conn, to_time=bars[30][0]).cache_key == key
    # A corrected candle inside it does.
    t, o, h, low, c, v = bars[25]
    with conn:
        candle_ledger.upsert(conn, [(t, o, h + 7, low, c, v)])
    sa.after_store(t)
    assert plan(sa, conn, to_time=bars[30][0]).cache_key != key


def file_series(tmp_path, bars):
    path = series_db_path(tmp_path, SID)
    conn = open_db(path)
    sa = SeriesAnalytics(conn, SID, TF, PARAMS)
    with conn:
        candle_ledger.upsert(conn, bars)
    sa.after_store(bars[0][0])
    return path, conn, sa


def test_build_reads_its_own_snapshot(tmp_path):
    bars = walk(50, seed=6)
    path, conn, sa = file_series(tmp_path, bars)
    p = plan(sa, conn, wc=40, ws=15)
    seen = []

    def hook(job_id):
        # The writer commits while the build holds its read transaction (WAL).
        more = walk(52, seed=6)[50:]
        with conn:
            candle_ledger.upsert(conn, more)
        sa.after_store(more[0][0])
        seen.append(job_id)

    package = build_from_ledger(path, p, hook=hook)
    assert seen == [p.job_id]
    assert package.metadata["to_candle_time"] == bars[-1][0]
    assert len(package.windows) == 3
    assert build_from_ledger(path, p).windows == package.windows


def test_build_refuses_a_changed_ledger(tmp_path):
    bars = walk(50, seed=7)
    path, conn, sa = file_series(tmp_path, bars)
    p = plan(sa, conn, wc=40)
    t, o, h, low, c, v = bars[45]
    with conn:
        candle_ledger.upsert(conn, [(t, o, h + 3, low, c, v)])
    with pytest.raises(Conflict) as err:
        build_from_ledger(path, p)
    assert err.value.detail == "ledger_changed"
    sa.after_store(t)
    with pytest.raises(Conflict):
        build_from_ledger(path, p)
    fresh = plan(sa, conn, wc=40)
    assert fresh.cache_key != p.cache_key
    assert build_from_ledger(path, fresh).metadata["total_candles"] == 40
