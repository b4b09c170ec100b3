"""Zhongshu and anchor drawings (ZHONGSHU-ANCHOR §3): the vectors, existence, brute force."""

from __future__ import annotations


from hypothesis import given, settings
from hypothesis import strategies as st
from overlay_reference import ref_catalog
from overlay_support import TF, flat, new_series, wave_params_st, waves
from overlay_support import derive as support_derive
from overlay_support import derive_restored_at

from canvas.factors.base import AnalyticsParams
from canvas.factors.engine import FactorEngine
from canvas.overlay.structure import replay_zhongshu, tick_state

W1 = AnalyticsParams(pivot_window_major=1, pivot_window_minor=1)
Z1 = flat([5, 1, 10, 4, 8, 3, 3.5, 9, 8.5, 12, 11, 13, 12])
Z2 = flat([5, 1, 10, 0.5, 8, 3, 3.5, 9, 8.5, 12, 11, 13, 12])
ALIVE_UP = "rgba(22,163,74,0.72)"


def derive(bars, params=W1, tf=TF):
    return support_derive(bars, params, tf)


def by_id(versions, prefix):
    return [(v.visible_time, v.definition) for v in versions if v.instruction_id.startswith(prefix)]


def box(feature, start, end, value, color):
    return {
        "type": "polyline",
        "feature": feature,
        "points": [{"time": start, "value": value}, {"time": end, "value": value}],
        "color": color,
        "lineWidth": 2,
        "entryDirection": 1,
    }


def test_z1_alive_box_each_candle_then_dead_box():
    versions, presence, *_ = derive(Z1)
    assert by_id(versions, "zhongshu.alive:top") == [
        (t, box("zhongshu.alive", 120, t, 8.0, ALIVE_UP)) for t in (420, 480, 540, 600)
    ]
    assert by_id(versions, "zhongshu.alive:bottom") == [
        (t, box("zhongshu.alive", 120, t, 4.0, ALIVE_UP)) for t in (420, 480, 540, 600)
    ]
    dead = [(v.instruction_id, v.visible_time, v.definition) for v in versions
            if v.instruction_id.startswith("zhongshu.dead")]  # fmt: skip
    dead_color = "rgba(74,222,128,0.58)"
    assert dead == [
        ("zhongshu.dead:120:600:8.000000:4.000000:top", 660,
         box("zhongshu.dead", 120, 600, 8.0, dead_color)),
        ("zhongshu.dead:120:600:8.000000:4.000000:bottom", 660,
         box("zhongshu.dead", 120, 600, 4.0, dead_color)),
    ]  # fmt: skip
    # Existence (CONTRACT §5): the alive pair ends at the death; no version marks it.
    gone = {(p.instruction_id, p.visible_time, p.present) for p in presence}
    assert ("zhongshu.alive:top", 660, False) in gone
    assert ("zhongshu.alive:bottom", 660, False) in gone
    assert ("zhongshu.dead:120:600:8.000000:4.000000:top", 660, True) in gone
    markers = [(v.instruction_id, v.visible_time, v.definition) for v in versions
               if v.instruction_id.startswith("anchor.switch")]  # fmt: skip
    assert markers == [
        (
            "anchor.switch:300:1:strong_pen",
            300,
            {
                "type": "marker",
                "feature": "anchor.switch",
                "time": 300,
                "position": "belowBar",
                "color": "#f59e0b",
                "shape": "arrowUp",
                "text": "A",
                "size": 1.0,
            },
        )
    ]
    current = by_id(versions, "anchor.current")
    assert current == [
        (
            300,
            {
                "type": "polyline",
                "feature": "anchor.current",
                "points": [{"time": 120, "value": 1.0}, {"time": 180, "value": 10.0}],
                "color": "#f59e0b",
                "lineWidth": 2,
            },
        )
    ]
    assert by_id(versions, "anchor.history") == []


def test_z1_write_order_within_a_candle():
    versions, *_ = derive(Z1)
    at_660 = [v.instruction_id for v in versions if v.visible_time == 660]
    assert at_660 == [
        "pivot.major:600:resistance:1",
        "pen.confirmed",
        "zhongshu.dead:120:600:8.000000:4.000000:top",
        "zhongshu.dead:120:600:8.000000:4.000000:bottom",
        "pen.extending",
        "pen.candidate",
    ]
    rank = ["pivot.", "anchor.switch", "pen.confirmed", "zhongshu.dead", "zhongshu.alive",
            "anchor.current", "anchor.history", "pen.extending", "pen.candidate"]  # fmt: skip
    for t in {v.visible_time for v in versions}:
        order = [next(i for i, p in enumerate(rank) if v.instruction_id.startswith(p))
                 for v in versions if v.visible_time == t]  # fmt: skip
        assert order == sorted(order)


