"""The replay database (`DATA_DIR/replay/replay.sqlite`): job records and package windows."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import apsw

from canvas.replay.jobs import BUILDING, ERROR, INTERRUPTED, JobRecord
from canvas.replay.package import PackageWindow

# Importing canvas.storage.db applies apsw's recommended practice once for the process;
# this module relies on that (applying it again would install its hooks twice).
from canvas.storage import db as _db  # noqa: F401

# Numbered migrations keyed on PRAGMA user_version; the replay database is its own file, so
# it does not take the series components' migrations.
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE replay_jobs (
        job_id TEXT PRIMARY KEY,
        series_id TEXT NOT NULL,
        status TEXT NOT NULL,
        created_at REAL NOT NULL,
        finished_at REAL,
        error TEXT,
        metadata TEXT,
        window_count INTEGER NOT NULL DEFAULT 0,
        size_bytes INTEGER NOT NULL DEFAULT 0
    );
    -- Windows are large blobs: a rowid table keeps them out of the key b-tree.
    CREATE TABLE replay_windows (
        job_id TEXT NOT NULL,
        window_index INTEGER NOT NULL,
        window BLOB NOT NULL,
        snapshots BLOB NOT NULL,
        PRIMARY KEY (job_id, window_index)
    );
    """,
)

_JOB_COLS = (
    "job_id, series_id, status, created_at, finished_at, error, metadata, window_count, size_bytes"
)


def replay_db_path(data_dir: str | os.PathLike[str]) -> Path:
    return Path(data_dir) / "replay" / "replay.sqlite"


def open_replay_db(path: str | os.PathLike[str]) -> apsw.Connection:
    """Open (creating if needed) the replay database in WAL mode, migrated."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    conn = apsw.Connection(str(path))
    conn.setbusytimeout(5000)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    done = conn.execute("PRAGMA user_version").fetchone()[0]
    if done == 0:
        # Retention deletes whole packages; incremental vacuum hands their pages back to
        # the file system, so the file follows the size budget. The connection is already
        # in WAL mode, where the setting needs a VACUUM (instant on an empty file).
        conn.execute("PRAGMA auto_vacuum=INCREMENTAL")
        conn.execute("VACUUM")
    with conn:
        for script in MIGRATIONS[done:]:
            conn.execute(script)
        if done != len(MIGRATIONS):
            conn.execute(f"PRAGMA user_version = {len(MIGRATIONS)}")
    return conn


def open_reader(path: str | os.PathLike[str]) -> apsw.Connection:
    """A connection for reads next to the writer's (WAL: readers never wait for it)."""
    conn = apsw.Connection(str(path), flags=apsw.SQLITE_OPEN_READONLY)
    conn.setbusytimeout(5000)
    return conn


def _record(row: Sequence[object]) -> JobRecord:
    job_id, series_id, status, created, finished, error, meta, windows, size = row
    return JobRecord(
        job_id=job_id,
        series_id=series_id,
        status=status,
        created_at=created,
        finished_at=finished,
        error=error,
        metadata=None if meta is None else json.loads(meta),
        window_count=windows,
        size_bytes=size,
    )


def _row(rec: JobRecord) -> tuple[object, ...]:
    meta = None if rec.metadata is None else json.dumps(rec.metadata, separators=(",", ":"))
    return (
        rec.job_id,
        rec.series_id,
        rec.status,
        rec.created_at,
        rec.finished_at,
        rec.error,
        meta,
        rec.window_count,
        rec.size_bytes,
    )


def recover(conn: apsw.Connection, now: float) -> list[JobRecord]:
    """Start-up: a job still `building` was cut off by a stop; mark it `error`
    (`interrupted`) and drop its partial windows. Answers every job record."""
    with conn:
        stale = [
            r[0]
            for r in conn.execute("SELECT job_id FROM replay_jobs WHERE status = ?", (BUILDING,))
        ]
        conn.executemany(
            "UPDATE replay_jobs SET status = ?, error = ?, finished_at = ?, metadata = NULL,"
            " window_count = 0, size_bytes = 0 WHERE job_id = ?",
            [(ERROR, INTERRUPTED, now, job_id) for job_id in stale],
        )
        conn.executemany("DELETE FROM replay_windows WHERE job_id = ?", [(j,) for j in stale])
        return [_record(r) for r in conn.execute(f"SELECT {_JOB_COLS} FROM replay_jobs")]


def put_job(conn: apsw.Connection, rec: JobRecord) -> None:
    """Write a job record, dropping any windows a previous run of the job left."""
    with conn:
        conn.execute("DELETE FROM replay_windows WHERE job_id = ?", (rec.job_id,))
        conn.execute(
            f"INSERT OR REPLACE INTO replay_jobs({_JOB_COLS}) VALUES (?,?,?,?,?,?,?,?,?)", _row(rec)
        )


def put_package(conn: apsw.Connection, rec: JobRecord, windows: Iterable[PackageWindow]) -> None:
    """Store a finished package and its `done` record in one transaction."""
    with conn:
        conn.execute("DELETE FROM replay_windows WHERE job_id = ?", (rec.job_id,))
        conn.executemany(
            "INSERT INTO replay_windows(job_id, window_index, window, snapshots)"
            " VALUES (?, ?, ?, ?)",
            [(rec.job_id, w.index, w.window, w.snapshots) for w in windows],
        )
        conn.execute(
            f"INSERT OR REPLACE INTO replay_jobs({_JOB_COLS}) VALUES (?,?,?,?,?,?,?,?,?)", _row(rec)
        )


def delete_jobs(conn: apsw.Connection, job_ids: Sequence[str]) -> None:
    """Delete jobs and their packages, then give the freed pages back."""
    with conn:
        conn.executemany("DELETE FROM replay_windows WHERE job_id = ?", [(j,) for j in job_ids])
        conn.executemany("DELETE FROM replay_jobs WHERE job_id = ?", [(j,) for j in job_ids])
    # apsw steps a pragma lazily: this one yields a row per page freed, so drain it.
    conn.execute("PRAGMA incremental_vacuum").fetchall()


def read_window(
    conn: apsw.Connection, job_id: str, window_index: int, *, with_snapshots: bool = True
) -> tuple[bytes, bytes] | None:
    """A stored window's `window` JSON and `factor_snapshots` JSON (b"" when not asked)."""
    column = "snapshots" if with_snapshots else "x''"
    row = conn.execute(
        f"SELECT window, {column} FROM replay_windows WHERE job_id = ? AND window_index = ?",
        (job_id, window_index),
    ).fetchone()
    return None if row is None else (row[0], row[1])
