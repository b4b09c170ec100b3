"""Overlay catalog SQL (versions, polyline presence, overlay state); callers own txns."""

from __future__ import annotations

from collections.abc import Iterable

import apsw
import attrs

from canvas.factors import store as factor_store
from canvas.factors.base import Json, loads
from canvas.factors.store import dumps
from canvas.factors.anchor import switch_order
from canvas.overlay.instructions import (
    POLYLINE_IDS,
    OverlayVersion,
    Presence,
    dead_prefix,
    definition_json,
    definition_times,
    history_id,
    touches,
)
from canvas.storage import candle_ledger

# The `overlay` component's numbered migrations (applied by canvas.storage.ledger_schema).
MIGRATIONS: tuple[str, ...] = (
        # AUTOINCREMENT: ids of versions deleted by a rewind are never handed out again, so a
        # client cursor past them still sees every re-derived version (§5).
        # time_lo/time_hi bound the definition's times; markers are found by time through
        # the partial index, polylines (a fixed handful) by id.
        """
        CREATE TABLE overlay_versions (
            version_id INTEGER PRIMARY KEY AUTOINCREMENT,
            instruction_id TEXT NOT NULL,
            kind TEXT NOT NULL,
            visible_time INTEGER NOT NULL,
            time_lo INTEGER NOT NULL,
            time_hi INTEGER NOT NULL,
            definition TEXT NOT NULL
        );
        CREATE INDEX overlay_versions_by_visible ON overlay_versions(visible_time);
        CREATE INDEX overlay_versions_by_instruction
            ON overlay_versions(instruction_id, visible_time);
        CREATE INDEX overlay_markers_by_time ON overlay_versions(time_hi) WHERE kind = 'marker';
        CREATE TABLE overlay_presence (
            instruction_id TEXT NOT NULL,
            visible_time INTEGER NOT NULL,
            present INTEGER NOT NULL,
            PRIMARY KEY (instruction_id, visible_time)
        ) WITHOUT ROWID;
        CREATE INDEX overlay_presence_by_visible ON overlay_presence(visible_time);
        CREATE TABLE overlay_series_state (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            head_time INTEGER,
            params TEXT NOT NULL
        );
        """,
)


@attrs.frozen
class OverlaySeriesState:
    """`params` is the JSON of the derivation parameters the catalog was written with."""

    head_time: int | None = None
    params: str | None = None


def params_json(tf: int, window_candles: int) -> str:
    return dumps({"tf": tf, "window_candles": window_candles})


def load_state(conn: apsw.Connection) -> OverlaySeriesState:
    row = conn.execute("SELECT head_time, params FROM overlay_series_state").fetchone()
    return OverlaySeriesState(*row) if row else OverlaySeriesState()


def save_state(conn: apsw.Connection, state: OverlaySeriesState) -> None:
    conn.execute(
        "INSERT OR REPLACE INTO overlay_series_state(id, head_time, params) VALUES (1, ?, ?)",
        (state.head_time, state.params or ""),
    )


def truncate_head(conn: apsw.Connection, from_time: int) -> int | None:
    """Declare the catalog unverified from `from_time` on: the head moves back to the last
    candle before it, and the next overlay step re-derives from there, rewriting the rows
    past the head that differ (`replace_after`). Answers the resulting head."""
    state = load_state(conn)
    if state.head_time is None or state.head_time < from_time:
        return state.head_time
    head = candle_ledger.floor_time(conn, from_time - 1) if from_time > 0 else None
    save_state(conn, attrs.evolve(state, head_time=head))
    return head


def append(
    conn: apsw.Connection, versions: Iterable[OverlayVersion], presence: Iterable[Presence]
) -> None:
    _insert_versions(conn, [(v, definition_json(v.definition)) for v in versions])
    conn.executemany(
        "INSERT INTO overlay_presence(instruction_id, visible_time, present) VALUES (?, ?, ?)",
        [(p.instruction_id, p.visible_time, int(p.present)) for p in presence],
    )


def _insert_versions(conn: apsw.Connection, encoded: Iterable[tuple[OverlayVersion, str]]) -> None:
    """Insert versions with their definitions' text (`definition_json`)."""
    rows = []
    for v, text in encoded:
        times = definition_times(v.definition)
        rows.append((v.instruction_id, v.kind, v.visible_time, min(times), max(times), text))
    conn.executemany(
        "INSERT INTO overlay_versions"
        "(instruction_id, kind, visible_time, time_lo, time_hi, definition)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        rows,
    )


