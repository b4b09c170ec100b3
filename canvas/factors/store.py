"""Factor ledger SQL (events, head snapshots, series state, checkpoints); callers own txns."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import apsw
import attrs

from canvas.factors.base import FactorEvent, Json, dumps, loads
from canvas.factors.engine import EngineOutput
from canvas.factors.registry import event_kind, factor_names

# The `factors` component's numbered migrations (applied by canvas.storage.ledger_schema).
MIGRATIONS: tuple[str, ...] = (
        # Events are final once visible (late data aside); `event_key` starts with the kind.
        """
        CREATE TABLE factor_events (
            factor_name TEXT NOT NULL,
            event_key TEXT NOT NULL,
            visible_time INTEGER NOT NULL,
            payload TEXT NOT NULL,
            PRIMARY KEY (factor_name, event_key)
        ) WITHOUT ROWID;
        CREATE INDEX factor_events_by_visible ON factor_events(factor_name, visible_time);
        CREATE TABLE factor_heads (
            factor_name TEXT NOT NULL,
            candle_time INTEGER NOT NULL,
            head TEXT NOT NULL,
            PRIMARY KEY (factor_name, candle_time)
        ) WITHOUT ROWID;
        CREATE TABLE factor_series_state (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            head_time INTEGER,
            logic_hash TEXT,
            engine_state TEXT,
            dirty_from INTEGER
        );
        CREATE TABLE factor_checkpoints (
            candle_time INTEGER PRIMARY KEY,
            engine_state TEXT NOT NULL
        ) WITHOUT ROWID;
        """,
)

@attrs.frozen
class FactorSeriesState:
    """The stored series state; `dirty_from` is the earliest candle changed at or before the
    head that no factor step has absorbed yet (see `note_candles_changed`)."""

    head_time: int | None = None
    logic_hash: str | None = None
    engine_state: str | None = None
    dirty_from: int | None = None


def load_state(conn: apsw.Connection) -> FactorSeriesState:
    row = conn.execute(
        "SELECT head_time, logic_hash, engine_state, dirty_from FROM factor_series_state"
    ).fetchone()
    return FactorSeriesState(*row) if row else FactorSeriesState()


def save_state(conn: apsw.Connection, state: FactorSeriesState) -> None:
    conn.execute(
        "INSERT OR REPLACE INTO factor_series_state"
        "(id, head_time, logic_hash, engine_state, dirty_from) VALUES (1, ?, ?, ?, ?)",
        (state.head_time, state.logic_hash, state.engine_state, state.dirty_from),
    )


def note_candles_changed(conn: apsw.Connection, changed_from: int) -> None:
    """Record, inside the candle write's own transaction, that candles from `changed_from`
    were inserted or changed, so a crash before the factor step cannot lose a late fill."""
    conn.execute(
        "INSERT INTO factor_series_state(id, dirty_from) VALUES (1, ?) ON CONFLICT(id) DO UPDATE"
        " SET dirty_from = MIN(COALESCE(dirty_from, excluded.dirty_from), excluded.dirty_from)",
        (changed_from,),
    )


def _event_rows(events: Iterable[FactorEvent]) -> list[tuple[str, str, int, str]]:
    return [(e.factor, e.key, e.visible_time, dumps(e.payload)) for e in events]


def _head_rows(heads: Iterable[tuple[str, int, Json]]) -> list[tuple[str, int, str]]:
    return [(name, t, dumps(head)) for name, t, head in heads]


def append_output(conn: apsw.Connection, out: EngineOutput) -> None:
    """Append what a run past the stored head produced."""
    conn.executemany(
        "INSERT INTO factor_events(factor_name, event_key, visible_time, payload)"
        " VALUES (?, ?, ?, ?)",
        _event_rows(out.events),
    )
    conn.executemany(
        "INSERT INTO factor_heads(factor_name, candle_time, head) VALUES (?, ?, ?)",
        _head_rows(out.heads),
    )
    put_checkpoints(conn, out.checkpoints)


def replace_after(conn: apsw.Connection, after: int | None, out: EngineOutput) -> int | None:
    """Make the ledger past `after` equal `out` (a recompute from the state at `after`).

    Only rows that differ are written. Answers F, the earliest visible_time (event) or
    candle_time (head) at which old and new differ, or None when nothing differs. Heads are
    stored only where they change, so the first differing snapshot time is the first time
    the effective heads differ.
    """
    lo = -1 if after is None else after
    old_events, old_heads = _stored_after(conn, lo)
    new_events = {(f, k): (vt, payload) for f, k, vt, payload in _event_rows(out.events)}
    new_heads = {(f, t): head for f, t, head in _head_rows(out.heads)}

    times: list[int] = []
    drop_events, put_events = [], []
    for key, old in old_events.items():
        new = new_events.get(key)
        if new != old:
            times.append(old[0])
            if new is None:
                drop_events.append(key)
    for key, new in new_events.items():
        if old_events.get(key) != new:
            times.append(new[0])
            put_events.append((*key, *new))
    drop_heads = [k for k in old_heads if k not in new_heads]
    put_heads = [(*k, h) for k, h in new_heads.items() if old_heads.get(k) != h]
    times.extend(t for _, t in drop_heads)
    times.extend(t for _, t, _ in put_heads)

    _write_changes(conn, drop_events, put_events, drop_heads, put_heads)
    conn.execute("DELETE FROM factor_checkpoints WHERE candle_time > ?", (lo,))
    put_checkpoints(conn, out.checkpoints)
    return min(times) if times else None


def _stored_after(
    conn: apsw.Connection, lo: int
) -> tuple[dict[tuple[str, str], tuple[int, str]], dict[tuple[str, int], str]]:
    """The stored events (visible after `lo`) and head snapshots (after `lo`), keyed."""
    # Per factor, so each read is a range of the (factor_name, time) indexes.
    events = {
        (f, k): (vt, payload)
        for f in factor_names()
        for k, vt, payload in conn.execute(
            "SELECT event_key, visible_time, payload FROM factor_events"
            " WHERE factor_name = ? AND visible_time > ?",
            (f, lo),
        )
    }
    heads = {
        (f, t): head
        for f in factor_names()
        for t, head in conn.execute(
            "SELECT candle_time, head FROM factor_heads WHERE factor_name = ? AND candle_time > ?",
            (f, lo),
        )
    }
    return events, heads


def _write_changes(
    conn: apsw.Connection,
    drop_events: list[tuple[str, str]],
    put_events: list[tuple],
    drop_heads: list[tuple[str, int]],
    put_heads: list[tuple],
) -> None:
    conn.executemany(
        "DELETE FROM factor_events WHERE factor_name = ? AND event_key = ?", drop_events
    )
    conn.executemany(
        "INSERT OR REPLACE INTO factor_events(factor_name, event_key, visible_time, payload)"
        " VALUES (?, ?, ?, ?)",
        put_events,
    )
    conn.executemany(
        "DELETE FROM factor_heads WHERE factor_name = ? AND candle_time = ?", drop_heads
    )
    conn.executemany(
        "INSERT OR REPLACE INTO factor_heads(factor_name, candle_time, head) VALUES (?, ?, ?)",
        put_heads,
    )


def put_checkpoints(conn: apsw.Connection, checkpoints: Iterable[tuple[int, Json]]) -> None:
    conn.executemany(
        "INSERT OR REPLACE INTO factor_checkpoints(candle_time, engine_state) VALUES (?, ?)",
        [(t, dumps(state)) for t, state in checkpoints],
    )


def checkpoint_before(conn: apsw.Connection, t: int) -> tuple[int, Json] | None:
    """The latest engine checkpoint taken strictly before candle time `t`."""
    row = conn.execute(
        "SELECT candle_time, engine_state FROM factor_checkpoints WHERE candle_time < ?"
        " ORDER BY candle_time DESC LIMIT 1",
        (t,),
    ).fetchone()
    return None if row is None else (row[0], loads(row[1]))


# --- reads -------------------------------------------------------------------------------


def window_events(conn: apsw.Connection, factor: str, lo: int, hi: int) -> list[tuple[str, Json]]:
    """`(event_key, payload)` of a factor's events with lo <= visible_time <= hi."""
    return [
        (key, loads(payload))
        for key, payload in conn.execute(
            "SELECT event_key, payload FROM factor_events"
            " WHERE factor_name = ? AND visible_time BETWEEN ? AND ?",
            (factor, lo, hi),
        )
    ]


