"""Storage set-up: opening a ledger applies every component's migrations, old ledgers catch
up, a failed migration changes nothing, and read-only opens never migrate."""

from __future__ import annotations

import apsw
import pytest

import canvas.factors.store  # noqa: F401  (registers the factors migrations)
import canvas.overlay.store  # noqa: F401  (registers the overlay migrations)
from canvas.storage import candle_ledger, db
from canvas.storage.db import open_db, register_migrations, series_db_path

SID = "binance:spot:BTC/USDT:1m"


def versions(conn: apsw.Connection) -> dict[str, int]:
    return dict(conn.execute("SELECT component, version FROM schema_versions"))


def tables(conn: apsw.Connection) -> set[str]:
    rows = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
    return {name for (name,) in rows}


def test_a_new_ledger_gets_every_component_at_its_latest_version(tmp_path):
    path = series_db_path(tmp_path, SID)
    conn = open_db(path)
    try:
        assert path.exists() and path.parent.name == "series"
        assert versions(conn) == {c: len(steps) for c, steps in db._REGISTRY.items()}
        assert {"candles", "factor_events", "overlay_versions"} <= tables(conn)
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        conn.close()
    again = open_db(path)  # re-opening is a no-op
    try:
        assert versions(again) == {c: len(steps) for c, steps in db._REGISTRY.items()}
    finally:
        again.close()


def test_an_old_ledger_migrates_and_keeps_its_candles(tmp_path):
    """A ledger from before the factor and overlay stores existed (only `candles`, at
    version 1) gains their tables on open; its candles stay."""
    path = tmp_path / "old.sqlite"
    old = apsw.Connection(str(path))
    with old:
        old.execute(db._REGISTRY["candles"][0])
        old.execute("CREATE TABLE schema_versions (component TEXT PRIMARY KEY, version INTEGER)")
        old.execute("INSERT INTO schema_versions VALUES ('candles', 1)")
        candle_ledger.upsert(old, [(60, 1.0, 2.0, 0.5, 1.5, 3.0)])
    old.close()
    conn = open_db(path)
    try:
        assert versions(conn) == {c: len(steps) for c, steps in db._REGISTRY.items()}
        assert {"factor_events", "overlay_versions"} <= tables(conn)
        assert candle_ledger.range_rows(conn, 0, 100) == [(60, 1.0, 2.0, 0.5, 1.5, 3.0)]
    finally:
        conn.close()


def test_only_the_new_steps_of_a_component_run(tmp_path, monkeypatch):
    monkeypatch.setattr(db, "_REGISTRY", dict(db._REGISTRY))
    first = "CREATE TABLE widgets (id INTEGER PRIMARY KEY)"
    register_migrations("widgets", [first])
    path = tmp_path / "w.sqlite"
    conn = open_db(path)
    with conn:
        conn.execute("INSERT INTO widgets VALUES (7)")
    conn.close()
    # Re-running `first` would fail (the table exists): only the added step may run.
    register_migrations("widgets", [first, "ALTER TABLE widgets ADD COLUMN colour TEXT"])
    conn = open_db(path)
    try:
        assert versions(conn)["widgets"] == 2
        assert conn.execute("SELECT id, colour FROM widgets").fetchall() == [(7, None)]
    finally:
        conn.close()


def test_a_failed_migration_changes_nothing(tmp_path, monkeypatch):
    monkeypatch.setattr(db, "_REGISTRY", dict(db._REGISTRY))
    register_migrations("widgets", ["CREATE TABLE widgets (id INTEGER)", "NOT SQL AT ALL"])
    path = tmp_path / "w.sqlite"
    with pytest.raises(apsw.SQLError):
        open_db(path)
    # Every component's steps ran in the one transaction that failed: nothing was kept.
    reader = open_db(path, readonly=True)
    try:
        assert tables(reader) == set()
    finally:
        reader.close()
    register_migrations("widgets", [])
    conn = open_db(path)
    try:
        assert "widgets" not in tables(conn)
        assert versions(conn) == {c: len(s) for c, s in db._REGISTRY.items() if s}
    finally:
        conn.close()


def test_a_read_only_open_never_migrates(tmp_path, monkeypatch):
    path = tmp_path / "r.sqlite"
    open_db(path).close()
    monkeypatch.setattr(db, "_REGISTRY", dict(db._REGISTRY))
    register_migrations("widgets", ["CREATE TABLE widgets (id INTEGER)"])
    reader = open_db(path, readonly=True)
    try:
        assert "widgets" not in versions(reader) and "widgets" not in tables(reader)
        with pytest.raises(apsw.ReadOnlyError):
            reader.execute("CREATE TABLE t (x)")
    finally:
        reader.close()
    with pytest.raises(apsw.CantOpenError):
        open_db(tmp_path / "missing.sqlite", readonly=True)