def replace_after(
    conn: apsw.Connection,
    after: int | None,
    versions: list[OverlayVersion],
    presence: list[Presence],
) -> int | None:
    """Make the catalog past `after` equal a re-derivation from `after`.

    Stored versions are kept up to the first one that differs (in version order); from that
    visible_time G on they are deleted and the new ones appended, so ids keep following
    visible_time and identical history keeps its ids. Presence records are keyed by time and
    replaced where they differ. Answers G (None when nothing differs).
    """
    lo = -1 if after is None else after
    old = conn.execute(
        "SELECT instruction_id, kind, visible_time, definition FROM overlay_versions"
        " WHERE visible_time > ? ORDER BY version_id",
        (lo,),
    ).fetchall()
    texts = [definition_json(v.definition) for v in versions]
    new = [(v.instruction_id, v.kind, v.visible_time, text) for v, text in zip(versions, texts)]
    first: int | None = None
    for i in range(max(len(old), len(new))):
        a = old[i] if i < len(old) else None
        b = new[i] if i < len(new) else None
        if a != b:
            first = min(r[2] for r in (a, b) if r is not None)
            break
    if first is not None:
        conn.execute("DELETE FROM overlay_versions WHERE visible_time >= ?", (first,))
        _insert_versions(conn, [(v, t) for v, t in zip(versions, texts) if v.visible_time >= first])
    old_presence = set(
        conn.execute(
            "SELECT instruction_id, visible_time, present FROM overlay_presence"
            " WHERE visible_time > ?",
            (lo,),
        )
    )
    new_presence = {(p.instruction_id, p.visible_time, int(p.present)) for p in presence}
    conn.executemany(
        "DELETE FROM overlay_presence WHERE instruction_id = ? AND visible_time = ?",
        [(iid, vt) for iid, vt, _ in old_presence - new_presence],
    )
    conn.executemany(
        "INSERT INTO overlay_presence(instruction_id, visible_time, present) VALUES (?, ?, ?)",
        sorted(new_presence - old_presence),
    )
    return first


def definition_at(conn: apsw.Connection, instruction_id: str, t: int) -> Json | None:
    """The instruction's latest definition with visible_time <= t."""
    row = latest_row(conn, instruction_id, t)
    return None if row is None else loads(row[4])


def latest_row(conn: apsw.Connection, instruction_id: str, t: int) -> tuple | None:
    """The instruction's latest version row visible at `t` (one seek on its index)."""
    return conn.execute(
        "SELECT version_id, instruction_id, kind, visible_time, definition FROM overlay_versions"
        " WHERE instruction_id = ? AND visible_time <= ?"
        " ORDER BY visible_time DESC, version_id DESC LIMIT 1",
        (instruction_id, t),
    ).fetchone()


def present_at(conn: apsw.Connection, instruction_id: str, t: int) -> bool:
    row = conn.execute(
        "SELECT present FROM overlay_presence WHERE instruction_id = ? AND visible_time <= ?"
        " ORDER BY visible_time DESC LIMIT 1",
        (instruction_id, t),
    ).fetchone()
    return bool(row and row[0])


def state_at(conn: apsw.Connection, t: int, tf: int, window_candles: int) -> Json:
    """The deriver state after candle `t`, re-read from the factor ledger and the catalog
    (the same dict `OverlayDeriver.export_state` gives)."""
    threshold = t - window_candles * tf
    pens: list[Json] = []
    # Pens are chained, so end_time never decreases along visible_time: walk back from t
    # and stop below the visible_time of the first pen that left the window (pens sharing
    # that visible_time are still looked at).
    stop_at: int | None = None
    for vt, payload in factor_store.newest_events(conn, "pen", t):
        if stop_at is not None and vt < stop_at:
            break
        if payload["end_time"] < threshold:
            stop_at = vt
        else:
            pens.append(payload)
    pens.sort(key=lambda p: (p["visible_time"], p["start_time"], p["end_time"]))
    seen = [p for _, p in factor_store.window_events(conn, "pen", threshold, t)]
    seen.sort(key=lambda p: (p["visible_time"], p["start_time"], p["end_time"]))
    deads = [p for _, p in factor_store.window_events(conn, "zhongshu", threshold, t)]
    deads.sort(key=lambda p: p["visible_time"])
    switches = [p for _, p in factor_store.window_events(conn, "anchor", threshold, t)]
    switches.sort(key=switch_order)
    # The polylines the deriver may still draw: the fixed ones and one per window event.
    ids = [*POLYLINE_IDS, *(history_id(p) for p in switches)]
    for p in deads:
        ids += [f"{dead_prefix(p)}:top", f"{dead_prefix(p)}:bottom"]
    defs = {}
    for iid in ids:
        definition = definition_at(conn, iid, t)
        if definition is not None:
            defs[iid] = definition
    bars = [[bt, h, lo] for bt, _, h, lo, _, _ in candle_ledger.range_rows(conn, threshold, t)]
    return {
        "head_time": t,
        "pens": pens,
        "defs": defs,
        "present": present_polylines(conn, t, threshold),
        "seen_pens": seen,
        "deads": deads,
        "switches": switches,
        "bars": bars,
        "pen_head": factor_store.head_at(conn, "pen", t),
    }


