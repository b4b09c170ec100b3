"""Package assembly (§7.5) against the live reads it must reproduce, on random series."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from replay_support import (
    SID,
    TF,
    active_sets,
    analysed,
    bar_series,
    catalog_at,
    decoded,
    frame_at,
    package_for,
    params_st,
    plan_for,
    walk,
    wave_params_st,
    waves,
    without_meta,
)

from canvas.factors.base import AnalyticsParams
from canvas.replay import ledger_read
from canvas.replay.package import PackageSpec, build_package, cache_key, window_bounds
from canvas.replay.plan import BuildPlan


def spec_over(bars, wc: int, ws: int, si: int) -> PackageSpec:
    """A package ending at the last bar; unlike a planned build it may span gaps."""
    return PackageSpec(SID, TF, bars[-1][0], wc, ws, si)


def check_package(conn, sa, spec: PackageSpec, package) -> None:
    """Every window of `package` against §7.5 and against the live reads at every bar."""
    bars = ledger_read.read_factor_rows(conn, spec).bars
    total = len(bars)
    assert package.metadata["total_candles"] == total
    assert package.metadata["from_candle_time"] == bars[0][0]
    assert package.metadata["to_candle_time"] == bars[-1][0]
    windows = decoded(package)
    assert len(windows) == -(-total // spec.window_size)
    shown: dict[str, dict | None] = {}
    for index, (w, records) in enumerate(windows):
        start, end = index * spec.window_size, min(total, (index + 1) * spec.window_size)
        assert (w["window_index"], w["start_idx"], w["end_idx"]) == (index, start, end)
        assert [tuple(k.values()) for k in w["kline"]] == [tuple(b) for b in bars[start:end]]
        assert [c["at_idx"] for c in w["draw_active_checkpoints"]] == [
            i for i in range(start, end) if i == start or i % spec.snapshot_interval == 0
        ]
        assert all(
            start < d["at_idx"] < end and (d["add_ids"] or d["remove_ids"])
            for d in w["draw_active_diffs"]
        )
        assert records == sorted(records, key=lambda r: (r["candle_time"], r["factor_name"]))
        t_start, t_end = bars[start][0], bars[end - 1][0]
        inside = [r for r in records if r["candle_time"] >= t_start]
        before = [r for r in records if r["candle_time"] < t_start]
        assert all(r["candle_time"] <= t_end for r in inside)
        # Baselines: exactly the latest record of each factor seen before this window.
        assert {r["factor_name"]: r for r in before} == {
            name: rec for name, rec in shown.items() if rec is not None
        } | {}
        assert len({r["factor_name"] for r in before}) == len(before)
        for rec in inside:
            prev = shown.get(rec["factor_name"])
            snap = rec["snapshot"]
            if snap is None:
                assert prev is not None and prev["snapshot"] is not None
            else:
                assert snap["meta"]["at_time"] == rec["candle_time"]
                assert (
                    prev is None
                    or prev["snapshot"] is None
                    or (
                        (snap["history"], snap["head"])
                        != (prev["snapshot"]["history"], prev["snapshot"]["head"])
                    )
                )
            shown[rec["factor_name"]] = rec
        actives = active_sets(w)
        for idx in range(start, end):
            t = bars[idx][0]
            live = sa.slices(t, spec.window_candles)
            assert without_meta(frame_at(records, t)) == without_meta(live["snapshots"])
            draw = sa.draw_delta(0, spec.window_candles, t)
            assert actives[idx] == draw["active_ids"]
            # The cursor-0 read is a snapshot of the active ids (§5 rev 4); the package's
            # catalog holds every instruction, so they agree on the active ones.
            drawn = {e["instruction_id"]: e for e in draw["instruction_catalog_patch"]}
            held = catalog_at(w, t)
            assert {i: held[i] for i in draw["active_ids"]} == drawn
        assert all(e["visible_time"] <= t_start for e in w["draw_catalog_base"])
        assert all(t_start < e["visible_time"] <= t_end for e in w["draw_catalog_patch"])


@pytest.mark.slow
@settings(max_examples=100)
@given(
    bars=bar_series(min_len=1, max_len=60),
    params=params_st,
    # Short slice windows make factors drop out (null records) and markers leave.
    wc=st.one_of(st.integers(1, 10), st.integers(1, 70)),
    ws=st.integers(1, 25),
    si=st.integers(1, 8),
)
def test_package_reproduces_live_reads(bars, params, wc, ws, si):
    conn, sa = analysed(bars, params)
    spec = spec_over(bars, wc, ws, si)
    rows = ledger_read.read_factor_rows(conn, spec)
    package = build_package(spec, ledger_read.package_inputs(conn, spec, rows))
    check_package(conn, sa, spec, package)


@settings(max_examples=40)
@given(
    bars=waves(60).filter(bool),
    params=wave_params_st,
    wc=st.integers(1, 70),
    ws=st.integers(1, 25),
    si=st.integers(1, 8),
)
def test_package_reproduces_live_reads_on_waves(bars, params, wc, ws, si):
    """The zhongshu and anchor snapshots and drawings too (they form and die on waves)."""
    conn, sa = analysed(bars, params)
    spec = spec_over(bars, wc, ws, si)
    rows = ledger_read.read_factor_rows(conn, spec)
    package = build_package(spec, ledger_read.package_inputs(conn, spec, rows))
    check_package(conn, sa, spec, package)


@pytest.mark.slow
@pytest.mark.parametrize("seed", [11, 12])
def test_long_walk_with_default_like_windows(seed):
    bars = walk(900, seed=seed)
    params = AnalyticsParams(pivot_window_major=8, pivot_window_minor=3, overlay_window_candles=150)
    conn, sa = analysed(bars, params)
    plan = plan_for(sa, conn, wc=400, ws=120, si=25)
    package = package_for(conn, plan)
    check_package(conn, sa, plan.spec, package)
    kinds = {r["factor_name"] for _, recs in decoded(package) for r in recs}
    assert kinds == {"pivot", "pen", "zhongshu", "anchor"}


def test_a_factor_dropping_out_gets_a_null_record():
    # W_major=1: the pivots of the 4-1 swing leave a 2-candle slice window as flat bars pass.
    bars = [(60 * k, p, p, p, p, 1.0) for k, p in enumerate([2, 4, 1, 1, 1, 1, 1], start=1)]
    conn, sa = analysed(bars, AnalyticsParams(pivot_window_major=1, pivot_window_minor=1))
    plan = plan_for(sa, conn, wc=2, ws=3, si=2)
    package = package_for(conn, plan)
    records = [r for _, recs in decoded(package) for r in recs]
    pivot = [
        (r["candle_time"], r["snapshot"] is None) for r in records if r["factor_name"] == "pivot"
    ]
    assert pivot[-2:] == [(360, False), (420, True)]
    check_package(conn, sa, plan.spec, package)


def test_window_bounds():
    assert window_bounds(0, 50, 100) == (0, 0, 50)
    assert window_bounds(49, 50, 100) == (0, 0, 50)
    assert window_bounds(50, 50, 100) == (1, 50, 100)
    assert window_bounds(104, 50, 105) == (2, 100, 105)


def test_cache_key_is_canonical_and_short():
    a = cache_key({"b": 1, "a": [1, 2]})
    assert a == cache_key({"a": [1, 2], "b": 1}) and len(a) == 24
    assert a != cache_key({"a": [1, 2], "b": 2})


def test_build_package_needs_a_bar():
    spec = PackageSpec(SID, TF, 600, 5, 5, 5)
    empty = ledger_read.FactorRows([], {}, {})
    with pytest.raises(ValueError):
        build_package(
            spec, ledger_read.package_inputs(analysed([], AnalyticsParams())[0], spec, empty)
        )


def test_stored_json_is_compact_and_plain():
    bars = walk(40, seed=1)
    conn, sa = analysed(bars, AnalyticsParams(pivot_window_major=2, pivot_window_minor=1))
    package = package_for(conn, plan_for(sa, conn, wc=40))
    for w in package.windows:
        assert b", " not in w.window[:200] and b": " not in w.window[:200]
        json.loads(w.snapshots)
    assert isinstance(plan_for(sa, conn, wc=40), BuildPlan)