def test_z2_anchor_current_dashed_then_solid_and_history_from_540():
    versions, *_ = derive(Z2)
    current = [(t, d["points"], d.get("lineStyle")) for t, d in by_id(versions, "anchor.current")]
    leg = [{"time": 180, "value": 10.0}, {"time": 240, "value": 0.5}]
    assert current == [
        (300, leg, "dashed"),  # the pen head's extending leg
        (360, leg, None),  # now the confirmed pen 180→240
        (540, [{"time": 120, "value": 1.0}, {"time": 180, "value": 10.0}], None),
    ]
    assert by_id(versions, "anchor.history") == [
        (
            540,
            {
                "type": "polyline",
                "feature": "anchor.history",
                "points": leg,
                "color": "rgba(59,130,246,0.55)",
                "lineWidth": 1,
            },
        )
    ]
    assert [v.instruction_id for v in versions if v.instruction_id.startswith("anchor.h")] == [
        "anchor.history:300:180:240:-1"
    ]
    markers = [(v.instruction_id, v.definition["position"], v.definition["shape"])
               for v in versions if v.instruction_id.startswith("anchor.switch")]  # fmt: skip
    assert markers == [
        ("anchor.switch:300:-1:strong_pen", "aboveBar", "arrowDown"),
        ("anchor.switch:540:1:zhongshu_entry", "belowBar", "arrowUp"),
    ]
    alive = [t for t, d in by_id(versions, "zhongshu.alive:bottom") if d["points"][0]["value"] == 3]
    assert alive == [540, 600]
    assert [t for t, _ in by_id(versions, "zhongshu.dead")] == [660, 660]


def test_e2e_wave_overlay():
    values = [*range(1, 61), *range(60, 0, -1), *range(1, 61), *range(60, 0, -1)]
    bars = [(300 * (i + 1), *[float(v)] * 4, 1.0) for i, v in enumerate(values)]
    bars.append((72300, 1.0, 1.0, 1.0, 1.0, 1.0))
    params = AnalyticsParams(pivot_window_major=50, pivot_window_minor=5)
    versions, presence, *_ = derive(bars, params, 300)
    anchor = [(v.instruction_id, v.visible_time) for v in versions if "anchor" in v.instruction_id]
    assert anchor == [
        ("anchor.switch:69000:-1:strong_pen", 69000),
        ("anchor.current", 69000),
    ]
    current = next(v.definition for v in versions if v.instruction_id == "anchor.current")
    assert current["points"] == [{"time": 18000, "value": 60.0}, {"time": 36000, "value": 1.0}]
    assert "lineStyle" not in current
    assert not [v for v in versions if v.instruction_id.startswith("zhongshu")]
    assert ("anchor.current", 69000, True) in {
        (p.instruction_id, p.visible_time, p.present) for p in presence
    }


def test_alive_leaves_active_ids_after_the_death():
    _, sa = new_series(W1, Z1)
    at_600 = sa.draw_delta(0, 2000, at_time=600)["active_ids"]
    assert {"zhongshu.alive:top", "zhongshu.alive:bottom"} <= set(at_600)
    at_660 = sa.draw_delta(0, 2000, at_time=660)
    assert not [i for i in at_660["active_ids"] if i.startswith("zhongshu.alive")]
    dead = "zhongshu.dead:120:600:8.000000:4.000000"
    assert {f"{dead}:top", f"{dead}:bottom"} <= set(at_660["active_ids"])
    # The dead box leaves once its end falls out of the derivation window.
    params = AnalyticsParams(pivot_window_major=1, pivot_window_minor=1, overlay_window_candles=2)
    _, narrow = new_series(params, Z1)
    assert f"{dead}:top" in narrow.draw_delta(0, 5, at_time=660)["active_ids"]
    assert f"{dead}:top" not in narrow.draw_delta(0, 5, at_time=780)["active_ids"]


@settings(max_examples=120, deadline=None)
@given(waves(50), wave_params_st)
def test_matches_brute_force_on_waves(bars, params):
    versions, presence, events, heads, _ = derive(bars, params)
    ref_versions, ref_presence, _ = ref_catalog(
        bars, events, heads, TF, params.overlay_window_candles
    )
    got = [(v.instruction_id, v.kind, v.visible_time, v.definition) for v in versions]
    assert got == ref_versions
    assert {(p.instruction_id, p.visible_time, p.present) for p in presence} == ref_presence


@settings(max_examples=60, deadline=None)
@given(waves(50), wave_params_st, st.integers(0, 50))
def test_restore_then_continue_on_waves(bars, params, cut):
    whole, *_ = derive(bars, params)
    assert derive_restored_at(bars, params, cut) == whole


@settings(max_examples=100, deadline=None)
@given(waves(120), wave_params_st, st.integers(1, 4))
def test_replay_that_meets_a_known_one_ends_like_a_full_replay(bars, params, cut):
    """The deriver's restart stops where a replay from a later pen meets the running one
    (same future-relevant state at a pen tick); the end state must be the full replay's."""
    engine = FactorEngine.create(params, TF)
    pens = [e.payload for b in bars for e in engine.step(b)[0] if e.factor == "pen"]
    rows = [(b[0], b[2], b[3]) for b in bars]
    whole, ticks = replay_zhongshu(pens, rows)
    times = sorted({p["visible_time"] for p in pens})
    if len(times) <= cut:
        return
    later = [p for p in pens if p["visible_time"] >= times[cut]]
    full, full_ticks = replay_zhongshu(later, rows)
    core, redone = replay_zhongshu(later, rows, ticks[cut:])
    assert redone == full_ticks[: len(redone)]
    if core is None:
        # Met: from there on the later replay's tick states are the earlier one's.
        assert full_ticks[len(redone) :] == ticks[cut + len(redone) :]
        assert tick_state(full) == tick_state(whole)
        assert (full.alive, full.pending) == (whole.alive, whole.pending)
    else:
        assert tick_state(core) == tick_state(full) and redone == full_ticks
