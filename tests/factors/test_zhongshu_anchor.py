"""Zhongshu and anchor: the worked vectors of ZHONGSHU-ANCHOR §5, slices, brute force."""

from __future__ import annotations

import json
import random

import pytest
from factor_reference import ref_all
from factor_support import (
    TF,
    analytics,
    flat,
    ledger,
    new_db,
    one_shot,
    wave_bars,
    wave_params_st,
    waves,
    write,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from canvas.factors.base import AnalyticsParams
from canvas.factors.engine import FactorEngine
from canvas.factors.pipeline import SeriesAnalytics

W1 = AnalyticsParams(pivot_window_major=1, pivot_window_minor=1)
Z1 = flat([5, 1, 10, 4, 8, 3, 3.5, 9, 8.5, 12, 11, 13, 12])
Z2 = flat([5, 1, 10, 0.5, 8, 3, 3.5, 9, 8.5, 12, 11, 13, 12])
D1_PAIRS = [
    (3, 3), (1, 1), (4, 4), (3, 2), (2.2, 2.1), (1, 0.9), (0.9, 0.8), (0.6, 0.5), (0.3, 0.2),
    (0.2, 0.1), (1, 0.9), (2, 1.9), (3, 2.9), (3.6, 3.5), (3, 2.9), (2.8, 2.7), (2.7, 2.6),
]  # fmt: skip
D1 = [(60 * (k + 1), lo, hi, lo, hi, 1.0) for k, (hi, lo) in enumerate(D1_PAIRS)]


def e2e_wave() -> list[tuple]:
    values = [*range(1, 61), *range(60, 0, -1), *range(1, 61), *range(60, 0, -1)]
    bars = [(300 * (i + 1), *[float(v)] * 4, 1.0) for i, v in enumerate(values)]
    return [*bars, (72300, 1.0, 1.0, 1.0, 1.0, 1.0)]


E2E_PARAMS = AnalyticsParams(pivot_window_major=50, pivot_window_minor=5)


def ref(kind, start, end, direction):
    return {"kind": kind, "start_time": start, "end_time": end, "direction": direction}


def run(bars, params=W1, tf=TF):
    engine = FactorEngine.create(params, tf)
    return engine.run(bars), engine


def keys(out, factor):
    return [(e.visible_time, e.key) for e in out.events if e.factor == factor]


def heads(out, factor):
    return {t: h for name, t, h in out.heads if name == factor}


def test_z1_price_cross_formation_and_death():
    out, _ = run(Z1)
    dead = [e for e in out.events if e.factor == "zhongshu"]
    assert [(e.key, e.kind, e.visible_time) for e in dead] == [
        ("dead:120:420:660:8.00000000:4.00000000:price_cross", "dead", 660)
    ]
    assert dead[0].payload == {
        "start_time": 120,
        "end_time": 600,
        "zg": 8.0,
        "zd": 4.0,
        "entry_direction": 1,
        "formed_time": 420,
        "death_time": 660,
        "visible_time": 660,
        "formed_reason": "price_cross",
    }
    # Stored at the first pen (the key appears, empty), the formation and the death; at 780
    # the re-seeded window crosses its trigger but the overlap is empty: no alive.
    stored = heads(out, "zhongshu")
    assert sorted(stored) == [300, 420, 660]
    assert stored[300] == stored[660] == {"alive": []}
    conn = new_db()
    sa = analytics(conn, W1)
    sa.after_store(write(conn, Z1))
    for t in (420, 480, 540, 600):
        assert sa.slices(t, 2000)["snapshots"]["zhongshu"]["head"] == {
            "alive": [
                {
                    "start_time": 120,
                    "end_time": t,
                    "zg": 8.0,
                    "zd": 4.0,
                    "entry_direction": 1,
                    "formed_time": 420,
                    "formed_reason": "price_cross",
                    "death_time": None,
                    "visible_time": t,
                }
            ]
        }
    assert keys(out, "anchor") == [(300, "strong_pen:300:confirmed:120:180:1")]


def test_z2_pen_confirmed_formation_and_zhongshu_entry():
    out, engine = run(Z2)
    switches = [e.payload for e in out.events if e.factor == "anchor"]
    assert keys(out, "anchor") == [
        (300, "strong_pen:300:candidate:180:240:-1"),
        (540, "zhongshu_entry:540:120:180:1"),
    ]
    assert switches[0] == {
        "switch_time": 300,
        "reason": "strong_pen",
        "old_anchor": None,
        "new_anchor": ref("candidate", 180, 240, -1),
        "visible_time": 300,
    }
    assert switches[1]["old_anchor"] == ref("candidate", 180, 240, -1)
    assert switches[1]["new_anchor"] == ref("confirmed", 120, 180, 1)
    assert all(e.kind == "switch" for e in out.events if e.factor == "anchor")
    assert keys(out, "zhongshu") == [(660, "dead:120:540:660:8.00000000:3.00000000:pen_confirmed")]
    assert [e.payload["end_time"] for e in out.events if e.factor == "zhongshu"] == [600]
    # The ref stays `candidate` after its pen is confirmed at 360; strength 9 after 540.
    assert heads(out, "anchor") == {
        300: {"current_anchor_ref": ref("candidate", 180, 240, -1)},
        540: {"current_anchor_ref": ref("confirmed", 120, 180, 1)},
    }
    assert engine.export_state()["factors"]["anchor"]["strength"] == 9.0


def test_d1_carried_strength_means_no_switch_at_960():
    out, _ = run(D1)
    assert keys(out, "anchor") == [
        (300, "strong_pen:300:confirmed:120:180:1"),
        (360, "strong_pen:360:candidate:180:360:-1"),
    ]
    assert heads(out, "anchor")[600] == {"current_anchor_ref": ref("candidate", 180, 600, -1)}
    pens = [(e.key, e.visible_time) for e in out.events if e.factor == "pen"]
    assert ("confirmed:180:600:-1", 900) in pens


@pytest.mark.parametrize("mode", ["one_by_one", "one_batch", "random_batches", "restored"])
def test_d1_in_every_ingest_mode(mode):
    conn = new_db()
    sa = analytics(conn, W1, checkpoint_every=3)
    if mode == "one_by_one":
        for b in D1:
            sa.after_store(write(conn, [b]))
    elif mode == "one_batch":
        sa.after_store(write(conn, D1))
    elif mode == "random_batches":
        rnd = random.Random(5)
        order = D1[:]
        rnd.shuffle(order)  # late fills: every candle before the head is a recompute
        for k in range(0, len(order), 3):
            sa.after_store(write(conn, order[k : k + 3]))
    else:
        sa.after_store(write(conn, D1[:12]))
        sa = analytics(conn, W1, checkpoint_every=3)  # a restart: state from the ledger
        for b in D1[12:]:
            sa.after_store(write(conn, [b]))
    switches = [
        k for (k,) in conn.execute("SELECT event_key FROM factor_events WHERE factor_name='anchor'")
    ]
    assert sorted(switches) == [
        "strong_pen:300:confirmed:120:180:1",
        "strong_pen:360:candidate:180:360:-1",
    ]


def test_e2e_wave_vector():
    out, _ = run(e2e_wave(), E2E_PARAMS, 300)
    majors = [(e.key, e.visible_time) for e in out.events if e.kind == "major"]
    assert majors == [
        ("major:18000:resistance:50", 33000),
        ("major:36000:support:50", 51000),
        ("major:54000:resistance:50", 69000),
    ]
    assert keys(out, "pen") == [(69000, "confirmed:18000:36000:-1")]
    assert keys(out, "zhongshu") == []
    assert keys(out, "anchor") == [(69000, "strong_pen:69000:confirmed:18000:36000:-1")]
    switch = next(e.payload for e in out.events if e.factor == "anchor")
    assert switch == {
        "switch_time": 69000,
        "reason": "strong_pen",
        "old_anchor": None,
        "new_anchor": ref("confirmed", 18000, 36000, -1),
        "visible_time": 69000,
    }


def test_e2e_slice_at_72000_lists_no_zhongshu():
    conn = new_db()
    sa = SeriesAnalytics(conn, "binance:futures:BTC/USDT:5m", 300, E2E_PARAMS)
    sa.after_store(write(conn, e2e_wave()))
    reply = sa.slices(72000, 2000)
    assert reply["factors"] == ["pivot", "pen", "anchor"]
    anchor = reply["snapshots"]["anchor"]
    assert anchor["head"] == {"current_anchor_ref": ref("confirmed", 18000, 36000, -1)}
    assert anchor["history"]["anchors"] == [ref("confirmed", 18000, 36000, -1)]
    assert reply["snapshots"]["pen"]["head"]["candidate"]["start_time"] == 54000


def test_z2_slices():
    conn = new_db()
    sa = analytics(conn, W1)
    sa.after_store(write(conn, Z2))
    at_540 = sa.slices(540, 2000)
    assert at_540["factors"] == ["pivot", "pen", "zhongshu", "anchor"]
    anchor = at_540["snapshots"]["anchor"]
    assert anchor["history"]["anchors"] == [
        ref("candidate", 180, 240, -1),
        ref("confirmed", 120, 180, 1),
    ]
    assert [s["switch_time"] for s in anchor["history"]["switches"]] == [300, 540]
    assert anchor["head"] == {"current_anchor_ref": ref("confirmed", 120, 180, 1)}
    zhongshu = at_540["snapshots"]["zhongshu"]
    assert zhongshu["history"] == {"dead": []}
    assert zhongshu["head"]["alive"][0]["zd"] == 3.0
    assert zhongshu["meta"]["factor_name"] == "zhongshu"
    # After the death: the dead event in history, alive empty; before any alive: omitted.
    at_660 = sa.slices(660, 2000)["snapshots"]["zhongshu"]
    assert at_660["head"] == {"alive": []}
    assert [d["death_time"] for d in at_660["history"]["dead"]] == [660]
    assert "zhongshu" not in sa.slices(480, 2000)["factors"]
    # The window can drop the death: zhongshu leaves the slice.
    assert "zhongshu" not in sa.slices(780, 1)["factors"]


def test_slice_read_time_override():
    # Z1 at 360: the head is the pen 120→180 (9); the pen head's candidate 240→300 is 4.
    conn = new_db()
    sa = analytics(conn, W1)
    sa.after_store(write(conn, Z1))
    head = sa.slices(360, 2000)["snapshots"]["anchor"]["head"]
    assert head == {"current_anchor_ref": ref("confirmed", 120, 180, 1)}
    # A 1-candle window at 780 keeps only the last pen (600→660) and no switch. The stored
    # head (120→180) has no window pen to measure it by (strength -1), so the pen head's
    # candidate 720→780 (13→12) overrides it.
    narrow = sa.slices(780, 1)["snapshots"]["anchor"]
    assert narrow["history"] == {"anchors": [], "switches": []}
    assert narrow["head"] == {"current_anchor_ref": ref("candidate", 720, 780, -1)}
    # With the whole history in the window, 120→180 (9) beats that candidate (1).
    wide = sa.slices(780, 2000)["snapshots"]["anchor"]
    assert wide["head"] == {"current_anchor_ref": ref("confirmed", 120, 180, 1)}


def test_history_keeps_the_last_switch_per_time_and_the_first_per_pointer():
    from canvas.factors.anchor import dedup_switches

    def sw(t, reason, start):
        new = ref("confirmed", start, start + 60, 1)
        return {"switch_time": t, "reason": reason, "old_anchor": None, "new_anchor": new,
                "visible_time": t}  # fmt: skip

    rows = [sw(600, "strong_pen", 300), sw(600, "zhongshu_entry", 120), sw(300, "strong_pen", 60),
            sw(900, "strong_pen", 60)]  # fmt: skip
    kept = dedup_switches(rows)
    # 600: strong_pen is emitted after zhongshu_entry, so it is the one kept; 900 returns to
    # the pointer of 300 and is dropped.
    assert [(p["switch_time"], p["reason"]) for p in kept] == [
        (300, "strong_pen"),
        (600, "strong_pen"),
    ]


@settings(max_examples=150, deadline=None)
@given(waves(), wave_params_st)
def test_four_factors_match_brute_force_on_waves(bars, params):
    out, _ = run(bars, params)
    events, every = ref_all(bars, TF, params.pivot_window_major, params.pivot_window_minor)
    assert [(e.factor, e.key, e.payload) for e in out.events] == events
    for factor in ("pen", "zhongshu", "anchor"):
        assert {t: h for name, t, h in out.heads if name == factor} == every[factor]


@settings(max_examples=80, deadline=None)
@given(waves(), wave_params_st, st.integers(0, 60))
def test_state_survives_json_mid_series(bars, params, cut):
    whole, _ = run(bars, params)
    engine = FactorEngine.create(params, TF)
    first = engine.run(bars[:cut])
    state = json.loads(json.dumps(engine.export_state()))
    rest = FactorEngine.restore(params, TF, state).run(bars[cut:])
    assert [*first.events, *rest.events] == whole.events
    assert [*first.heads, *rest.heads] == whole.heads


def test_the_wave_strategy_forms_kills_and_switches():
    """The properties above are not vacuous: most wave series make a zhongshu die and the
    anchor switch for both reasons."""
    counts = {"dead": 0, "zhongshu_entry": 0, "strong_pen": 0}
    for seed in range(60):
        rnd = random.Random(seed)
        out, _ = run(wave_bars(rnd, 60), AnalyticsParams(pivot_window_major=rnd.choice([1, 2])))
        kinds = {e.key.split(":", 1)[0] for e in out.events}
        for k in counts:
            counts[k] += k in kinds
    assert counts["dead"] >= 30 and counts["zhongshu_entry"] >= 30 and counts["strong_pen"] >= 50


def test_late_correction_restarts_from_a_full_state_checkpoint():
    """Correcting candle 240 of Z2 into Z1's price changes which zhongshu forms (pen_confirmed
    at 540 becomes price_cross at 420) and the anchor history; the recompute resumes from
    the last full-state checkpoint before 240 (not from "240 minus a window") and the ledger
    equals a one-shot computation of Z1."""
    conn = new_db()
    sa = analytics(conn, W1, checkpoint_every=2)
    for b in Z2:
        sa.after_store(write(conn, [b]))
    rewind = sa.after_store(write(conn, [Z1[3]]))
    assert rewind == 300  # the first switch differs (strong_pen on the candidate leg)
    expected, _ = one_shot(Z1, W1)
    assert ledger(conn) == expected
    keys = [k for (k,) in conn.execute("SELECT event_key FROM factor_events ORDER BY event_key")]
    assert "dead:120:420:660:8.00000000:4.00000000:price_cross" in keys
    assert not [k for k in keys if k.startswith("zhongshu_entry")]
