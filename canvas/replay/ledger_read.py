"""Reading a replay package's inputs and ledger fingerprint from a series database (apsw)."""

from __future__ import annotations

import hashlib

import apsw
import attrs

from canvas.factors.base import Json, loads
from canvas.factors.registry import factor_names
from canvas.overlay import store as overlay_store
from canvas.replay.package import PackageInputs, PackageSpec
from canvas.storage import candle_ledger


@attrs.frozen
class FactorRows:
    """The candle and factor rows a package reads, as stored (payloads still JSON text).

    `events` per factor: `(visible_time, event_key, payload)` in the package's event range,
    by (visible_time, event_key); `heads` per factor: the head at the first bar (when there
    is one) and every later snapshot up to the last bar.
    """

    bars: list[candle_ledger.Row]
    events: dict[str, list[tuple[int, str, str]]]
    heads: dict[str, list[tuple[int, str]]]


def read_factor_rows(conn: apsw.Connection, spec: PackageSpec) -> FactorRows:
    first, to = spec.from_time, spec.to_time
    bars = candle_ledger.range_rows(conn, first, to)
    events: dict[str, list[tuple[int, str, str]]] = {}
    heads: dict[str, list[tuple[int, str]]] = {}
    for name in factor_names():
        events[name] = conn.execute(
            "SELECT visible_time, event_key, payload FROM factor_events"
            " WHERE factor_name = ? AND visible_time BETWEEN ? AND ?"
            " ORDER BY visible_time, event_key",
            (name, spec.events_from, to),
        ).fetchall()
        rows = conn.execute(
            "SELECT candle_time, head FROM factor_heads WHERE factor_name = ? AND candle_time <= ?"
            " ORDER BY candle_time DESC LIMIT 1",
            (name, first),
        ).fetchall()
        rows += conn.execute(
            "SELECT candle_time, head FROM factor_heads"
            " WHERE factor_name = ? AND candle_time > ? AND candle_time <= ? ORDER BY candle_time",
            (name, first, to),
        ).fetchall()
        heads[name] = rows
    return FactorRows(bars, events, heads)


def overlay_marks(conn: apsw.Connection, to: int) -> list[int | float]:
    """A cheap mark of the overlay catalog up to `to`: the largest version id visible at
    `to`, then the presence row count and time sum.

    The id alone marks the versions: ids follow visible_time and are never reused, so a
    rewrite from G <= to either deletes the row holding the largest id (it has the latest
    visible_time <= to) or appends one with a new, larger id. One seek, where a count of the
    versions would read the whole history."""
    top = overlay_store.max_version_at(conn, to) or 0
    rows, times = conn.execute(
        "SELECT COUNT(*), TOTAL(visible_time * 2 + present) FROM overlay_presence"
        " WHERE visible_time <= ?",
        (to,),
    ).fetchone()
    return [top, rows, times]


def fingerprint(rows: FactorRows, marks: list[int | float]) -> Json:
    """The ledger part of a cache key: digests of exactly the candle and factor rows the
    package reads, and the overlay mark. Equal fingerprints mean equal packages."""
    candles = hashlib.sha256(repr(rows.bars).encode()).hexdigest()[:32]
    factor = hashlib.sha256(repr((rows.events, rows.heads)).encode()).hexdigest()[:32]
    return {"candles": [len(rows.bars), candles], "factor": factor, "overlay": marks}


def ledger_fingerprint(conn: apsw.Connection, spec: PackageSpec) -> Json:
    return fingerprint(read_factor_rows(conn, spec), overlay_marks(conn, spec.to_time))


def read_catalog(
    conn: apsw.Connection, spec: PackageSpec
) -> tuple[list[Json], dict[str, list[tuple[int, bool]]]]:
    """The catalog as `PackageInputs` holds it, and each polyline's presence rows."""
    first, to = spec.from_time, spec.to_time
    base = _base_versions(conn, first)
    base.sort(key=lambda r: (r[3], r[0]))
    later = conn.execute(
        "SELECT version_id, instruction_id, kind, visible_time, definition FROM overlay_versions"
        " WHERE visible_time > ? AND visible_time <= ? ORDER BY visible_time, version_id",
        (first, to),
    ).fetchall()
    catalog = [
        {
            "version_id": vid,
            "instruction_id": iid,
            "kind": kind,
            "visible_time": vt,
            "definition": loads(definition),
        }
        for vid, iid, kind, vt, definition in (*base, *later)
    ]
    presence: dict[str, list[tuple[int, bool]]] = {}
    for iid, vt, present in (
        conn.execute(
            "SELECT instruction_id, MAX(visible_time), present FROM overlay_presence"
            " WHERE visible_time <= ? GROUP BY instruction_id",
            (first,),
        ).fetchall()
        + conn.execute(
            "SELECT instruction_id, visible_time, present FROM overlay_presence"
            " WHERE visible_time > ? AND visible_time <= ? ORDER BY visible_time",
            (first, to),
        ).fetchall()
    ):
        presence.setdefault(iid, []).append((vt, bool(present)))
    # A polyline absent at the first bar and never present later cannot be active: leave
    # out the many that belonged to earlier events.
    presence = {iid: rows for iid, rows in presence.items() if any(on for _, on in rows)}
    return catalog, presence


def _base_versions(conn: apsw.Connection, first: int) -> list[tuple]:
    """The latest version of each instruction visible at `first`, found per instruction
    rather than by grouping every version ever written (most are the few polylines that
    move each candle): markers through their time index (a marker's time precedes its
    visible_time), polylines by their ids in the presence table (the deriver records a
    polyline present before its first version), one seek each."""
    # SQLite takes the bare columns of a MAX() aggregate from the row holding the maximum.
    markers = conn.execute(
        "SELECT MAX(version_id), instruction_id, kind, visible_time, definition"
        " FROM overlay_versions INDEXED BY overlay_markers_by_time"
        " WHERE kind = 'marker' AND time_hi <= ? AND visible_time <= ? GROUP BY instruction_id",
        (first, first),
    ).fetchall()
    polylines = conn.execute(
        "SELECT DISTINCT instruction_id FROM overlay_presence WHERE visible_time <= ?", (first,)
    ).fetchall()
    latest = (overlay_store.latest_row(conn, iid, first) for (iid,) in polylines)
    return markers + [row for row in latest if row is not None]


def package_inputs(conn: apsw.Connection, spec: PackageSpec, rows: FactorRows) -> PackageInputs:
    """Parse the factor rows and read the catalog: the complete input of `build_package`."""
    catalog, presence = read_catalog(conn, spec)
    return PackageInputs(
        bars=rows.bars,
        events={
            name: [(vt, key, loads(payload)) for vt, key, payload in evs]
            for name, evs in rows.events.items()
        },
        heads={name: [(t, loads(head)) for t, head in hs] for name, hs in rows.heads.items()},
        catalog=catalog,
        presence=presence,
    )
