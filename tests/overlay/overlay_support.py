"""Overlay test support: candle strategies and a store-then-analyse writer like the actor's."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import apsw
from hypothesis import strategies as st

from canvas.factors.base import AnalyticsParams
from canvas.factors.engine import FactorEngine
from canvas.factors.pipeline import SeriesAnalytics
from canvas.overlay.deriver import OverlayDeriver
from canvas.storage import candle_ledger
from canvas.storage.db import open_db

# The wave strategies live with the factor tests; the overlay tests share them.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "factors"))
from factor_support import flat, wave_bars, wave_params_st, waves  # noqa: E402, F401

SID = "binance:futures:BTC/USDT:1m"
TF = 60
Bar = tuple[int, float, float, float, float, float]


@st.composite
def walks(draw: st.DrawFn, max_len: int = 60) -> list[Bar]:
    """Random walks on a coarse grid (ties are common) with occasional gaps."""
    n = draw(st.integers(0, max_len))
    steps = draw(st.lists(st.sampled_from([1, 1, 1, 1, 1, 1, 1, 2, 4]), min_size=n, max_size=n))
    moves = draw(st.lists(st.integers(-2, 2), min_size=n, max_size=n))
    spans = draw(st.lists(st.integers(0, 2), min_size=n, max_size=n))
    out, slot, level = [], 0, 5
    for step, move, span in zip(steps, moves, spans):
        slot += step
        level = max(1, level + move)
        out.append(
            (slot * TF, float(level), float(level + span), float(level), float(level + span), 1.0)
        )
    return out


params_st = st.builds(
    AnalyticsParams,
    pivot_window_major=st.sampled_from([1, 1, 2]),
    pivot_window_minor=st.integers(1, 2),
    overlay_window_candles=st.integers(1, 10),
)


def new_series(params: AnalyticsParams, bars: list[Bar]) -> tuple[apsw.Connection, SeriesAnalytics]:
    """A fresh in-memory series holding `bars`, analysed."""
    conn = open_db(":memory:")
    sa = SeriesAnalytics(conn, SID, TF, params)
    if bars:
        with conn:
            candle_ledger.upsert(conn, bars)
        sa.after_store(bars[0][0])
    return conn, sa


def append(conn: apsw.Connection, sa: SeriesAnalytics, bars: list[Bar]) -> int | None:
    with conn:
        candle_ledger.upsert(conn, bars)
    return sa.after_store(min(b[0] for b in bars))


def derive(bars: list[Bar], params: AnalyticsParams, tf: int = TF, deriver=None) -> tuple:
    """Run the engine and the deriver over `bars`: (versions, presence, events, pen heads by
    candle time, the deriver)."""
    engine = FactorEngine.create(params, tf)
    deriver = deriver or OverlayDeriver(tf, params.overlay_window_candles)
    versions, presence, events, heads = [], [], [], {}
    for b in bars:
        evs, changed = engine.step(b)
        events += evs
        pen_head = dict(changed).get("pen")
        if pen_head is not None:
            heads[b[0]] = pen_head
        v, p = deriver.step(b, evs, pen_head)
        versions += v
        presence += p
    return versions, presence, events, heads, deriver


def derive_restored_at(bars: list[Bar], params: AnalyticsParams, cut: int) -> list:
    """The overlay versions the deriver emits over `bars` when, before bar `cut`, it is
    exported and restored through JSON (as a restart does)."""
    engine = FactorEngine.create(params, TF)
    deriver = OverlayDeriver(TF, params.overlay_window_candles)
    got = []
    for i, b in enumerate(bars):
        if i == cut:
            state = json.loads(json.dumps(deriver.export_state()))
            deriver = OverlayDeriver.restore(TF, params.overlay_window_candles, state)
        evs, changed = engine.step(b)
        got += deriver.step(b, evs, dict(changed).get("pen"))[0]
    return got
