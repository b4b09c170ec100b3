"""Test support: candle strategies, a store-then-analyse writer like the actor's, ledger dumps."""

from __future__ import annotations

import itertools
import json
import random
from typing import Any

import apsw
from hypothesis import strategies as st

from canvas.factors.base import AnalyticsParams
from canvas.factors.engine import FactorEngine
from canvas.factors.pipeline import SeriesAnalytics
from canvas.factors.store import dumps
from canvas.overlay.deriver import OverlayDeriver
from canvas.storage import candle_ledger
from canvas.storage.db import open_db

SID = "binance:futures:BTC/USDT:1m"
TF = 60
Bar = tuple[int, float, float, float, float, float]


def flat(values: list[float], start: int = 60) -> list[Bar]:
    """Flat candles (o=h=l=c) one minute apart from `start`."""
    return [
        (start + TF * k, float(v), float(v), float(v), float(v), 1.0) for k, v in enumerate(values)
    ]


def bar(slot: int, low: int, span: int) -> Bar:
    lo, hi = float(low), float(low + span)
    return (slot * TF, lo, hi, lo, hi, 1.0)


# Small integer prices make exact ties (plateaus, equal highs/lows) common.
bars_at = st.builds(bar, st.integers(1, 40), st.integers(1, 6), st.integers(0, 2))


@st.composite
def series(draw: st.DrawFn, max_len: int = 48) -> list[Bar]:
    """A stored series: mostly consecutive slots with some gaps; prices either a random walk
    or jumping among a few levels, so plateaus and exact ties are frequent."""
    n = draw(st.integers(0, max_len))
    steps = draw(st.lists(st.sampled_from([1, 1, 1, 1, 1, 1, 2, 3]), min_size=n, max_size=n))
    walk = draw(st.booleans())
    lows = draw(st.lists(st.integers(-2 if walk else 1, 2 if walk else 6), min_size=n, max_size=n))
    spans = draw(st.lists(st.integers(0, 2), min_size=n, max_size=n))
    out, slot, level = [], 0, 4
    for step, low, span in zip(steps, lows, spans):
        slot += step
        level = max(1, level + low) if walk else low
        out.append(bar(slot, level, span))
    return out


def wave_bars(rnd: random.Random, n: int, start: int = 1) -> list[Bar]:
    """Zig-zag prices: legs of 1-3 candles, alternately up and down, of random sizes, with
    an occasional gap. Pens come every few candles and often overlap, so zhongshu form,
    grow and die and the anchor switches (random walks rarely get that far)."""
    out: list[Bar] = []
    slot, level, up = start - 1, 30, True
    gaps = rnd.choice([0, 0, 0, 9])
    span = rnd.choice([0, 1])
    while len(out) < n:
        size = rnd.randint(1, 4)
        for _ in range(rnd.randint(1, 3)):
            slot += 2 if gaps and rnd.randrange(gaps) == 0 else 1
            level = max(1, level + (size if up else -size))
            out.append(bar(slot, level, span))
        up = not up
    return out[:n]


def waves(max_len: int = 60) -> st.SearchStrategy[list[Bar]]:
    return st.builds(wave_bars, st.randoms(use_true_random=False), st.integers(0, max_len))


wave_params_st = st.builds(
    AnalyticsParams,
    pivot_window_major=st.sampled_from([1, 1, 2]),
    pivot_window_minor=st.integers(1, 2),
    overlay_window_candles=st.sampled_from([2, 5, 9, 14, 25, 200]),
)


@st.composite
def schedules(
    draw: st.DrawFn, source: st.SearchStrategy[list[Bar]] | None = None
) -> list[list[Bar]]:
    """Write batches for a series: mostly in order, some candles arriving late, some
    overwritten by corrections, duplicates within and across batches, any batch sizes."""
    items = list(draw(source if source is not None else series(max_len=40)))
    for _ in range(draw(st.integers(0, 5))):
        if items:
            items.append(items.pop(draw(st.integers(0, len(items) - 1))))
    for noise in draw(st.lists(bars_at, max_size=5)):
        items.insert(draw(st.integers(0, len(items))), noise)
    cuts = sorted(draw(st.sets(st.integers(1, max(1, len(items))), max_size=12)))
    bounds = [0, *cuts, len(items)]
    return [items[a:b] for a, b in itertools.pairwise(bounds) if items[a:b]]


