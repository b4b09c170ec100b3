"""Restarts on a real database file: resume from stored state, crashes between steps."""

from __future__ import annotations

import pytest
from factor_support import analytics, ledger, one_shot, stored_bars, write

from canvas.errors import PipelineFailed
from canvas.factors import store as factor_store
from canvas.factors.base import AnalyticsParams
from canvas.storage import candle_ledger
from canvas.storage.db import open_db

PARAMS = AnalyticsParams(pivot_window_major=2, pivot_window_minor=1, overlay_window_candles=30)


def walk(n: int, start: int = 1) -> list[tuple]:
    out, level = [], 50.0
    for k in range(start, start + n):
        level += ((k * 7919) % 11) - 5
        level = max(1.0, level)
        out.append((k * 60, level, level + (k % 3), level - 0.5 * (k % 2), level, 1.0))
    return out


BARS = walk(300)


def test_migrations_create_every_table(tmp_path):
    conn = open_db(tmp_path / "s.sqlite")
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {
        "factor_events",
        "factor_heads",
        "factor_series_state",
        "factor_checkpoints",
        "overlay_versions",
        "overlay_presence",
        "overlay_series_state",
    } <= tables


def test_restart_resumes_from_stored_state(tmp_path):
    path = tmp_path / "s.sqlite"
    conn = open_db(path)
    sa = analytics(conn, PARAMS, checkpoint_every=50)
    for b in BARS[:170]:
        sa.after_store(write(conn, [b]))
    conn.close()

    conn = open_db(path)
    sa = analytics(conn, PARAMS, checkpoint_every=50)
    assert (sa.factor_head_time, sa.overlay_head_time) == (BARS[169][0], BARS[169][0])
    for b in BARS[170:]:
        sa.after_store(write(conn, [b]))
    assert ledger(conn) == one_shot(stored_bars(conn), PARAMS)[0]
    ids = [r[0] for r in conn.execute("SELECT version_id FROM overlay_versions")]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)


def test_crash_between_steps_is_caught_up(tmp_path):
    path = tmp_path / "s.sqlite"
    conn = open_db(path)
    sa = analytics(conn, PARAMS)
    sa.after_store(write(conn, BARS[:200]))
    sa.fault_hook = lambda step: (_ for _ in ()).throw(RuntimeError(step))
    with pytest.raises(PipelineFailed):
        sa.after_store(write(conn, BARS[200:]))
    conn.close()

    conn = open_db(path)
    sa = analytics(conn, PARAMS)
    assert sa.factor_head_time == BARS[199][0]
    assert sa.catch_up() is None
    assert sa.factor_head_time == sa.overlay_head_time == BARS[-1][0]
    assert ledger(conn) == one_shot(stored_bars(conn), PARAMS)[0]


def test_late_fill_noted_in_the_candle_transaction_survives_a_crash(tmp_path):
    path = tmp_path / "s.sqlite"
    conn = open_db(path)
    sa = analytics(conn, PARAMS, checkpoint_every=40)
    sa.after_store(write(conn, BARS))
    # A corrected candle deep in the history, noted in the same transaction as the write;
    # the process dies before the factor step.
    old = BARS[100]
    fixed = (old[0], old[1], old[2] + 40.0, old[3], old[4], old[5])
    with conn:
        candle_ledger.upsert(conn, [fixed])
        factor_store.note_candles_changed(conn, fixed[0])
    conn.close()

    conn = open_db(path)
    sa = analytics(conn, PARAMS, checkpoint_every=40)
    rewind = sa.catch_up()
    assert rewind is not None and fixed[0] <= rewind <= BARS[-1][0]
    assert ledger(conn) == one_shot(stored_bars(conn), PARAMS)[0]
    assert conn.execute("SELECT dirty_from FROM factor_series_state").fetchone() == (None,)


def test_changed_overlay_window_rederives_the_catalog(tmp_path):
    path = tmp_path / "s.sqlite"
    conn = open_db(path)
    analytics(conn, PARAMS).after_store(write(conn, BARS))
    wider = AnalyticsParams(pivot_window_major=2, pivot_window_minor=1, overlay_window_candles=90)
    sa = analytics(conn, wider)
    assert not sa.is_stale  # the overlay window is not factor logic
    assert sa.overlay_head_time is None
    sa.catch_up()
    assert sa.overlay_head_time == BARS[-1][0]
    assert ledger(conn) == one_shot(stored_bars(conn), wider)[0]
