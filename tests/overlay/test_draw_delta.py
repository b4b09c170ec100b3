"""`draw_delta` and `frame` replies read from the stored catalog (§5, §6)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from overlay_reference import instructions_at
from overlay_support import (
    SID,
    TF,
    append,
    flat,
    new_series,
    params_st,
    walks,
    wave_params_st,
    waves,
)

from canvas.errors import LedgerOutOfSync, NoData, PipelineFailed
from canvas.factors.base import AnalyticsParams
from canvas.factors.engine import FactorEngine

VECTOR = flat([2, 4, 1, 5, 2, 3])
PARAMS = AnalyticsParams(pivot_window_major=1, pivot_window_minor=5)


def test_empty_series_reply():
    _, sa = new_series(PARAMS, [])
    assert sa.draw_delta(7, 2000) == {
        "schema_version": 1,
        "series_id": SID,
        "to_candle_id": None,
        "to_candle_time": None,
        "active_ids": [],
        "instruction_catalog_patch": [],
        "series_points": {},
        "next_cursor": {"version_id": 7, "point_time": None},
    }


def test_reply_at_head_then_cursor_gives_empty_patch():
    _, sa = new_series(PARAMS, VECTOR)
    reply = sa.draw_delta(0, 2000)
    assert reply["to_candle_time"] == 360
    assert reply["to_candle_id"] == f"{SID}:360"
    patch = reply["instruction_catalog_patch"]
    ids = [p["version_id"] for p in patch]
    assert ids == sorted(ids) and reply["next_cursor"] == {
        "version_id": ids[-1],
        "point_time": None,
    }
    assert [p["visible_time"] for p in patch] == sorted(p["visible_time"] for p in patch)
    assert set(patch[0]) == {"version_id", "instruction_id", "kind", "visible_time", "definition"}
    assert reply["active_ids"] == [
        "anchor.current",
        "anchor.switch:300:1:strong_pen",
        "pen.candidate",
        "pen.confirmed",
        "pen.extending",
        "pivot.major:120:resistance:1",
        "pivot.major:180:support:1",
        "pivot.major:240:resistance:1",
        "pivot.major:300:support:1",
    ]
    again = sa.draw_delta(reply["next_cursor"]["version_id"], 2000)
    assert again["instruction_catalog_patch"] == []
    assert again["next_cursor"] == reply["next_cursor"]


def test_past_at_time_never_skips_versions():
    _, sa = new_series(PARAMS, VECTOR)
    past = sa.draw_delta(0, 2000, at_time=329)  # aligns to 300
    assert past["to_candle_time"] == 300
    assert all(p["visible_time"] <= 300 for p in past["instruction_catalog_patch"])
    later = sa.draw_delta(past["next_cursor"]["version_id"], 2000)
    whole = sa.draw_delta(0, 2000)
    combined = past["instruction_catalog_patch"] + later["instruction_catalog_patch"]
    assert combined == whole["instruction_catalog_patch"]
    # Before any version: the cursor stays, nothing is sent.
    early = sa.draw_delta(0, 2000, at_time=60)
    assert early["instruction_catalog_patch"] == [] and early["next_cursor"]["version_id"] == 0
    # Before the first candle: the empty reply.
    assert sa.draw_delta(3, 2000, at_time=10)["to_candle_time"] is None


def test_window_filters_active_ids_by_drawn_times():
    _, sa = new_series(PARAMS, VECTOR)
    # [360 - 60, 360]: markers at 120..240 fall out; 300 stays; each pen polyline has a
    # point in range except pen.confirmed (120, 180, 240) and anchor.current (180, 240).
    assert sa.draw_delta(0, 1)["active_ids"] == [
        "anchor.switch:300:1:strong_pen",
        "pen.candidate",
        "pen.extending",
        "pivot.major:300:support:1",
    ]


def test_overlay_behind_is_409_and_catch_up_fixes_it():
    conn, sa = new_series(PARAMS, VECTOR[:5])

    def fail(step):
        if step == "overlay.ingest_closed":
            raise RuntimeError("boom")

    sa.fault_hook = fail
    with pytest.raises(PipelineFailed) as info:
        append(conn, sa, VECTOR[5:])
    assert info.value.step == "overlay.ingest_closed"
    assert info.value.body() == {
        "detail": "market.ingest_pipeline_failed",
        "step": "overlay.ingest_closed",
        "series_id": SID,
    }
    assert (sa.factor_head_time, sa.overlay_head_time) == (360, 300)
    with pytest.raises(LedgerOutOfSync) as out:
        sa.draw_delta(0, 2000)
    assert out.value.detail == "ledger_out_of_sync:overlay" and out.value.status == 409
    assert sa.draw_delta(0, 2000, at_time=300)["to_candle_time"] == 300
    sa.fault_hook = None
    sa.catch_up()
    assert sa.draw_delta(0, 2000)["to_candle_time"] == 360


def test_frame_vector():
    bars = flat([(k % 5) + 1 for k in range(13)])  # 60 .. 780
    _, sa = new_series(AnalyticsParams(pivot_window_major=1, pivot_window_minor=1), bars)
    frame = sa.frame(777, 2000)
    assert frame["schema_version"] == 1 and frame["series_id"] == SID
    assert frame["time"] == {"at_time": 777, "aligned_time": 720, "candle_id": f"{SID}:720"}
    assert frame["factor_slices"]["candle_id"] == f"{SID}:720"
    assert frame["draw_state"]["to_candle_id"] == f"{SID}:720"
    for snap in frame["factor_slices"]["snapshots"].values():
        assert snap["meta"]["candle_id"] == f"{SID}:720"
    assert frame["draw_state"] == sa.draw_delta(0, 2000, at_time=720)
    live = sa.frame(None, 2000)
    assert live["time"] == {"at_time": 780, "aligned_time": 780, "candle_id": f"{SID}:780"}


def test_frame_without_candles_is_no_data():
    _, sa = new_series(PARAMS, [])
    with pytest.raises(NoData):
        sa.frame(100, 2000)
    with pytest.raises(NoData):
        sa.frame(None, 2000)


@settings(max_examples=40, deadline=None)
@given(walks(max_len=40), params_st, st.integers(1, 12), st.randoms(use_true_random=False))
def test_active_ids_and_catalog_match_brute_force(bars, params, window, rnd):
    check_reads(bars, params, window, rnd)


@settings(max_examples=40, deadline=None)
@given(waves(40), wave_params_st, st.integers(1, 30), st.randoms(use_true_random=False))
def test_active_ids_and_catalog_match_brute_force_on_waves(bars, params, window, rnd):
    """Zhongshu boxes and anchor polylines come and go; reads follow the derivation."""
    check_reads(bars, params, window, rnd)


def check_reads(bars, params, window, rnd):
    _, sa = new_series(params, bars)
    engine = FactorEngine.create(params, TF)
    events, head, cursor, seen = [], {}, 0, {}
    for b in bars:
        evs, changed = engine.step(b)
        events += evs
        head = dict(changed).get("pen", head)
        t = b[0]
        expected = instructions_at(t, events, head, TF, params.overlay_window_candles, bars)
        lo = t - window * TF
        active = sorted(
            iid
            for iid, d in expected.items()
            if any(
                lo <= x <= t
                for x in (
                    [d["time"]] if d["type"] == "marker" else [p["time"] for p in d["points"]]
                )
            )
        )
        reply = sa.draw_delta(cursor, window, at_time=t + rnd.randint(0, TF - 1))
        assert reply["active_ids"] == active
        # A client following the cursor holds exactly the definitions of time t.
        for p in reply["instruction_catalog_patch"]:
            seen[p["instruction_id"]] = p["definition"]
        assert {i: seen[i] for i in expected} == expected
        cursor = reply["next_cursor"]["version_id"]