params_st = st.builds(
    AnalyticsParams,
    pivot_window_major=st.sampled_from([1, 1, 2, 3]),
    pivot_window_minor=st.integers(1, 2),
    overlay_window_candles=st.integers(1, 8),
)


def new_db() -> apsw.Connection:
    return open_db(":memory:")


def write(conn: apsw.Connection, rows: list[Bar]) -> int | None:
    """Upsert a batch (last write per time wins) in its own transaction, as the actor does;
    answers the earliest time inserted or changed."""
    latest = {r[0]: r for r in rows}
    batch = [latest[t] for t in sorted(latest)]
    existing = candle_ledger.get_many(conn, [r[0] for r in batch])
    changed = [r for r in batch if existing.get(r[0]) != r]
    if not changed:
        return None
    with conn:
        candle_ledger.upsert(conn, changed)
    return changed[0][0]


def stored_bars(conn: apsw.Connection) -> list[Bar]:
    return candle_ledger.range_rows(conn, 0, 2**62)


def ledger(conn: apsw.Connection) -> dict[str, Any]:
    """Everything the factor and overlay steps own, as comparable values (ids dropped from
    the catalog, which is kept in version order)."""
    return {
        "events": sorted(
            conn.execute("SELECT factor_name, event_key, visible_time, payload FROM factor_events")
        ),
        "heads": sorted(conn.execute("SELECT factor_name, candle_time, head FROM factor_heads")),
        "catalog": list(
            conn.execute(
                "SELECT instruction_id, kind, visible_time, definition FROM overlay_versions"
                " ORDER BY version_id"
            )
        ),
        "presence": sorted(conn.execute("SELECT * FROM overlay_presence")),
    }


def full_ledger(conn: apsw.Connection) -> dict[str, Any]:
    """`ledger` plus version ids, checkpoints and both state rows (for no-change checks)."""
    out = ledger(conn)
    out["ids"] = [r[0] for r in conn.execute("SELECT version_id FROM overlay_versions")]
    out["checkpoints"] = sorted(conn.execute("SELECT * FROM factor_checkpoints"))
    out["factor_state"] = list(conn.execute("SELECT * FROM factor_series_state"))
    out["overlay_state"] = list(conn.execute("SELECT * FROM overlay_series_state"))
    return out


def one_shot(bars: list[Bar], params: AnalyticsParams) -> tuple[dict[str, Any], FactorEngine]:
    """What a from-scratch computation over `bars` writes, in the shape of `ledger`."""
    engine = FactorEngine.create(params, TF)
    deriver = OverlayDeriver(TF, params.overlay_window_candles)
    events, heads, catalog, presence = [], [], [], []
    for b in bars:
        evs, changed = engine.step(b)
        events += [(e.factor, e.key, e.visible_time, dumps(e.payload)) for e in evs]
        heads += [(name, b[0], dumps(h)) for name, h in changed]
        pen_head = dict(changed).get("pen")
        versions, pres = deriver.step(b, evs, pen_head)
        catalog += [
            (v.instruction_id, v.kind, v.visible_time, dumps(v.definition)) for v in versions
        ]
        presence += [(p.instruction_id, p.visible_time, int(p.present)) for p in pres]
    return {
        "events": sorted(events),
        "heads": sorted(heads),
        "catalog": catalog,
        "presence": sorted(presence),
    }, engine


def analytics(conn: apsw.Connection, params: AnalyticsParams, **kw: Any) -> SeriesAnalytics:
    return SeriesAnalytics(conn, SID, TF, params, **kw)


def normalized(value: Any) -> Any:
    """JSON round trip, so tuples and lists compare equal."""
    return json.loads(json.dumps(value))
