"""The series actor's ledger work, called directly (no actor, no event loop)."""

from __future__ import annotations

from actors.series_ledger import INLINE_MAX_ROWS, SeriesLedger, read_rollup
from canvas.series_id import SeriesId
from canvas.storage.db import series_db_path

BASE = SeriesId.parse("binance:spot:LED/USDT:1m")


def row(t: int, p: float = 1.0) -> tuple:
    return (t, p, p + 1, p - 1, p, 1.0)


def ledger_for(tmp_path, series: SeriesId = BASE, derived=()) -> SeriesLedger:
    return SeriesLedger(series, str(tmp_path), None, tuple(derived))


def test_store_reports_the_earliest_change_and_skips_identical_rows(tmp_path):
    led = ledger_for(tmp_path)
    led.open_existing()
    assert led.conn is None  # no file yet: nothing is created by opening
    assert led.store([row(60), row(120)]) == 60
    assert led.store([row(60), row(120)]) is None
    assert led.store([row(60), row(120, 2.0)]) == 120
    assert led.store_head == 120
    assert led.page(None, None, 10) == [row(60), row(120, 2.0)]
    assert led.count(60, 60) == (1, 120)
    led.close()


def test_small_append_is_only_a_few_rows_after_the_head(tmp_path):
    led = ledger_for(tmp_path)
    assert not led.is_small_append([row(60)])  # no ledger open yet
    led.store([row(60)])
    assert led.is_small_append([row(120)])
    assert not led.is_small_append([row(60)])
    many = [row(120 + 60 * i) for i in range(INLINE_MAX_ROWS + 1)]
    assert not led.is_small_append(many)
    led.close()


def test_a_derived_series_fills_from_its_base_on_open(tmp_path):
    base = ledger_for(tmp_path)
    base.store([row(t) for t in range(0, 600, 60)])  # two complete 5m buckets
    base.close()
    assert [r[0] for r in read_rollup(str(tmp_path), BASE, 300, 0, 600)] == [0, 300]
    derived = ledger_for(tmp_path, BASE.with_timeframe("5m"), derived=("5m",))
    derived.open_existing()
    assert derived.store_head == 300
    assert series_db_path(str(tmp_path), str(derived.series)).exists()
    derived.close()
