"""Opening a series database and applying each component's numbered migrations."""

from __future__ import annotations

import os
import urllib.parse
from collections.abc import Sequence
from pathlib import Path

import apsw
import apsw.bestpractice

from canvas.storage.ledger_schema import LEDGER_SCHEMA

# SQLite's own log is left out: it reports benign, retried events (SQLITE_SCHEMA after a
# concurrent migration) as noise on every connection open.
apsw.bestpractice.apply(
    tuple(f for f in apsw.bestpractice.recommended if f is not apsw.bestpractice.library_logging)
)

# A ledger's schema: (component, migration scripts) pairs. Each component (candles, factors,
# overlay) owns an ordered list of scripts; `schema_versions` records how many of each have
# run, so components evolve apart. The series ledger's list is ledger_schema.LEDGER_SCHEMA.
Schema = Sequence[tuple[str, Sequence[str]]]


def series_db_path(data_dir: str | os.PathLike[str], series_id: str) -> Path:
    name = urllib.parse.quote(series_id, safe="") + ".sqlite"
    return Path(data_dir) / "series" / name


def series_id_from_path(path: Path) -> str:
    return urllib.parse.unquote(path.name.removesuffix(".sqlite"))


LEDGER_CACHE_KIB = 1024
# How long a statement waits for another connection's lock before SQLITE_BUSY.
BUSY_TIMEOUT_MS = 5000


def open_db(
    path: str | os.PathLike[str], *, readonly: bool = False, schema: Schema = LEDGER_SCHEMA
) -> apsw.Connection:
    """Open (creating if needed) a WAL-mode database and bring every component of `schema` up
    to date; a read-only open never migrates."""
    if readonly:
        conn = apsw.Connection(str(path), flags=apsw.SQLITE_OPEN_READONLY)
        conn.setbusytimeout(BUSY_TIMEOUT_MS)
        return conn
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    conn = apsw.Connection(str(path))
    conn.setbusytimeout(BUSY_TIMEOUT_MS)
    conn.execute("PRAGMA journal_mode=WAL")
    # NORMAL in WAL mode survives a process crash (kill -9: the WAL is in the OS page cache)
    # but can lose the last commits on power loss. FULL would cost about a third of the
    # single-ingest rate (measured); the README states the trade-off.
    conn.execute("PRAGMA synchronous=NORMAL")
    # Every live series keeps its ledger open for as long as it runs, so SQLite's per-connection
    # page cache (2 MiB by default) is multiplied by the number of series; the soak benchmark
    # showed it as the one thing growing for days. 1 MiB each bounds it; the OS page cache
    # still holds the file.
    conn.execute(f"PRAGMA cache_size=-{LEDGER_CACHE_KIB}")
    apply_migrations(conn, schema)
    return conn


def apply_migrations(conn: apsw.Connection, schema: Schema) -> None:
    """Run the steps of each component not yet recorded in `schema_versions`, all in one
    transaction: a failing step leaves the file as it was."""
    with conn:
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_versions"
            " (component TEXT PRIMARY KEY, version INTEGER NOT NULL)"
        )
        for component, steps in schema:
            row = conn.execute(
                "SELECT version FROM schema_versions WHERE component = ?", (component,)
            ).fetchone()
            done = row[0] if row else 0
            for script in steps[done:]:
                conn.execute(script)
            if len(steps) != done:
                conn.execute(
                    "INSERT OR REPLACE INTO schema_versions(component, version) VALUES (?, ?)",
                    (component, len(steps)),
                )
