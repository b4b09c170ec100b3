"""Framing of due candles for a subscriber (§3.4 #3, #4)."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from canvas.ws_frames import BATCH_MAX, plan_units

SID = "binance:futures:BTC/USDT:1m"


def rows(*times):
    return [(t, 1.0, 1.0, 1.0, 1.0, 1.0) for t in times]


def decode(units):
    return [json.loads(f) for u in units for f in u.frames]


def test_vectors():
    out = decode(plan_units(SID, 60, 60, rows(120, 240, 300), True))
    assert [(m["type"], [c["candle_time"] for c in m.get("candles", [])]) for m in out] == [
        ("candles_batch", [120]),
        ("gap", []),
        ("candles_batch", [240, 300]),
    ]
    assert out[1]["expected_next_time"] == 180 and out[1]["actual_time"] == 240
    out = decode(plan_units(SID, 60, None, rows(120), True))
    assert [m["type"] for m in out] == ["candle_closed"]
    out = decode(plan_units(SID, 60, 120, rows(240), False))
    assert [m["type"] for m in out] == ["gap", "candle_closed"]


@given(
    st.one_of(st.none(), st.integers(0, 50).map(lambda k: k * 60)),
    st.sets(st.integers(1, 3000), max_size=2500),
    st.booleans(),
)
def test_every_candle_once_in_order_and_gaps_exactly_at_skips(last_sent, offsets, batch):
    base = last_sent or 0
    times = sorted(base + 60 * k for k in offsets)
    units = plan_units(SID, 60, last_sent, rows(*times), batch)
    sent, p = [], last_sent
    for m in decode(units):
        if m["type"] == "gap":
            assert p is not None and m["expected_next_time"] == p + 60
            pending_gap = m["actual_time"]
            continue
        got = (
            [c["candle_time"] for c in m["candles"]]
            if m["type"] == "candles_batch"
            else [m["candle"]["candle_time"]]
        )
        assert len(got) <= BATCH_MAX
        for t in got:
            if p is not None and t > p + 60:
                assert pending_gap == t
            pending_gap = None
            p = t
        sent.extend(got)
    assert sent == times
    assert [u.last_time for u in units][-1:] == times[-1:]