def head_at(conn: apsw.Connection, factor: str, t: int) -> Json:
    """A factor's head at `t`: its latest snapshot at or before `t` ({} before any)."""
    row = conn.execute(
        "SELECT head FROM factor_heads WHERE factor_name = ? AND candle_time <= ?"
        " ORDER BY candle_time DESC LIMIT 1",
        (factor, t),
    ).fetchone()
    return {} if row is None else loads(row[0])


def events_between(conn: apsw.Connection, after: int | None, upto: int) -> list[FactorEvent]:
    """Every factor's events with after < visible_time <= upto, by visible_time (registry
    order within a candle)."""
    lo = -1 if after is None else after
    out: list[FactorEvent] = []
    for name in factor_names():
        for key, vt, payload in conn.execute(
            "SELECT event_key, visible_time, payload FROM factor_events"
            " WHERE factor_name = ? AND visible_time > ? AND visible_time <= ?",
            (name, lo, upto),
        ):
            out.append(FactorEvent(name, event_kind(name, key), key, vt, loads(payload)))
    out.sort(key=lambda e: e.visible_time)
    return out


def heads_between(
    conn: apsw.Connection, factor: str, after: int | None, upto: int
) -> dict[int, Json]:
    """A factor's head snapshots with after < candle_time <= upto."""
    return {
        t: loads(head)
        for t, head in conn.execute(
            "SELECT candle_time, head FROM factor_heads"
            " WHERE factor_name = ? AND candle_time > ? AND candle_time <= ?",
            (factor, -1 if after is None else after, upto),
        )
    }


def newest_events(conn: apsw.Connection, factor: str, upto: int) -> Iterator[tuple[int, Json]]:
    """`(visible_time, payload)` of a factor's events visible at `upto`, newest first; lazy,
    so a caller that stops early reads no further."""
    for vt, payload in conn.execute(
        "SELECT visible_time, payload FROM factor_events"
        " WHERE factor_name = ? AND visible_time <= ? ORDER BY visible_time DESC",
        (factor, upto),
    ):
        yield vt, loads(payload)
