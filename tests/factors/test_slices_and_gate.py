"""`slices` (§4.4) and the logic-hash gate, stale ingest and rebuild (§4.5)."""

from __future__ import annotations

import pytest
from factor_support import SID, TF, analytics, flat, ledger, new_db, one_shot, stored_bars, write

from canvas.errors import LedgerOutOfSync, NoData, PipelineFailed, StaleFactorLogic
from canvas.factors import store as factor_store
from canvas.factors.base import AnalyticsParams
from canvas.factors.registry import factor_names, logic_hash
from canvas.factors.slices import build_slices

PIVOT_VECTOR = flat([1, 2, 5, 2, 1])
PIVOT_PARAMS = AnalyticsParams(pivot_window_major=2, pivot_window_minor=5)
PEN_VECTOR = flat([2, 4, 1, 5, 2, 3])
PEN_PARAMS = AnalyticsParams(pivot_window_major=1, pivot_window_minor=5)


def ingested(bars, params, **kw):
    conn = new_db()
    sa = analytics(conn, params, **kw)
    for b in bars:
        sa.after_store(write(conn, [b]))
    return conn, sa


def test_pivot_vector_slices():
    _, sa = ingested(PIVOT_VECTOR, PIVOT_PARAMS)
    at_240 = sa.slices(240, 2000)
    assert at_240 == {
        "schema_version": 1,
        "series_id": SID,
        "at_time": 240,
        "candle_id": f"{SID}:240",
        "factors": [],
        "snapshots": {},
    }
    at_300 = sa.slices(300, 2000)
    assert at_300["factors"] == ["pivot"]
    assert at_300["snapshots"]["pivot"] == {
        "schema_version": 1,
        "history": {
            "major": [
                {
                    "pivot_time": 180,
                    "pivot_price": 5.0,
                    "direction": "resistance",
                    "visible_time": 300,
                    "window": 2,
                }
            ],
            "minor": [],
        },
        "head": {},
        "meta": {
            "series_id": SID,
            "epoch": 0,
            "at_time": 300,
            "candle_id": f"{SID}:300",
            "factor_name": "pivot",
        },
    }


def test_slices_align_to_the_store_floor_and_window_is_a_time_span():
    _, sa = ingested(PEN_VECTOR, PEN_PARAMS)
    reply = sa.slices(395, 2000)
    assert (reply["at_time"], reply["candle_id"]) == (360, f"{SID}:360")
    assert reply["factors"] == ["pivot", "pen", "anchor"]
    pen = reply["snapshots"]["pen"]
    assert [p["visible_time"] for p in pen["history"]["confirmed"]] == [300, 360]
    assert pen["head"]["extending"]["end_time"] == 300
    # window 1 at 360 keeps visible_time in [300, 360]: the first major drops out.
    narrow = sa.slices(360, 1)
    majors = narrow["snapshots"]["pivot"]["history"]["major"]
    assert [m["visible_time"] for m in majors] == [300, 360]
    # window 0 would be invalid at the web layer; a 1-candle window at 240 has no pen.
    assert sa.slices(240, 1)["factors"] == ["pivot"]


def test_no_candle_at_or_before_at_time_is_the_empty_reply():
    _, sa = ingested(PEN_VECTOR, PEN_PARAMS)
    assert sa.slices(59, 10) == {
        "schema_version": 1,
        "series_id": SID,
        "at_time": 59,
        "candle_id": None,
        "factors": [],
        "snapshots": {},
    }


def test_factor_head_behind_is_409():
    conn, sa = ingested(PEN_VECTOR[:4], PEN_PARAMS)

    def fail(step):
        if step == "factor.ingest_closed":
            raise RuntimeError("boom")

    sa.fault_hook = fail
    with pytest.raises(PipelineFailed):
        sa.after_store(write(conn, PEN_VECTOR[4:]))
    with pytest.raises(LedgerOutOfSync) as info:
        sa.slices(360, 2000)
    assert info.value.detail == "ledger_out_of_sync:factor"
    assert sa.slices(240, 2000)["at_time"] == 240


