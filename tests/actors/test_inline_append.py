"""The inline small-append path: only with the analytics loaded, and never waiting for a lock
(a ledger another connection is writing sends the work to the worker thread instead)."""

from __future__ import annotations

import apsw
import trio
from helpers import candle, eventually, http_client, ingest, running_server

from actors.series_ledger import SeriesLedger
from canvas.factors.base import AnalyticsParams
from canvas.factors.pipeline import SeriesAnalytics
from canvas.series_id import SeriesId
from canvas.storage.db import series_db_path

SERIES = SeriesId.parse("binance:spot:INL/USDT:1m")


def row(t: int, p: float = 1.0) -> tuple:
    return (t, p, p + 1, p - 1, p, 1.0)


def ledger_for(tmp_path, hook=None) -> SeriesLedger:
    def factory(conn, series):
        params = AnalyticsParams(pivot_window_major=1, pivot_window_minor=1)
        return SeriesAnalytics(conn, str(series), series.tf, params, fault_hook=hook)

    led = SeriesLedger(SERIES, str(tmp_path), factory, ())
    led.open_existing()
    return led


def lock_holder(tmp_path) -> apsw.Connection:
    """A second connection holding the ledger's write lock until it rolls back."""
    other = apsw.Connection(str(series_db_path(tmp_path, str(SERIES))))
    other.execute("BEGIN IMMEDIATE")
    return other


def test_a_small_append_runs_inline_only_with_the_analytics_loaded(tmp_path):
    led = ledger_for(tmp_path)
    assert led.store_and_analyse([row(60)]) == (60, None, None)
    assert led.is_small_append([row(120)])
    led.close()
    # Reopened, the engine and deriver are still on disk: the next append reloads them in
    # the worker thread, after which appends are inline again.
    led = ledger_for(tmp_path)
    assert led.heads_caught_up() and not led.analytics.is_loaded
    assert not led.is_small_append([row(120)])
    assert led.store_and_analyse([row(120)]) == (120, None, None)
    assert led.is_small_append([row(180)])
    led.close()


def test_a_locked_store_hands_the_whole_pipeline_to_the_worker(tmp_path):
    led = ledger_for(tmp_path)
    led.store_and_analyse([row(60)])
    other = lock_holder(tmp_path)
    # With the default busy timeout this would wait 5 s and then raise BusyError.
    rest = led.store_and_analyse_inline([row(120)])
    assert callable(rest)
    assert led.store_head == 60 and led.page(None, None, 10) == [row(60)]
    other.execute("ROLLBACK")
    other.close()
    assert rest() == (120, None, None)
    assert led.page(None, None, 10) == [row(60), row(120)]
    assert (led.analytics.factor_head_time, led.analytics.overlay_head_time) == (120, 120)
    # The zero timeout was for that attempt only: the connection waits for locks again.
    assert led.store_and_analyse_inline([row(180)]) == (180, None, None)
    led.close()


def test_a_lock_met_by_the_factor_step_finishes_in_the_worker(tmp_path):
    busy = {"once": False}

    def hook(step: str) -> None:
        if busy["once"] and step == "factor.ingest_closed":
            busy["once"] = False
            raise apsw.BusyError("database is locked")

    led = ledger_for(tmp_path, hook)
    led.store_and_analyse([row(60)])
    busy["once"] = True
    rest = led.store_and_analyse_inline([row(120)])
    assert callable(rest)
    assert led.store_head == 120  # the candle is committed; only the analysis is left
    assert rest() == (120, None, None)
    assert (led.analytics.factor_head_time, led.analytics.overlay_head_time) == (120, 120)
    led.close()


async def test_ingest_into_a_locked_ledger_answers_200_without_blocking_the_loop(tmp_path):
    sid = str(SERIES)
    threads = trio.to_thread.current_default_thread_limiter()
    async with running_server(tmp_path) as server, http_client(server) as client:
        await ingest(client, sid, candle(60))
        await ingest(client, sid, candle(120))  # the analytics are loaded now
        await eventually(lambda: _true(threads.borrowed_tokens == 0))
        other = lock_holder(tmp_path / "data")
        answers = []
        async with trio.open_nursery() as nursery:

            async def post() -> None:
                answers.append(await ingest(client, sid, candle(180, 2.0)))

            nursery.start_soon(post)
            # The inline attempt met the lock at once; the worker thread now waits for it.
            await eventually(lambda: _true(threads.borrowed_tokens == 1))
            assert not answers
            # Meanwhile the event loop serves other requests.
            assert (await client.get("/api/market/whitelist")).status_code == 200
            other.execute("ROLLBACK")
            other.close()
        assert answers[0].status_code == 200
        page = await client.get("/api/market/candles", params={"series_id": sid})
        assert [c["candle_time"] for c in page.json()["candles"]] == [60, 120, 180]


async def _true(value: bool) -> bool:
    return value
