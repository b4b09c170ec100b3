"""Candle validation at the trust boundary (§1.3)."""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from canvas.candles import Candle, candle_from_json, candle_problems

GOOD = {"candle_time": 120, "open": 1, "high": 2, "low": 0.5, "close": 1.5, "volume": 10}


def fields(raw, tf=60):
    return [p["loc"][-1] for p in candle_problems(raw, tf, ["body", "candle"])]


def test_good_candle():
    assert candle_problems(GOOD, 60, ["c"]) == []
    assert candle_from_json(GOOD) == Candle(120, 1.0, 2.0, 0.5, 1.5, 10.0)


def test_each_rule_names_its_field():
    assert fields({**GOOD, "candle_time": 90}) == ["candle_time"]
    assert fields({**GOOD, "candle_time": 120}, tf=300) == ["candle_time"]
    assert fields({**GOOD, "candle_time": 10**11}) == ["candle_time"]
    assert fields({**GOOD, "candle_time": -60}) == ["candle_time"]
    assert fields({**GOOD, "candle_time": 120.0}) == ["candle_time"]
    assert fields({**GOOD, "candle_time": False}) == ["candle_time"]
    assert fields({**GOOD, "open": math.inf}) == ["open"]
    assert fields({**GOOD, "close": math.nan}) == ["close"]
    assert fields({**GOOD, "low": -1}) == ["low"]
    assert fields({**GOOD, "low": 1.2}) == ["low"]
    assert fields({**GOOD, "high": 1.4}) == ["high"]
    assert fields({**GOOD, "volume": -0.1}) == ["volume"]
    assert fields({**GOOD, "volume": "1"}) == ["volume"]
    assert fields({k: v for k, v in GOOD.items() if k != "open"}) == ["open"]
    assert candle_problems([1, 2], 60, ["c"])[0]["type"] == "dict_type"


@given(
    st.integers(-10, 10**12),
    st.lists(st.floats(allow_nan=True, allow_infinity=True), min_size=5, max_size=5),
)
def test_accepted_candles_satisfy_every_rule(t, values):
    raw = {
        "candle_time": t,
        "open": values[0],
        "high": values[1],
        "low": values[2],
        "close": values[3],
        "volume": values[4],
    }
    if candle_problems(raw, 60, []):
        return
    c = candle_from_json(raw)
    assert 0 <= c.candle_time < 10**11 and c.candle_time % 60 == 0
    assert all(math.isfinite(v) for v in (c.open, c.high, c.low, c.close, c.volume))
    assert min(c.open, c.high, c.low, c.close) > 0 and c.volume >= 0
    assert c.low <= min(c.open, c.close) and c.high >= max(c.open, c.close)
