"""The factor step, inside the caller's transaction: extend or recompute the ledger (§4.6)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import apsw
import attrs

from canvas.factors import store
from canvas.factors.base import AnalyticsParams, Bar
from canvas.factors.engine import FactorEngine
from canvas.overlay import store as overlay_store

CHECKPOINT_EVERY = 1000


def bars_after(conn: apsw.Connection, after: int | None, upto: int) -> Iterator[Bar]:
    """Stored candles with after < candle_time <= upto, ascending (lazily)."""
    return conn.execute(
        "SELECT candle_time, open, high, low, close, volume FROM candles"
        " WHERE candle_time > ? AND candle_time <= ? ORDER BY candle_time",
        (-1 if after is None else after, upto),
    )


@attrs.frozen
class FactorStep:
    """The outcome of one factor step, applied to memory only after its commit.

    `rewind_from` is F (§4.6) when stored output at or before the old head changed;
    `overlay_head` is the overlay head after the step (moved back before F on a rewind).
    """

    engine: FactorEngine
    state: store.FactorSeriesState
    rewind_from: int | None
    overlay_head: int | None


def advance(
    conn: apsw.Connection,
    *,
    engine: FactorEngine | None,
    state: store.FactorSeriesState,
    params: AnalyticsParams,
    tf: int,
    store_head: int,
    dirty_from: int | None,
    current_hash: str,
    checkpoint_every: int,
) -> FactorStep:
    """Bring the ledger from `state.head_time` to `store_head`.

    With no head it is computed from scratch and the current logic hash is recorded. When a
    candle at or before the head changed (`dirty_from`), the engine resumes from the last
    checkpoint before it, the ledger past that checkpoint is replaced where it differs, and
    the overlay head is moved back before the first difference. Otherwise the engine (the
    in-memory one, or the stored state) continues past the head.
    """
    head = state.head_time
    logic_hash = state.logic_hash if head is not None else current_hash
    rewind_from: int | None = None
    overlay_head = overlay_store.load_state(conn).head_time
    stored_engine = state.engine_state
    if head is not None and stored_engine is None:
        # A head without engine state cannot be continued: recompute it all (and diff).
        dirty_from = 0
    if head is not None and dirty_from is not None and dirty_from <= head:
        # Checkpoints hold every factor's full state, so resuming from one strictly before
        # the change is exact even for factors whose state reaches back without bound (the
        # zhongshu's alive/pending/floor, the anchor's current and strength): no
        # "changed candle minus the largest window" shortcut is taken.
        checkpoint = store.checkpoint_before(conn, dirty_from)
        if checkpoint is None:
            start, engine = None, FactorEngine.create(params, tf)
        else:
            start, engine = checkpoint[0], FactorEngine.restore(params, tf, checkpoint[1])
        out = engine.run(bars_after(conn, start, store_head), checkpoint_every)
        first = store.replace_after(conn, start, out)
        # Differences past the old head are new output, not a rewind.
        if first is not None and first <= head:
            rewind_from = first
        # The overlay also steps on candle times (the pen window is a time span), so an
        # inserted candle can change it where factor output does not: it is re-derived from
        # the changed candle (rewriting only what differs).
        overlay_head = overlay_store.truncate_head(conn, dirty_from)
    else:
        if head is None:
            engine = FactorEngine.create(params, tf)
        elif engine is None or engine.head_time != head:
            engine = FactorEngine.restore(params, tf, json.loads(stored_engine or "{}"))
        out = engine.run(bars_after(conn, head, store_head), checkpoint_every)
        store.append_output(conn, out)
    new_state = store.FactorSeriesState(
        engine.head_time, logic_hash, store.dumps(engine.export_state()), None
    )
    store.save_state(conn, new_state)
    return FactorStep(engine, new_state, rewind_from, overlay_head)


def rebuild(
    conn: apsw.Connection,
    *,
    params: AnalyticsParams,
    tf: int,
    store_head: int,
    current_hash: str,
    checkpoint_every: int,
) -> FactorStep:
    """Recompute the whole ledger from the stored candles with the current logic and record
    the current hash. `rewind_from` is the first time the new ledger differs from the old
    one (None when identical); the overlay head is moved back before it."""
    engine = FactorEngine.create(params, tf)
    out = engine.run(bars_after(conn, None, store_head), checkpoint_every)
    first = store.replace_after(conn, None, out)
    overlay_head = overlay_store.load_state(conn).head_time
    if first is not None:
        overlay_head = overlay_store.truncate_head(conn, first)
    new_state = store.FactorSeriesState(
        engine.head_time, current_hash, store.dumps(engine.export_state()), None
    )
    store.save_state(conn, new_state)
    return FactorStep(engine, new_state, first, overlay_head)
