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
from canvas.overlay import store as overlay_store
from canvas.overlay.instructions import POLYLINE_IDS

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


def everything(sa, t: int) -> list[dict]:
    """Every version visible at `t`, as a client reading the whole history holds them."""
    return overlay_store.patch(sa.conn, 0, 2**62, t)


def latest_per_id(versions: list[dict], ids: list[str]) -> list[dict]:
    """The last version of each id in `ids`, ascending by version_id."""
    last = {v["instruction_id"]: v for v in versions}
    return sorted((last[i] for i in ids if i in last), key=lambda v: v["version_id"])


def test_reply_at_head_then_cursor_gives_empty_patch():
    _, sa = new_series(PARAMS, VECTOR)
    reply = sa.draw_delta(0, 2000)
    assert reply["to_candle_time"] == 360
    assert reply["to_candle_id"] == f"{SID}:360"
    patch = reply["instruction_catalog_patch"]
    ids = [p["version_id"] for p in patch]
    assert ids == sorted(ids) and reply["next_cursor"] == {
        "version_id": everything(sa, 360)[-1]["version_id"],
        "point_time": None,
    }
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
    # The snapshot: one entry per active id, its definition at the head.
    assert patch == latest_per_id(everything(sa, 360), reply["active_ids"])
    again = sa.draw_delta(reply["next_cursor"]["version_id"], 2000)
    assert again["instruction_catalog_patch"] == []
    assert again["next_cursor"] == reply["next_cursor"]


def test_snapshot_holds_only_what_is_drawn():
    _, sa = new_series(PARAMS, VECTOR)
    # A one-candle window at the head draws three instructions; the catalog holds more
    # versions, among them older pen.confirmed ones and markers out of the window.
    reply = sa.draw_delta(0, 1)
    patch = reply["instruction_catalog_patch"]
    assert [p["instruction_id"] for p in patch] != [] and len(patch) < len(everything(sa, 360))
    assert sorted(p["instruction_id"] for p in patch) == reply["active_ids"]
    assert patch == latest_per_id(everything(sa, 360), reply["active_ids"])


def test_past_at_time_never_skips_versions():
    _, sa = new_series(PARAMS, VECTOR)
    past = sa.draw_delta(0, 2000, at_time=329)  # aligns to 300
    assert past["to_candle_time"] == 300
    assert all(p["visible_time"] <= 300 for p in past["instruction_catalog_patch"])
    # The snapshot at a past time is the definitions at that time, not the head's.
    assert past["instruction_catalog_patch"] == latest_per_id(
        everything(sa, 300), past["active_ids"]
    )
    later = sa.draw_delta(past["next_cursor"]["version_id"], 2000)
    assert later["instruction_catalog_patch"] == [
        v for v in everything(sa, 360) if v["version_id"] > past["next_cursor"]["version_id"]
    ]
    # Snapshot then increments: the client holds the head's definitions of every active id.
    held = {}
    for p in past["instruction_catalog_patch"] + later["instruction_catalog_patch"]:
        held[p["instruction_id"]] = p
    whole = sa.draw_delta(0, 2000)
    assert [held[i] for i in whole["active_ids"]] == sorted(
        whole["instruction_catalog_patch"], key=lambda p: p["instruction_id"]
    )
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
    events, head, cursor, seen, rereads = [], {}, 0, {}, []
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
        drawn = {i: expected[i] for i in active}
        at_time = t + rnd.randint(0, TF - 1)
        # The snapshot (cursor 0) is the definitions at t of exactly the active ids.
        snap = sa.draw_delta(0, window, at_time=at_time)["instruction_catalog_patch"]
        assert {p["instruction_id"]: p["definition"] for p in snap} == drawn
        assert len(snap) == len(drawn)
        reply = sa.draw_delta(cursor, window, at_time=at_time)
        assert reply["active_ids"] == active
        # A client that began with a snapshot and follows the cursor holds the definitions
        # of time t for every active id. One that reappears with an unchanged definition
        # (no new version, §5) may be one it never received: it re-reads at cursor 0.
        for p in reply["instruction_catalog_patch"]:
            seen[p["instruction_id"]] = p["definition"]
        if any(i not in seen for i in active):
            rereads.append(t)
            seen.update((p["instruction_id"], p["definition"]) for p in snap)
        assert {i: seen[i] for i in active} == drawn
        cursor = reply["next_cursor"]["version_id"]
    assert len(rereads) <= len(POLYLINE_IDS)


def test_draw_reads_seek_indexes_and_never_scan():
    """The draw path's work is bounded by what is drawn: every statement it runs (cursor 0,
    incremental, past at_time) is an index search, never a scan of a table."""
    conn, sa = new_series(PARAMS, flat([(k % 7) + 1 for k in range(60)]))
    statements: list[tuple[str, tuple]] = []

    def trace(cursor, sql, bindings):
        statements.append((sql, tuple(bindings or ())))
        return True

    conn.exec_trace = trace
    cursor = sa.draw_delta(0, 20)["next_cursor"]["version_id"]
    sa.draw_delta(max(0, cursor - 3), 20)
    sa.draw_delta(0, 20, at_time=1800)
    conn.exec_trace = None
    plans = [
        (sql, row[3])
        for sql, bindings in statements
        if sql.lstrip().upper().startswith("SELECT")
        for row in conn.execute("EXPLAIN QUERY PLAN " + sql, bindings)
    ]
    assert any("overlay_versions_by_instruction" in detail for _, detail in plans)
    # overlay_series_state holds one row (CHECK id = 1): reading it is not a scan of history.
    scans = [(sql, d) for sql, d in plans if d.startswith("SCAN")]
    assert [(sql, d) for sql, d in scans if d != "SCAN overlay_series_state"] == []
    # And the rows it reads at cursor 0 follow the active ids, not the catalog's length.
    rows = []

    def count(cursor, row):
        rows.append(row)
        return row

    conn.row_trace = count
    reply = sa.draw_delta(0, 20)
    conn.row_trace = None
    catalog = len(everything(sa, reply["to_candle_time"]))
    assert len(rows) <= 3 * len(reply["active_ids"]) + 12 < catalog
