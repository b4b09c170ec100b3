"""Pure cores of the series-health and market-health reports (CONTRACT §2.8, §2.9)."""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable, Mapping
from typing import Any, Literal

import attrs

from canvas.series_id import SeriesId, expected_latest_closed_time

BASE_TIMEFRAME = "1m"
BASE_TF = 60
# §2.9: a backfill that succeeded at most this many seconds before the request's now is "recent".
RECENT_BACKFILL_SECONDS = 120

BackfillState = Literal["idle", "running", "succeeded", "failed"]

# Queries for the caller that owns a series' `candles` table (candle_ledger). Parameters are
# named; candle times are non-negative, so SQLite's integer division is a floor.
#
# Recommended for gaps: stream this cursor into `scan_gaps` (one pass, O(max_recent_gaps)
# memory; about 0.15 s per million rows with apsw).
CANDLE_TIMES_SQL = "SELECT candle_time FROM candles ORDER BY candle_time"
# Alternative that keeps Python out of the per-row loop (SQLite runs without the GIL), but the
# window function makes it several times slower in total: combine with `GapSummary.from_rows`.
# One row (gap_count, max_gap_seconds): max is NULL when there is no gap.
GAP_STATS_SQL = """
WITH d AS (
    SELECT candle_time - LAG(candle_time) OVER (ORDER BY candle_time) AS delta FROM candles
)
SELECT COUNT(*), MAX(delta) FROM d WHERE delta > :tf
"""
# Rows (prev_time, next_time) of the newest :limit gaps, newest first.
RECENT_GAPS_SQL = """
WITH d AS (
    SELECT LAG(candle_time) OVER (ORDER BY candle_time) AS prev_time, candle_time AS next_time
    FROM candles
)
SELECT prev_time, next_time FROM d
WHERE next_time - prev_time > :tf
ORDER BY next_time DESC LIMIT :limit
"""
# Run on the 1m base ledger over the range from `base_bucket_range`:
# rows (bucket_open_time, actual_minutes).
BASE_BUCKET_MINUTES_SQL = """
SELECT (candle_time / :tf) * :tf AS bucket, COUNT(*) FROM candles
WHERE candle_time >= :lo AND candle_time < :hi
GROUP BY bucket
"""
# One row (candle_count, first_time, head_time); the two times are NULL for an empty ledger.
LEDGER_SPAN_SQL = "SELECT COUNT(*), MIN(candle_time), MAX(candle_time) FROM candles"


@attrs.frozen
class Gap:
    """Two consecutive stored candle times more than one timeframe apart."""

    prev_time: int
    next_time: int

    @property
    def delta_seconds(self) -> int:
        return self.next_time - self.prev_time

    def as_json(self, tf: int) -> dict[str, int]:
        """The §2.8 `recent_gaps` entry; `tf` gives `missing_candles`."""
        delta = self.delta_seconds
        return {
            "prev_time": self.prev_time,
            "next_time": self.next_time,
            "delta_seconds": delta,
            "missing_candles": delta // tf - 1,
        }


@attrs.frozen
class GapSummary:
    """Everything §2.8 reports about one series' own candles, in bounded memory.

    `recent_gaps` holds at most the requested number of gaps, newest first. Build it with
    `scan_gaps` from an ascending iterator, or directly from the results of `LEDGER_SPAN_SQL`,
    `GAP_STATS_SQL` and `RECENT_GAPS_SQL`.
    """

    candle_count: int
    first_time: int | None
    head_time: int | None
    gap_count: int
    max_gap_seconds: int | None
    recent_gaps: tuple[Gap, ...]

    @classmethod
    def empty(cls) -> GapSummary:
        return cls(0, None, None, 0, None, ())

    @classmethod
    def from_rows(
        cls,
        span: tuple[int, int | None, int | None],
        stats: tuple[int, int | None],
        recent: Iterable[tuple[int, int]],
    ) -> GapSummary:
        """From the rows of `LEDGER_SPAN_SQL`, `GAP_STATS_SQL` and `RECENT_GAPS_SQL`."""
        count, first, head = span
        gap_count, max_gap = stats
        return cls(count, first, head, gap_count, max_gap, tuple(Gap(p, n) for p, n in recent))


def scan_gaps(times: Iterable[int], tf: int, max_recent_gaps: int) -> GapSummary:
    """Summarise the gaps of strictly ascending candle times in one pass.

    Memory is O(max_recent_gaps) whatever the number of times, so a cursor over a
    million-candle ledger can be fed straight in.
    """
    recent: deque[Gap] = deque(maxlen=max_recent_gaps)
    count = 0
    gap_count = 0
    max_gap: int | None = None
    first: int | None = None
    prev: int | None = None
    for t in times:
        if prev is None:
            first = t
        else:
            delta = t - prev
            if delta > tf:
                gap_count += 1
                if max_gap is None or delta > max_gap:
                    max_gap = delta
                recent.append(Gap(prev, t))
        prev = t
        count += 1
    return GapSummary(count, first, prev, gap_count, max_gap, tuple(reversed(recent)))


