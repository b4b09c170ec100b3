"""Reading a replay package's inputs and ledger fingerprint from a series database (apsw)."""

from __future__ import annotations

import hashlib
import json

import apsw
import attrs

from canvas.factors.base import Json
from canvas.factors.registry import factor_names
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
    """A cheap mark of the overlay catalog up to `to`: version count and largest id (ids are
    never reused, so any rewrite moves them), then presence row count and time sum."""
    count, top = conn.execute(
        "SELECT COUNT(*), COALESCE(MAX(version_id), 0) FROM overlay_versions"
        " WHERE visible_time <= ?",
        (to,),
    ).fetchone()
    rows, times = conn.execute(
        "SELECT COUNT(*), TOTAL(visible_time * 2 + present) FROM overlay_presence"
        " WHERE visible_time <= ?",
        (to,),
    ).fetchone()
    return [count, top, rows, times]


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
    # SQLite takes the bare columns of a MAX() aggregate from the row holding the maximum:
    # the latest version of each instruction visible at the first bar.
    base = conn.execute(
        "SELECT MAX(version_id), instruction_id, kind, visible_time, definition"
        " FROM overlay_versions WHERE visible_time <= ? GROUP BY instruction_id",
        (first,),
    ).fetchall()
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
            "definition": json.loads(definition),
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


def package_inputs(conn: apsw.Connection, spec: PackageSpec, rows: FactorRows) -> PackageInputs:
    """Parse the factor rows and read the catalog: the complete input of `build_package`."""
    catalog, presence = read_catalog(conn, spec)
    return PackageInputs(
        bars=rows.bars,
        events={
            name: [(vt, key, json.loads(payload)) for vt, key, payload in evs]
            for name, evs in rows.events.items()
        },
        heads={name: [(t, json.loads(head)) for t, head in hs] for name, hs in rows.heads.items()},
        catalog=catalog,
        presence=presence,
    )
