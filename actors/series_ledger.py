"""The ledger work of one series actor: synchronous SQLite steps over the series' own file.

`SeriesLedger` owns the connection and the analytics. Its methods block (they run in the
actor's worker thread, one at a time), except `store_and_analyse_inline` for a small append,
which the actor runs on the event loop (see `is_small_append`) and which never waits for a
lock. Only the series actor calls it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import apsw
import attrs

from canvas import health
from canvas.candles import Row
from canvas.errors import CanvasError, PipelineFailed
from canvas.factors import store as factor_store
from canvas.replay import plan
from canvas.rollup import rollup
from canvas.series_id import SeriesId
from canvas.storage import candle_ledger as ledger
from canvas.storage.db import BUSY_TIMEOUT_MS, open_db, series_db_path

# Base minutes read per step when a derived series is first filled from its base.
FILL_CHUNK_MINUTES = 100_000
# Appends of at most this many candles to a caught-up series run on the event loop (see
# is_small_append for the other conditions).
INLINE_MAX_ROWS = 4

# A read or command over a series' analytics (a SeriesAnalytics in the server).
AnalyticsRead = Callable[[Any], Any]
# What the ingest pipeline answers: (changed_from, rewind_from, PipelineFailed or None).
PipelineResult = tuple[int | None, int | None, Any]


def read_rollup(data_dir: str, base: SeriesId, tf: int, lo: int, hi: int) -> list[Row]:
    """Derived candles for complete buckets with lo <= bucket < hi, read from the base ledger
    on a read-only connection of its own (WAL lets it read beside the base actor)."""
    path = series_db_path(data_dir, str(base))
    if not path.exists():
        return []
    conn = open_db(path, readonly=True)
    try:
        return list(rollup(ledger.range_rows(conn, lo, hi - 1), tf))
    finally:
        conn.close()


@attrs.define(eq=False)
class SeriesLedger:
    """One series' candle ledger, its analytics and the store head."""

    series: SeriesId
    data_dir: str
    # Builds the factor/overlay analytics over an open connection; None runs store-only.
    analytics_factory: Callable[[Any, SeriesId], Any] | None
    derived_timeframes: tuple[str, ...]
    conn: Any = None
    analytics: Any = None
    store_head: int | None = None

    # --- opening and closing ------------------------------------------------------------

    def _path(self):
        return series_db_path(self.data_dir, str(self.series))

    def open_existing(self) -> None:
        """Open the ledger if its file exists; a derived series is first filled from its base."""
        if self._path().exists():
            self._open()
        if self.store_head is None and self.series.timeframe in self.derived_timeframes:
            self._fill_from_base()

    def _fill_from_base(self) -> None:
        """A derived series comes into being filled from its stored 1m base (§1.5)."""
        base = self.series.with_timeframe("1m")
        path = series_db_path(self.data_dir, str(base))
        if not path.exists():
            return
        conn = open_db(path, readonly=True)
        try:
            # The base's file appears a moment before its tables (its actor is creating it
            # right now, e.g. for the live job both series share): that is an empty base.
            created = conn.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'candles'"
            ).fetchone()
            first, head = (
                (ledger.first_time(conn), ledger.head_time(conn)) if created else (None,) * 2
            )
        finally:
            conn.close()
        if first is None:
            return
        tf = self.series.tf
        step = tf * max(1, FILL_CHUNK_MINUTES // (tf // 60))
        lo = first - first % tf
        while lo <= head:
            rows = read_rollup(self.data_dir, base, tf, lo, lo + step)
            if rows:
                self.store(rows)
            lo += step

    def _open(self) -> None:
        self.conn = open_db(self._path())
        # Small appends commit on the event loop (see is_small_append); a WAL checkpoint
        # (which fsyncs) must never run there, so the actor checkpoints in its worker thread.
        self.conn.execute("PRAGMA wal_autocheckpoint=0")
        self.store_head = ledger.head_time(self.conn)
        if self.analytics_factory is not None:
            self.analytics = self.analytics_factory(self.conn, self.series)

    def checkpoint(self) -> None:
        if self.conn is not None:
            self.conn.wal_checkpoint(mode=apsw.SQLITE_CHECKPOINT_PASSIVE)

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    # --- the pipeline ---------------------------------------------------------------------

    def store(self, rows: list[Row]) -> int | None:
        """Upsert rows in one transaction; return the earliest time inserted or changed."""
        if self.conn is None:
            self._open()
        head = self.store_head
        if head is None or rows[0][0] > head:
            changed = rows
        else:
            existing = ledger.get_many(self.conn, [r[0] for r in rows])
            changed = [r for r in rows if existing.get(r[0]) != r]
        if not changed:
            return None
        with self.conn:
            ledger.upsert(self.conn, changed)
            factor_head = self.analytics.factor_head_time if self.analytics is not None else None
            if factor_head is not None and changed[0][0] <= factor_head:
                # Late data: remember it in the same transaction, so a crash before the
                # factor step cannot lose the recompute.
                factor_store.note_candles_changed(self.conn, changed[0][0])
        last = changed[-1][0]
        if head is None or last > head:
            self.store_head = last
        return changed[0][0]

    def is_small_append(self, rows: list[Row]) -> bool:
        """A few candles after the head of a caught-up series whose analytics are loaded
        (cheap enough for the loop: nothing to reload from stored state first)."""
        head = self.store_head
        if self.conn is None or head is None or len(rows) > INLINE_MAX_ROWS or rows[0][0] <= head:
            return False
        if self.analytics_factory is not None and not (
            self.analytics is not None and self.analytics.is_loaded
        ):
            return False
        return self.heads_caught_up()

    def heads_caught_up(self) -> bool:
        a = self.analytics
        head = self.store_head
        return a is None or (a.factor_head_time == head and a.overlay_head_time == head)

    def store_and_analyse(self, rows: list[Row]) -> PipelineResult:
        """Store (own transaction), then the factor and overlay steps; one worker-thread hop.

        Returns (changed_from, rewind_from, PipelineFailed or None).
        """
        changed_from = self.store(rows)
        return (changed_from, *self.analyse(changed_from))

    def analyse(self, changed_from: int | None) -> tuple[int | None, Any]:
        """The factor and overlay steps after a committed store: (rewind_from, failure)."""
        if self.analytics is None:
            return None, None
        try:
            return self.analytics.after_store(changed_from), None
        except PipelineFailed as exc:
            return None, exc

    def store_and_analyse_inline(
        self, rows: list[Row]
    ) -> PipelineResult | Callable[[], PipelineResult]:
        """`store_and_analyse` for a small append on the event loop, which must never wait
        for a lock: with a zero busy timeout, a ledger another connection is writing answers
        SQLITE_BUSY at once. Answers the result, or the rest of the work (a call for the
        worker thread, which waits as usual) when a step met the lock: the whole pipeline
        when the store did (nothing was written), else the steps after the committed store.
        """
        self.conn.setbusytimeout(0)
        try:
            try:
                changed_from = self.store(rows)
            except apsw.BusyError:
                return functools.partial(self.store_and_analyse, rows)
            rewind, failure = self.analyse(changed_from)
            if failure is not None and isinstance(failure.__cause__, apsw.BusyError):
                # The failed step kept its pending work: analysing "no new change" redoes it.
                return lambda: (changed_from, *self.analyse(None))
            return changed_from, rewind, failure
        finally:
            self.conn.setbusytimeout(BUSY_TIMEOUT_MS)

    def catch_up(self) -> int | None:
        """Bring lagging factor/overlay heads to the store head; returns a rewind time."""
        return None if self.analytics is None else self.analytics.catch_up()

    # --- reads ---------------------------------------------------------------------------

    def page(self, since: int | None, before: int | None, limit: int) -> list[Row]:
        return [] if self.conn is None else ledger.page(self.conn, since, before, limit)

    def newest_after(self, last_sent: int | None, limit: int) -> list[Row]:
        return [] if self.conn is None else ledger.newest_after(self.conn, last_sent, limit)

    def count(self, lo: int, hi: int) -> tuple[int, int | None]:
        if self.conn is None:
            return 0, None
        return ledger.count(self.conn, lo, hi), ledger.head_time(self.conn)

    def gap_scan(self, max_recent_gaps: int) -> health.GapSummary:
        if self.conn is None:
            return health.GapSummary.empty()
        times = (r[0] for r in self.conn.execute(health.CANDLE_TIMES_SQL))
        return health.scan_gaps(times, self.series.tf, max_recent_gaps)

    def bucket_minutes(self, tf: int, buckets: int) -> list[health.BucketCompleteness]:
        if self.conn is None:
            return []
        first, head = ledger.first_time(self.conn), ledger.head_time(self.conn)
        span = health.base_bucket_range(first, head, tf, buckets)
        if span is None:
            return []
        bounds = {"tf": tf, "lo": span[0], "hi": span[1]}
        rows = self.conn.execute(health.BASE_BUCKET_MINUTES_SQL, bounds)
        return health.base_bucket_completeness(first, head, tf, buckets, dict(rows))

    def analytics_read(self, read: AnalyticsRead) -> Any:
        """Run `read` on the analytics; for a series that never stored a candle, over a
        throwaway empty ledger, so that reads of unknown series create no files."""
        if self.analytics is not None:
            return read(self.analytics)
        if self.analytics_factory is None:
            raise CanvasError("analytics_unavailable", status=503)
        conn = open_db(":memory:")
        try:
            return read(self.analytics_factory(conn, self.series))
        finally:
            conn.close()

    def replay_prepare(self, to_time: int | None, window_candles: int) -> Any:
        return plan.prepare(
            self.analytics, self.conn, to_time=to_time, window_candles=window_candles
        )

    def replay_plan(
        self, to_time: int | None, window_candles: int, window_size: int, snapshot_interval: int
    ) -> plan.BuildPlan:
        return plan.plan_build(
            self.analytics,
            self.conn,
            to_time=to_time,
            window_candles=window_candles,
            window_size=window_size,
            snapshot_interval=snapshot_interval,
        )