def test_gate_details_and_stale_ingest_then_rebuild():
    conn, sa = ingested(PEN_VECTOR[:4], PEN_PARAMS)
    assert sa.stored_logic_hash == logic_hash(PEN_PARAMS)
    sa.check_gate()
    other = AnalyticsParams(pivot_window_major=2, pivot_window_minor=1)
    stale = analytics(conn, other)
    assert stale.is_stale and stale.factor_head_time == 240
    stored, current = logic_hash(PEN_PARAMS), logic_hash(other)
    detail = f"stale_factor_logic_hash:mismatch:{stored[:12]}:{current[:12]}"
    for read in (
        lambda: stale.check_gate(),
        lambda: stale.slices(240, 10),
        lambda: stale.draw_delta(0, 10),
        lambda: stale.frame(240, 10),
    ):
        with pytest.raises(StaleFactorLogic) as info:
            read()
        assert info.value.detail == detail and info.value.status == 409
    # Ingest keeps storing but leaves the stale ledger alone.
    before = ledger(conn)
    assert stale.after_store(write(conn, PEN_VECTOR[4:])) is None
    assert stale.factor_head_time == 240 and ledger(conn) == before
    reply = stale.rebuild(include_overlay=True)
    assert reply == {
        "ok": True,
        "series_id": SID,
        "rebuilt_to_time": 360,
        "factor_logic_hash": current,
        "include_overlay": True,
    }
    assert not stale.is_stale and stale.stored_logic_hash == current
    stale.check_gate()
    assert ledger(conn) == one_shot(stored_bars(conn), other)[0]
    assert (stale.factor_head_time, stale.overlay_head_time) == (360, 360)


def test_rebuild_without_overlay_then_catch_up():
    conn, _sa = ingested(PEN_VECTOR, PEN_PARAMS)
    same_output = analytics(conn, AnalyticsParams(pivot_window_major=1, pivot_window_minor=1))
    same_output.rebuild(include_overlay=False)
    # Nothing differs, so the catalog stays valid.
    assert same_output.overlay_head_time == 360
    other = AnalyticsParams(pivot_window_major=2, pivot_window_minor=1)
    fresh = analytics(conn, other)
    fresh.rebuild(include_overlay=False)
    # The old catalog differs from the new ledger from its first change on.
    assert fresh.overlay_head_time is not None and fresh.overlay_head_time < 360
    with pytest.raises(LedgerOutOfSync):
        fresh.draw_delta(0, 10)
    fresh.catch_up()
    assert ledger(conn) == one_shot(stored_bars(conn), other)[0]


def test_rebuild_needs_candles():
    _, sa = ingested([], PEN_PARAMS)
    with pytest.raises(NoData):
        sa.rebuild(include_overlay=True)


def test_missing_hash_with_a_head_is_stale():
    conn, _ = ingested(PEN_VECTOR, PEN_PARAMS)
    with conn:
        conn.execute("UPDATE factor_series_state SET logic_hash = NULL")
    sa = analytics(conn, PEN_PARAMS)
    assert sa.is_stale
    with pytest.raises(StaleFactorLogic) as info:
        sa.slices(360, 10)
    assert info.value.detail == "stale_factor_logic_hash:missing"


def test_no_gate_without_a_factor_head():
    conn = new_db()
    write(conn, PEN_VECTOR)
    sa = analytics(conn, AnalyticsParams())
    sa.check_gate()
    with pytest.raises(LedgerOutOfSync):
        sa.slices(360, 10)


def test_first_ingest_writes_the_hash():
    conn, sa = ingested(PEN_VECTOR[:1], AnalyticsParams(logic_override="v7"))
    row = conn.execute("SELECT head_time, logic_hash FROM factor_series_state").fetchone()
    assert row == (60, logic_hash(AnalyticsParams(logic_override="v7")))
    assert sa.factor_head_time == 60 and TF == 60


def test_only_builds_the_named_views_from_the_same_windows():
    conn, _ = ingested(PEN_VECTOR, PEN_PARAMS)
    t = PEN_VECTOR[-1][0]
    windows = {
        name: (factor_store.window_events(conn, name, 0, t), factor_store.head_at(conn, name, t))
        for name in factor_names()
    }
    full = build_slices(SID, t, windows)
    assert full["factors"][:2] == ["pivot", "pen"]
    part = build_slices(SID, t, windows, only={"pen"})
    assert part["factors"] == ["pen"]
    assert part["snapshots"] == {"pen": full["snapshots"]["pen"]}
