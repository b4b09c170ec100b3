"""Overlay deriver: exact §5 shapes, existence rules, state round trip, brute-force agreement."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from overlay_reference import ref_catalog
from overlay_support import TF, derive, derive_restored_at, flat, params_st, walks

from canvas.factors.base import AnalyticsParams


VECTOR = flat([2, 4, 1, 5, 2, 3])
VECTOR_PARAMS = AnalyticsParams(pivot_window_major=1, pivot_window_minor=5)


def test_marker_definitions_are_exact():
    versions, *_ = derive(VECTOR, VECTOR_PARAMS)
    first = versions[0]
    assert (first.instruction_id, first.kind, first.visible_time) == (
        "pivot.major:120:resistance:1",
        "marker",
        180,
    )
    assert first.definition == {
        "type": "marker",
        "feature": "pivot.major",
        "time": 120,
        "position": "aboveBar",
        "color": "#ef4444",
        "shape": "circle",
        "text": "",
        "size": 1.0,
    }
    support = versions[1]
    assert support.instruction_id == "pivot.major:180:support:1"
    assert (support.definition["position"], support.definition["color"]) == ("belowBar", "#22c55e")


def test_minor_marker_style():
    params = AnalyticsParams(pivot_window_major=2, pivot_window_minor=1)
    versions, *_ = derive(flat([1, 2, 5, 2, 1, 2, 3, 2, 1, 1, 1]), params)
    minors = {v.instruction_id: v.definition for v in versions if "minor" in v.instruction_id}
    res = minors["pivot.minor:420:resistance:1"]
    assert res["size"] == 0.5 and res["color"] == "rgba(239,68,68,0.6)"
    assert res["feature"] == "pivot.minor" and res["position"] == "aboveBar"
    sup = next(d for i, d in minors.items() if i.endswith(":support:1"))
    assert sup["color"] == "rgba(34,197,94,0.6)" and sup["position"] == "belowBar"


def test_pen_polylines_are_exact():
    versions, presence, *_ = derive(VECTOR, VECTOR_PARAMS)
    at_360 = {v.instruction_id: v.definition for v in versions if v.visible_time == 360}
    assert at_360["pen.confirmed"] == {
        "type": "polyline",
        "feature": "pen.confirmed",
        "points": [
            {"time": 120, "value": 4.0},
            {"time": 180, "value": 1.0},
            {"time": 240, "value": 5.0},
        ],
        "color": "#ffffff",
        "lineWidth": 2,
    }
    assert at_360["pen.extending"] == {
        "type": "polyline",
        "feature": "pen.extending",
        "points": [{"time": 240, "value": 5.0}, {"time": 300, "value": 2.0}],
        "color": "#ffffff",
        "lineWidth": 2,
        "lineStyle": "dashed",
    }
    assert at_360["pen.candidate"]["points"] == [
        {"time": 300, "value": 2.0},
        {"time": 360, "value": 3.0},
    ]
    assert {(p.instruction_id, p.visible_time, p.present) for p in presence} == {
        ("pen.confirmed", 300, True),
        ("pen.extending", 300, True),
        ("pen.candidate", 300, True),
        # The leg 180→240 outgrew the pen 120→180 at 300 (strength 4 > 3): dashed anchor.
        ("anchor.current", 300, True),
    }


def test_confirmed_polyline_leaves_the_window_and_stops_existing():
    params = AnalyticsParams(pivot_window_major=1, pivot_window_minor=5, overlay_window_candles=2)
    bars = VECTOR + flat([3.5, 4, 4.5], start=420)  # rising: no new pivot
    versions, presence, *_ = derive(bars, params)
    gone = [p for p in presence if p.instruction_id == "pen.confirmed" and not p.present]
    # The newest pen ends at 240, so it leaves the window once 240 < t - 2*60.
    assert [p.visible_time for p in gone] == [420]
    # Leaving does not write a version: the definition stays the last one written.
    assert all(v.visible_time <= 360 for v in versions if v.instruction_id == "pen.confirmed")


def test_candidate_stops_existing_without_a_version():
    # An outside bar at 420 (no new pivot) makes a new low, moving the extending end to it:
    # no bar after it, so no candidate.
    versions, presence, *_ = derive(VECTOR + [(420, 1.5, 3.5, 1.5, 3.5, 1.0)], VECTOR_PARAMS)
    assert ("pen.candidate", 420, False) in {
        (p.instruction_id, p.visible_time, p.present) for p in presence
    }
    assert not [
        v for v in versions if v.instruction_id == "pen.candidate" and v.visible_time == 420
    ]


@pytest.mark.slow
@settings(max_examples=200, deadline=None)
@given(walks(), params_st)
def test_matches_brute_force(bars, params):
    versions, presence, events, heads, _ = derive(bars, params)
    ref_versions, ref_presence, _ = ref_catalog(
        bars, events, heads, TF, params.overlay_window_candles
    )
    got = [(v.instruction_id, v.kind, v.visible_time, v.definition) for v in versions]
    assert got == ref_versions
    assert {(p.instruction_id, p.visible_time, p.present) for p in presence} == ref_presence


@settings(max_examples=100, deadline=None)
@given(walks(), params_st, st.integers(0, 60))
def test_restore_then_continue_equals_uninterrupted(bars, params, cut):
    whole, *_ = derive(bars, params)
    assert derive_restored_at(bars, params, cut) == whole