def present_polylines(conn: apsw.Connection, t: int, since: int) -> list[str]:
    """The polylines that exist at `t`, sorted. Those without a fixed id exist only while
    their event is in the derivation window `[since, t]`, after it became visible, so they
    last appeared within it."""
    ids = {iid for iid in POLYLINE_IDS if present_at(conn, iid, t)}
    for (iid,) in conn.execute(
        "SELECT DISTINCT instruction_id FROM overlay_presence"
        " WHERE visible_time BETWEEN ? AND ? AND present = 1",
        (since, t),
    ):
        if iid not in ids and present_at(conn, iid, t):
            ids.add(iid)
    return sorted(ids)


def derivation_since(conn: apsw.Connection, t: int) -> int:
    """The start of the derivation window at `t`, from the stored overlay parameters."""
    params = load_state(conn).params
    if not params:
        return t
    p = loads(params)
    return t - p["window_candles"] * p["tf"]


# --- reads -------------------------------------------------------------------------------


def max_version_at(conn: apsw.Connection, t: int) -> int | None:
    """The largest version_id visible at `t` (ids follow visible_time, so it is the last
    entry of the visible_time index at or before `t`)."""
    row = conn.execute(
        "SELECT version_id FROM overlay_versions WHERE visible_time <= ?"
        " ORDER BY visible_time DESC, version_id DESC LIMIT 1",
        (t,),
    ).fetchone()
    return None if row is None else row[0]


def _entry(vid: int, iid: str, kind: str, vt: int, definition: str) -> Json:
    return {
        "version_id": vid,
        "instruction_id": iid,
        "kind": kind,
        "visible_time": vt,
        "definition": loads(definition),
    }


def patch(conn: apsw.Connection, after_id: int, upto_id: int, t: int) -> list[Json]:
    """Versions with after_id < version_id <= upto_id visible at `t`, ascending."""
    return [
        _entry(*row)
        for row in conn.execute(
            "SELECT version_id, instruction_id, kind, visible_time, definition"
            " FROM overlay_versions WHERE version_id > ? AND version_id <= ? AND visible_time <= ?"
            " ORDER BY version_id",
            (after_id, upto_id, t),
        )
    ]


def snapshot(conn: apsw.Connection, ids: Iterable[str], t: int) -> list[Json]:
    """The cursor-0 patch (§5 rev 4): each id's latest version visible at `t`, ascending by
    version_id. One seek per id on the (instruction_id, visible_time) index, so the cost is
    bounded by what is drawn, not by the series' history."""
    rows = sorted(row for row in (latest_row(conn, iid, t) for iid in ids) if row is not None)
    return [_entry(*row) for row in rows]


def active_ids(conn: apsw.Connection, t: int, lo: int) -> list[str]:
    """Instructions existing at `t` drawn somewhere in [lo, t], sorted (§5)."""
    ids = [
        iid
        for (iid,) in conn.execute(
            # The literal kind lets SQLite match the partial index.
            "SELECT instruction_id FROM overlay_versions"
            " WHERE kind = 'marker' AND time_hi BETWEEN ? AND ? AND visible_time <= ?",
            (lo, t, t),
        )
    ]
    for iid in present_polylines(conn, t, derivation_since(conn, t)):
        definition = definition_at(conn, iid, t)
        if definition is not None and touches(definition, lo, t):
            ids.append(iid)
    ids.sort()
    return ids
