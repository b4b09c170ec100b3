"""Storage set-up: opening a ledger applies every component's migrations of the explicit
ledger schema, old ledgers catch up, a failed migration changes nothing, and read-only opens
never migrate."""

from __future__ import annotations

import gzip
import shutil
import subprocess
import sys
from pathlib import Path

import apsw
import pytest

from canvas.factors.base import AnalyticsParams
from canvas.factors.pipeline import SeriesAnalytics
from canvas.storage import candle_ledger
from canvas.storage.db import open_db, series_db_path
from canvas.storage.ledger_schema import LEDGER_SCHEMA

SID = "binance:spot:BTC/USDT:1m"
LATEST = {component: len(steps) for component, steps in LEDGER_SCHEMA}
# A ledger written by the code before the schema was explicit (migrations registered at
# import time): 120 one-minute candles with their factor ledger and overlay catalog.
OLD_LEDGER = Path(__file__).parent / "fixtures" / "ledger_rev3.sqlite.gz"


def versions(conn: apsw.Connection) -> dict[str, int]:
    return dict(conn.execute("SELECT component, version FROM schema_versions"))


def tables(conn: apsw.Connection) -> set[str]:
    rows = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
    return {name for (name,) in rows}


def with_widgets(*steps: str) -> tuple:
    return (*LEDGER_SCHEMA, ("widgets", steps))


def test_the_ledger_schema_lists_each_component_once():
    names = [component for component, _ in LEDGER_SCHEMA]
    assert names == ["candles", "factors", "overlay"]
    assert all(steps and all(isinstance(s, str) for s in steps) for _, steps in LEDGER_SCHEMA)


def test_a_new_ledger_gets_every_component_at_its_latest_version(tmp_path):
    path = series_db_path(tmp_path, SID)
    conn = open_db(path)
    try:
        assert path.exists() and path.parent.name == "series"
        assert versions(conn) == LATEST
        assert {"candles", "factor_events", "overlay_versions"} <= tables(conn)
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        conn.close()
    again = open_db(path)  # re-opening is a no-op
    try:
        assert versions(again) == LATEST
    finally:
        again.close()


def test_a_ledger_from_the_import_time_registry_opens_unchanged_and_reads(tmp_path):
    path = tmp_path / "old.sqlite"
    with gzip.open(OLD_LEDGER) as src, path.open("wb") as dst:
        shutil.copyfileobj(src, dst)
    before = apsw.Connection(str(path))
    schema_sql = sorted(before.execute("SELECT type, name, sql FROM sqlite_master"))
    before.close()
    conn = open_db(path)
    try:
        assert versions(conn) == LATEST == {"candles": 1, "factors": 1, "overlay": 1}
        assert sorted(conn.execute("SELECT type, name, sql FROM sqlite_master")) == schema_sql
        rows = candle_ledger.range_rows(conn, 0, 2**62)
        assert [r[0] for r in rows] == [60 * k for k in range(1, 121)]
        params = AnalyticsParams(
            pivot_window_major=2, pivot_window_minor=1, overlay_window_candles=30
        )
        sa = SeriesAnalytics(conn, SID, 60, params)
        assert not sa.is_stale
        assert (sa.factor_head_time, sa.overlay_head_time) == (7200, 7200)
        assert conn.execute("SELECT count(*) FROM overlay_versions").fetchone()[0] > 0
        # It keeps working: a new candle goes through store, factor and overlay steps.
        with conn:
            candle_ledger.upsert(conn, [(7260, 40.0, 41.0, 39.5, 40.5, 1.0)])
        sa.after_store(7260)
        assert (sa.factor_head_time, sa.overlay_head_time) == (7260, 7260)
    finally:
        conn.close()


def test_an_old_ledger_migrates_and_keeps_its_candles(tmp_path):
    """A ledger from before the factor and overlay stores existed (only `candles`, at
    version 1) gains their tables on open; its candles stay."""
    path = tmp_path / "old.sqlite"
    old = apsw.Connection(str(path))
    with old:
        old.execute(candle_ledger.MIGRATIONS[0])
        old.execute("CREATE TABLE schema_versions (component TEXT PRIMARY KEY, version INTEGER)")
        old.execute("INSERT INTO schema_versions VALUES ('candles', 1)")
        candle_ledger.upsert(old, [(60, 1.0, 2.0, 0.5, 1.5, 3.0)])
    old.close()
    conn = open_db(path)
    try:
        assert versions(conn) == LATEST
        assert {"factor_events", "overlay_versions"} <= tables(conn)
        assert candle_ledger.range_rows(conn, 0, 100) == [(60, 1.0, 2.0, 0.5, 1.5, 3.0)]
    finally:
        conn.close()


def test_only_the_new_steps_of_a_component_run(tmp_path):
    first = "CREATE TABLE widgets (id INTEGER PRIMARY KEY)"
    path = tmp_path / "w.sqlite"
    conn = open_db(path, schema=with_widgets(first))
    with conn:
        conn.execute("INSERT INTO widgets VALUES (7)")
    conn.close()
    # Re-running `first` would fail (the table exists): only the added step may run.
    conn = open_db(path, schema=with_widgets(first, "ALTER TABLE widgets ADD COLUMN colour TEXT"))
    try:
        assert versions(conn)["widgets"] == 2
        assert conn.execute("SELECT id, colour FROM widgets").fetchall() == [(7, None)]
    finally:
        conn.close()


def test_a_failed_migration_changes_nothing(tmp_path):
    path = tmp_path / "w.sqlite"
    with pytest.raises(apsw.SQLError):
        open_db(path, schema=with_widgets("CREATE TABLE widgets (id INTEGER)", "NOT SQL AT ALL"))
    # Every component's steps ran in the one transaction that failed: nothing was kept.
    reader = open_db(path, readonly=True)
    try:
        assert tables(reader) == set()
    finally:
        reader.close()
    conn = open_db(path, schema=with_widgets())
    try:
        assert "widgets" not in tables(conn)
        assert versions(conn) == LATEST
    finally:
        conn.close()


def test_a_read_only_open_never_migrates(tmp_path):
    path = tmp_path / "r.sqlite"
    open_db(path).close()
    reader = open_db(path, readonly=True, schema=with_widgets("CREATE TABLE widgets (id INTEGER)"))
    try:
        assert "widgets" not in versions(reader) and "widgets" not in tables(reader)
        with pytest.raises(apsw.ReadOnlyError):
            reader.execute("CREATE TABLE t (x)")
    finally:
        reader.close()
    with pytest.raises(apsw.CantOpenError):
        open_db(tmp_path / "missing.sqlite", readonly=True)


def test_the_schema_does_not_depend_on_import_order(tmp_path):
    """Opening a ledger in a fresh interpreter that imported nothing but the storage module
    creates every component: nothing relies on a feature module being imported first."""
    path = tmp_path / "fresh.sqlite"
    code = (
        "import sys; from canvas.storage.db import open_db; c = open_db(sys.argv[1]);"
        "print(sorted(c.execute('SELECT component, version FROM schema_versions')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(path)], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == str(sorted(LATEST.items()))