@attrs.frozen
class BucketCompleteness:
    """How many of a higher-timeframe bucket's base minutes are stored."""

    bucket_open_time: int
    expected_minutes: int
    actual_minutes: int

    @property
    def missing_minutes(self) -> int:
        return self.expected_minutes - self.actual_minutes

    def as_json(self) -> dict[str, int]:
        return {
            "bucket_open_time": self.bucket_open_time,
            "expected_minutes": self.expected_minutes,
            "actual_minutes": self.actual_minutes,
            "missing_minutes": self.missing_minutes,
        }


def base_bucket_range(
    base_first: int | None, base_head: int | None, tf: int, buckets: int
) -> tuple[int, int] | None:
    """The base-time range `[lo, hi)` whose minutes `base_bucket_completeness` needs.

    None when there is nothing to report: tf ≤ 60 (no base to roll up from) or an empty base.
    """
    if tf <= BASE_TF or base_first is None or base_head is None:
        return None
    last = (base_head // tf) * tf
    # §2.8 leaves out buckets that open before the base's first bucket.
    lo = max(last - (buckets - 1) * tf, (base_first // tf) * tf)
    return lo, last + tf


def base_bucket_completeness(
    base_first: int | None,
    base_head: int | None,
    tf: int,
    buckets: int,
    minutes_per_bucket: Mapping[int, int],
) -> list[BucketCompleteness]:
    """The last `buckets` buckets ending at the base head's bucket, ascending (§2.8).

    `minutes_per_bucket` maps a bucket's open time to its stored base minutes (buckets with
    none may be absent), as `BASE_BUCKET_MINUTES_SQL` gives it.
    """
    span = base_bucket_range(base_first, base_head, tf, buckets)
    if span is None:
        return []
    lo, hi = span
    expected = tf // BASE_TF
    return [
        BucketCompleteness(b, expected, minutes_per_bucket.get(b, 0)) for b in range(lo, hi, tf)
    ]


def scan_base_buckets(base_times: Iterable[int], tf: int, buckets: int) -> list[BucketCompleteness]:
    """`base_bucket_completeness` from strictly ascending 1m times, in one pass.

    Only the newest `buckets` non-empty buckets are kept, which is all the window can hold,
    so memory stays O(buckets) however long the base is.
    """
    if tf <= BASE_TF:
        return []
    first: int | None = None
    head: int | None = None
    newest: deque[list[int]] = deque(maxlen=buckets)
    for t in base_times:
        if first is None:
            first = t
        head = t
        b = (t // tf) * tf
        if newest and newest[-1][0] == b:
            newest[-1][1] += 1
        else:
            newest.append([b, 1])
    return base_bucket_completeness(first, head, tf, buckets, {b: n for b, n in newest})


def series_health(
    series: SeriesId,
    now: int,
    gaps: GapSummary,
    base_buckets: Iterable[BucketCompleteness],
) -> dict[str, Any]:
    """The §2.8 body for `series` at `now` from its gap summary and base-bucket counts."""
    tf = series.tf
    head = gaps.head_time
    return {
        "series_id": str(series),
        "timeframe_seconds": tf,
        "now_time": now,
        "first_time": gaps.first_time,
        "head_time": head,
        "lag_seconds": None if head is None else now - head,
        "candle_count": gaps.candle_count,
        "gap_count": gaps.gap_count,
        "max_gap_seconds": gaps.max_gap_seconds,
        "recent_gaps": [g.as_json(tf) for g in gaps.recent_gaps],
        "base_series_id": str(series.with_timeframe(BASE_TIMEFRAME)),
        "base_bucket_completeness": [b.as_json() for b in base_buckets],
    }


def series_health_from_times(
    series: SeriesId,
    now: int,
    times: Iterable[int],
    base_times: Iterable[int],
    *,
    max_recent_gaps: int,
    recent_base_buckets: int,
) -> dict[str, Any]:
    """§2.8 from ascending candle times of the series and of its 1m base, in one pass each."""
    gaps = scan_gaps(times, series.tf, max_recent_gaps)
    buckets = scan_base_buckets(base_times, series.tf, recent_base_buckets)
    return series_health(series, now, gaps, buckets)


def _missing_candles(seconds: int | None, tf: int) -> int | None:
    return None if seconds is None else math.ceil(seconds / tf)


@attrs.frozen
class BackfillProgress:
    """What one series' latest backfill run has done; jobs replace it, never mutate it.

    A job calls `begin` when a run starts, `advance` as pages land, then `succeed` or `fail`.
    Each returns a new record, so a reader always sees one consistent state.
    """

    state: BackfillState = "idle"
    started_at: int | None = None
    updated_at: int | None = None
    start_missing_seconds: int | None = None
    current_missing_seconds: int | None = None
    reason: str | None = None
    note: str | None = None
    error: str | None = None

    @classmethod
    def begin(
        cls,
        now: int,
        missing_seconds: int,
        *,
        reason: str | None = None,
        note: str | None = None,
    ) -> BackfillProgress:
        """A run starting at `now` with `missing_seconds` to fill."""
        return cls("running", now, now, missing_seconds, missing_seconds, reason, note, None)

    def advance(self, now: int, missing_seconds: int) -> BackfillProgress:
        """The run has `missing_seconds` left at `now`."""
        return attrs.evolve(self, updated_at=now, current_missing_seconds=missing_seconds)

    def succeed(self, now: int, missing_seconds: int = 0) -> BackfillProgress:
        """The run finished at `now`, leaving `missing_seconds` (0 unless capped, §8)."""
        return attrs.evolve(
            self, state="succeeded", updated_at=now, current_missing_seconds=missing_seconds
        )

    def fail(self, now: int, error: str) -> BackfillProgress:
        """The run stopped at `now` with `error`; the missing figures keep their last values."""
        return attrs.evolve(self, state="failed", updated_at=now, error=error)

    def progress_pct(self) -> float | None:
        """`clamp(100*(start-current)/start, 0, 100)`, 100 when start is 0, None if never run."""
        start, current = self.start_missing_seconds, self.current_missing_seconds
        if start is None:
            return None
        if start <= 0:
            return 100.0
        if current is None:
            return 0.0
        return min(100.0, max(0.0, 100.0 * (start - current) / start))

    def is_recent(self, now: int) -> bool:
        """Succeeded at most `RECENT_BACKFILL_SECONDS` before `now`.

        A success stamped after `now` (a `now_time` override in the past) is not "within the
        last 120 s" of that now, so it is not recent.
        """
        if self.state != "succeeded" or self.updated_at is None:
            return False
        return 0 <= now - self.updated_at <= RECENT_BACKFILL_SECONDS

    def as_json(self, tf: int, now: int) -> dict[str, Any]:
        """The §2.9 `backfill` block; `tf` turns seconds into candles, `now` judges `recent`."""
        return {
            "state": self.state,
            "progress_pct": self.progress_pct(),
            "started_at": self.started_at,
            "updated_at": self.updated_at,
            "reason": self.reason,
            "note": self.note,
            "error": self.error,
            "recent": self.is_recent(now),
            "start_missing_seconds": self.start_missing_seconds,
            "start_missing_candles": _missing_candles(self.start_missing_seconds, tf),
            "current_missing_seconds": self.current_missing_seconds,
            "current_missing_candles": _missing_candles(self.current_missing_seconds, tf),
        }


IDLE_BACKFILL = BackfillProgress()


def health_status(
    head_time: int | None, expected: int, backfill: BackfillProgress, now: int
) -> tuple[str, str]:
    """`(status, status_reason)` by the §2.9 rules, first match wins."""
    if head_time is None:
        return "red", "missing_head"
    if head_time > expected:
        return "yellow", "head_ahead_of_closed_window"
    if head_time == expected:
        return "green", "up_to_date"
    if backfill.state == "running":
        return "yellow", "backfill_running"
    if backfill.is_recent(now):
        return "yellow", "backfill_recent"
    return "red", "lagging_no_recent_backfill"


def market_health(
    series: SeriesId,
    now: int,
    head_time: int | None,
    backfill: BackfillProgress | None = None,
) -> dict[str, Any]:
    """The §2.9 body for `series` at `now` (the request's `now_time` when given)."""
    tf = series.tf
    progress = IDLE_BACKFILL if backfill is None else backfill
    expected = expected_latest_closed_time(now, tf)
    if head_time is None:
        lag = missing = None
    else:
        lag = now - head_time
        missing = max(0, expected - head_time)
    status, reason = health_status(head_time, expected, progress, now)
    return {
        "series_id": str(series),
        "timeframe_seconds": tf,
        "now_time": now,
        "expected_latest_closed_time": expected,
        "head_time": head_time,
        "lag_seconds": lag,
        "missing_seconds": missing,
        "missing_candles": _missing_candles(missing, tf),
        "status": status,
        "status_reason": reason,
        "backfill": progress.as_json(tf, now),
    }
