"""The overlay step, inside the caller's transaction: derive the catalog from the ledger (§5)."""

from __future__ import annotations

from collections import defaultdict

import apsw
import attrs

from canvas.factors import store as factor_store
from canvas.factors.base import FactorEvent
from canvas.overlay import store
from canvas.overlay.deriver import OverlayDeriver
from canvas.overlay.instructions import OverlayVersion, Presence


@attrs.frozen
class OverlayStep:
    """The outcome of one overlay step, applied to memory only after its commit."""

    deriver: OverlayDeriver
    state: store.OverlaySeriesState


def derive(
    conn: apsw.Connection,
    *,
    deriver: OverlayDeriver | None,
    state: store.OverlaySeriesState,
    factor_head: int,
    tf: int,
    window_candles: int,
) -> OverlayStep:
    """Extend the catalog from the overlay head to `factor_head`.

    The in-memory deriver is used when it sits exactly at the stored head and its output is
    appended. Otherwise (first use, a restart, a rewind that moved the head back, a failed
    step) the deriver is re-read from the ledgers at the head and its output replaces the
    stored rows past the head where they differ. Parameters that differ from the ones the
    catalog was written with start it over from nothing.
    """
    params = store.params_json(tf, window_candles)
    head = state.head_time if state.params == params else None
    if deriver is not None and deriver.head_time == head and state.params == params:
        versions, presence = run_stored(conn, deriver, head, factor_head)
        store.append(conn, versions, presence)
    else:
        if head is None:
            deriver = OverlayDeriver(tf, window_candles)
        else:
            deriver = OverlayDeriver.restore(
                tf, window_candles, store.state_at(conn, head, tf, window_candles)
            )
        versions, presence = run_stored(conn, deriver, head, factor_head)
        store.replace_after(conn, head, versions, presence)
    new_state = store.OverlaySeriesState(factor_head, params)
    store.save_state(conn, new_state)
    return OverlayStep(deriver, new_state)


def run_stored(
    conn: apsw.Connection, deriver: OverlayDeriver, after: int | None, upto: int
) -> tuple[list[OverlayVersion], list[Presence]]:
    """Feed the deriver every stored candle in (after, upto] with that candle's factor
    events and pen head change, read from the factor ledger."""
    by_time: dict[int, list[FactorEvent]] = defaultdict(list)
    for ev in factor_store.events_between(conn, after, upto):
        by_time[ev.visible_time].append(ev)
    heads = factor_store.heads_between(conn, "pen", after, upto)
    versions: list[OverlayVersion] = []
    presence: list[Presence] = []
    step = deriver.step
    no_events: list[FactorEvent] = []
    for bar in conn.execute(
        "SELECT candle_time, open, high, low, close, volume FROM candles"
        " WHERE candle_time > ? AND candle_time <= ? ORDER BY candle_time",
        (-1 if after is None else after, upto),
    ):
        t = bar[0]
        v, p = step(bar, by_time.get(t, no_events), heads.get(t))
        if v:
            versions.extend(v)
        if p:
            presence.extend(p)
    return versions, presence
