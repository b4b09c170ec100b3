"""Pen factor: the §4.3 vector, head rules, and agreement with brute force."""

from __future__ import annotations

import pytest
from factor_reference import ref_all
from factor_support import TF, bar, flat, series
from hypothesis import given, settings
from hypothesis import strategies as st

from canvas.factors.base import AnalyticsParams
from canvas.factors.engine import FactorEngine


def run(bars, major=1, minor=5):
    engine = FactorEngine.create(
        AnalyticsParams(pivot_window_major=major, pivot_window_minor=minor), TF
    )
    out = engine.run(bars)
    return out, engine


def test_contract_vector():
    out, engine = run(flat([2, 4, 1, 5, 2, 3]))
    majors = [(e.key, e.visible_time) for e in out.events if e.kind == "major"]
    assert majors == [
        ("major:120:resistance:1", 180),
        ("major:180:support:1", 240),
        ("major:240:resistance:1", 300),
        ("major:300:support:1", 360),
    ]
    pens = [(e.key, e.payload) for e in out.events if e.factor == "pen"]
    assert pens == [
        (
            "confirmed:120:180:-1",
            {
                "start_time": 120,
                "end_time": 180,
                "start_price": 4.0,
                "end_price": 1.0,
                "direction": -1,
                "visible_time": 300,
            },
        ),
        (
            "confirmed:180:240:1",
            {
                "start_time": 180,
                "end_time": 240,
                "start_price": 1.0,
                "end_price": 5.0,
                "direction": 1,
                "visible_time": 360,
            },
        ),
    ]
    assert engine.heads()["pen"] == {
        "extending": {
            "start_time": 240,
            "end_time": 300,
            "start_price": 5.0,
            "end_price": 2.0,
            "direction": -1,
        },
        "candidate": {
            "start_time": 300,
            "end_time": 360,
            "start_price": 2.0,
            "end_price": 3.0,
            "direction": 1,
        },
    }


def test_head_is_empty_until_a_pen_is_confirmed():
    out, engine = run(flat([2, 4, 1, 5]))
    assert [e for e in out.events if e.factor == "pen"] == []
    assert engine.heads()["pen"] == {}
    assert out.heads == []


def test_keys_are_absent_not_null():
    # Lows after the 240 resistance are 2, 2: the extending end is the earliest 2 (300) and
    # no later bar differs from it, so there is no candidate key at all.
    _, engine = run(flat([2, 4, 1, 5, 2, 2]))
    head = engine.heads()["pen"]
    assert head["extending"]["end_time"] == 300
    assert "candidate" not in head


def test_same_direction_replacement_needs_more_extreme():
    # Resistances 5 then 4 (ignored) then 6 (replaces): effective R5->R6 keeps one entry.
    bars = flat([1, 5, 1, 4, 1, 6, 1, 1])
    out, _ = run(bars)
    pens = [e.key for e in out.events if e.factor == "pen"]
    # Supports in between are all 1 and never more extreme: R,S,R,... alternate anyway.
    assert pens[0] == "confirmed:120:180:-1"


def test_outside_bar_feeds_resistance_before_support():
    bars = [bar(1, 3, 0), bar(2, 5, 0), bar(3, 3, 0), bar(4, 1, 9), bar(5, 3, 0)]
    out, _ = run(bars)
    keys = [e.key for e in out.events]
    assert keys.index("major:240:resistance:1") < keys.index("major:240:support:1")


@pytest.mark.slow
@settings(max_examples=300, deadline=None)
@given(series(), st.integers(1, 4), st.integers(1, 3))
def test_events_and_heads_match_brute_force(bars, major, minor):
    out, _ = run(bars, major, minor)
    events, heads = ref_all(bars, TF, major, minor)
    assert [(e.factor, e.key, e.payload) for e in out.events] == events
    for factor in ("pen", "zhongshu", "anchor"):
        assert {t: h for name, t, h in out.heads if name == factor} == heads[factor]
