"""Series health (§2.8) and market health (§2.9) cores."""

from __future__ import annotations

import itertools
import sqlite3

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from canvas.health import (
    BASE_BUCKET_MINUTES_SQL,
    CANDLE_TIMES_SQL,
    GAP_STATS_SQL,
    LEDGER_SPAN_SQL,
    RECENT_BACKFILL_SECONDS,
    RECENT_GAPS_SQL,
    BackfillProgress,
    BucketCompleteness,
    Gap,
    GapSummary,
    base_bucket_completeness,
    base_bucket_range,
    market_health,
    scan_base_buckets,
    scan_gaps,
    series_health,
    series_health_from_times,
)
from canvas.series_id import SeriesId

BTC_5M = SeriesId.parse("binance:spot:BTC/USDT:5m")
BTC_1M = SeriesId.parse("binance:spot:BTC/USDT:1m")
BASE_VECTOR = [300, 360, 420, 540, 600, 660]

quick = settings(max_examples=150, deadline=None, database=None)


def ledger(times: list[int]) -> sqlite3.Connection:
    """An in-memory table shaped like candle_ledger's, for checking the suggested SQL."""
    conn = sqlite3.connect(":memory:")
    conn.execute(
        "CREATE TABLE candles (candle_time INTEGER PRIMARY KEY, open REAL, high REAL,"
        " low REAL, close REAL, volume REAL) WITHOUT ROWID"
    )
    conn.executemany("INSERT INTO candles VALUES (?, 1, 1, 1, 1, 1)", [(t,) for t in times])
    return conn


def gaps_via_sql(conn: sqlite3.Connection, tf: int, max_recent: int) -> GapSummary:
    span = conn.execute(LEDGER_SPAN_SQL).fetchone()
    stats = conn.execute(GAP_STATS_SQL, {"tf": tf}).fetchone()
    recent = conn.execute(RECENT_GAPS_SQL, {"tf": tf, "limit": max_recent}).fetchall()
    return GapSummary.from_rows(span, stats, recent)


def buckets_via_sql(conn: sqlite3.Connection, tf: int, n: int) -> list[BucketCompleteness]:
    _, first, head = conn.execute(LEDGER_SPAN_SQL).fetchone()
    span = base_bucket_range(first, head, tf, n)
    if span is None:
        return []
    lo, hi = span
    rows = conn.execute(BASE_BUCKET_MINUTES_SQL, {"tf": tf, "lo": lo, "hi": hi}).fetchall()
    return base_bucket_completeness(first, head, tf, n, dict(rows))


# ---- §2.8 -----------------------------------------------------------------------------------


def test_series_health_contract_vector() -> None:
    body = series_health_from_times(
        BTC_5M, 1000, [300, 900], BASE_VECTOR, max_recent_gaps=5, recent_base_buckets=2
    )
    assert body["gap_count"] == 1
    assert body["max_gap_seconds"] == 600
    assert body["base_bucket_completeness"][-1] == {
        "bucket_open_time": 600,
        "expected_minutes": 5,
        "actual_minutes": 2,
        "missing_minutes": 3,
    }
    assert body == {
        "series_id": "binance:spot:BTC/USDT:5m",
        "timeframe_seconds": 300,
        "now_time": 1000,
        "first_time": 300,
        "head_time": 900,
        "lag_seconds": 100,
        "candle_count": 2,
        "gap_count": 1,
        "max_gap_seconds": 600,
        "recent_gaps": [
            {"prev_time": 300, "next_time": 900, "delta_seconds": 600, "missing_candles": 1}
        ],
        "base_series_id": "binance:spot:BTC/USDT:1m",
        "base_bucket_completeness": [
            {
                "bucket_open_time": 300,
                "expected_minutes": 5,
                "actual_minutes": 4,
                "missing_minutes": 1,
            },
            {
                "bucket_open_time": 600,
                "expected_minutes": 5,
                "actual_minutes": 2,
                "missing_minutes": 3,
            },
        ],
    }


def test_series_health_contract_vector_via_sql() -> None:
    gaps = gaps_via_sql(ledger([300, 900]), 300, 5)
    buckets = buckets_via_sql(ledger(BASE_VECTOR), 300, 2)
    from_sql = series_health(BTC_5M, 1000, gaps, buckets)
    from_times = series_health_from_times(
        BTC_5M, 1000, [300, 900], BASE_VECTOR, max_recent_gaps=5, recent_base_buckets=2
    )
    assert from_sql == from_times


def test_empty_series_has_zero_counts_null_times_empty_lists() -> None:
    expected = {
        "series_id": "binance:spot:BTC/USDT:5m",
        "timeframe_seconds": 300,
        "now_time": 1000,
        "first_time": None,
        "head_time": None,
        "lag_seconds": None,
        "candle_count": 0,
        "gap_count": 0,
        "max_gap_seconds": None,
        "recent_gaps": [],
        "base_series_id": "binance:spot:BTC/USDT:1m",
        "base_bucket_completeness": [],
    }
    assert (
        series_health_from_times(BTC_5M, 1000, [], [], max_recent_gaps=5, recent_base_buckets=8)
        == expected
    )
    assert series_health(BTC_5M, 1000, gaps_via_sql(ledger([]), 300, 5), []) == expected
    assert series_health(BTC_5M, 1000, GapSummary.empty(), []) == expected
    assert buckets_via_sql(ledger([]), 300, 8) == []


def test_base_completeness_empty_for_1m_and_for_empty_base() -> None:
    body = series_health_from_times(
        BTC_1M, 1000, BASE_VECTOR, BASE_VECTOR, max_recent_gaps=5, recent_base_buckets=8
    )
    assert body["base_series_id"] == "binance:spot:BTC/USDT:1m"
    assert body["base_bucket_completeness"] == []
    assert body["gap_count"] == 1
    assert body["recent_gaps"] == [
        {"prev_time": 420, "next_time": 540, "delta_seconds": 120, "missing_candles": 1}
    ]
    assert scan_base_buckets([], 300, 8) == []
    assert base_bucket_range(None, None, 300, 8) is None
    assert base_bucket_range(0, 600, 60, 8) is None


def test_buckets_before_the_base_first_bucket_are_left_out() -> None:
    # Base starts at 660 (bucket 600); asking for 8 buckets gives 600 and 900 only.
    buckets = scan_base_buckets([660, 720, 900, 960], 300, 8)
    assert [b.as_json() for b in buckets] == [
        {"bucket_open_time": 600, "expected_minutes": 5, "actual_minutes": 2, "missing_minutes": 3},
        {"bucket_open_time": 900, "expected_minutes": 5, "actual_minutes": 2, "missing_minutes": 3},
    ]


def test_empty_buckets_inside_the_window_are_reported() -> None:
    buckets = scan_base_buckets([0, 60, 1200], 300, 3)
    assert [(b.bucket_open_time, b.actual_minutes) for b in buckets] == [
        (600, 0),
        (900, 0),
        (1200, 1),
    ]


def test_recent_gaps_newest_first_and_capped() -> None:
    times = [0, 120, 180, 480, 540, 1140]
    summary = scan_gaps(times, 60, 2)
    assert summary.gap_count == 3
    assert summary.max_gap_seconds == 600
    assert summary.recent_gaps == (Gap(540, 1140), Gap(180, 480))
    assert [g.as_json(60)["missing_candles"] for g in summary.recent_gaps] == [9, 4]


def test_scan_gaps_takes_a_lazy_iterator() -> None:
    summary = scan_gaps(iter(range(0, 60 * 200_000, 60)), 60, 5)
    assert summary.candle_count == 200_000
    assert summary.gap_count == 0
    assert summary.max_gap_seconds is None
    assert (summary.first_time, summary.head_time) == (0, 60 * 199_999)


tf_choice = st.sampled_from([60, 300, 900, 3600])


@st.composite
def stored_times(draw: st.DrawFn) -> tuple[int, list[int]]:
    tf = draw(tf_choice)
    slots = draw(st.sets(st.integers(0, 300), max_size=80))
    return tf, sorted(s * tf for s in slots)


def brute_force_gaps(times: list[int], tf: int) -> list[tuple[int, int]]:
    return [(a, b) for a, b in itertools.pairwise(times) if b - a > tf]


@quick
@given(stored_times(), st.integers(1, 50))
def test_gaps_match_brute_force_and_sql(case: tuple[int, list[int]], n: int) -> None:
    tf, times = case
    expected = brute_force_gaps(times, tf)
    summary = scan_gaps(times, tf, n)
    assert summary.candle_count == len(times)
    assert summary.first_time == (times[0] if times else None)
    assert summary.head_time == (times[-1] if times else None)
    assert summary.gap_count == len(expected)
    assert summary.max_gap_seconds == max((b - a for a, b in expected), default=None)
    assert summary.recent_gaps == tuple(Gap(a, b) for a, b in reversed(expected[-n:]))
    conn = ledger(times)
    assert gaps_via_sql(conn, tf, n) == summary
    assert scan_gaps((row[0] for row in conn.execute(CANDLE_TIMES_SQL)), tf, n) == summary


@quick
@given(
    st.sets(st.integers(0, 2000), max_size=150),
    st.sampled_from([120, 300, 900, 3600]),
    st.integers(1, 48),
)
def test_base_buckets_match_brute_force_and_sql(minutes: set[int], tf: int, n: int) -> None:
    base = sorted(m * 60 for m in minutes)
    got = scan_base_buckets(base, tf, n)
    assert buckets_via_sql(ledger(base), tf, n) == got
    if not base:
        assert got == []
        return
    last = base[-1] // tf * tf
    first_bucket = base[0] // tf * tf
    opens = [b for b in range(last - (n - 1) * tf, last + 1, tf) if b >= first_bucket]
    assert [b.bucket_open_time for b in got] == opens
    for b in got:
        actual = sum(1 for t in base if b.bucket_open_time <= t < b.bucket_open_time + tf)
        assert (b.expected_minutes, b.actual_minutes) == (tf // 60, actual)
        assert b.missing_minutes == tf // 60 - actual


# ---- §2.9 -----------------------------------------------------------------------------------


def test_market_health_contract_vectors() -> None:
    red = market_health(BTC_5M, 960, 300)
    assert red["expected_latest_closed_time"] == 600
    assert (red["status"], red["status_reason"]) == ("red", "lagging_no_recent_backfill")
    assert (red["lag_seconds"], red["missing_seconds"], red["missing_candles"]) == (660, 300, 1)

    green = market_health(BTC_5M, 960, 600)
    assert (green["status"], green["status_reason"]) == ("green", "up_to_date")
    assert (green["missing_seconds"], green["missing_candles"]) == (0, 0)

    ahead = market_health(BTC_5M, 960, 900)
    assert (ahead["status"], ahead["status_reason"]) == ("yellow", "head_ahead_of_closed_window")
    assert (ahead["lag_seconds"], ahead["missing_seconds"]) == (60, 0)

    backfill = BackfillProgress.begin(900, 600).succeed(940, 300)
    recent = market_health(BTC_5M, 960, 300, backfill)
    assert (recent["status"], recent["status_reason"]) == ("yellow", "backfill_recent")
    assert recent["backfill"]["progress_pct"] == 50
    assert recent["backfill"]["recent"] is True


def test_market_health_full_body_with_no_backfill_ever() -> None:
    assert market_health(BTC_5M, 960, 300, None) == {
        "series_id": "binance:spot:BTC/USDT:5m",
        "timeframe_seconds": 300,
        "now_time": 960,
        "expected_latest_closed_time": 600,
        "head_time": 300,
        "lag_seconds": 660,
        "missing_seconds": 300,
        "missing_candles": 1,
        "status": "red",
        "status_reason": "lagging_no_recent_backfill",
        "backfill": {
            "state": "idle",
            "progress_pct": None,
            "started_at": None,
            "updated_at": None,
            "reason": None,
            "note": None,
            "error": None,
            "recent": False,
            "start_missing_seconds": None,
            "start_missing_candles": None,
            "current_missing_seconds": None,
            "current_missing_candles": None,
        },
    }


def test_missing_head_is_red_with_null_figures() -> None:
    body = market_health(BTC_5M, 960, None, BackfillProgress.begin(950, 600))
    assert (body["status"], body["status_reason"]) == ("red", "missing_head")
    assert (body["lag_seconds"], body["missing_seconds"], body["missing_candles"]) == (
        None,
        None,
        None,
    )


@pytest.mark.parametrize(
    ("now", "tf", "expected"),
    [(1735689665, "1m", 1735689600), (1700000100, "5m", 1699999800), (1200, "1h", 0)],
)
def test_expected_latest_closed_time_vectors(now: int, tf: str, expected: int) -> None:
    body = market_health(BTC_1M.with_timeframe(tf), now, None)
    assert body["expected_latest_closed_time"] == expected


def test_status_rules_for_backfill_states() -> None:
    running = BackfillProgress.begin(900, 600, reason="reconnect", note="from head")
    body = market_health(BTC_5M, 960, 0, running)
    assert (body["status"], body["status_reason"]) == ("yellow", "backfill_running")
    assert body["missing_candles"] == 2
    assert body["backfill"]["reason"] == "reconnect"
    assert body["backfill"]["note"] == "from head"

    done = running.succeed(960 - RECENT_BACKFILL_SECONDS)
    assert market_health(BTC_5M, 960, 300, done)["status_reason"] == "backfill_recent"
    stale = running.succeed(960 - RECENT_BACKFILL_SECONDS - 1)
    assert market_health(BTC_5M, 960, 300, stale)["status_reason"] == ("lagging_no_recent_backfill")
    # A success stamped after the request's now_time is not within the last 120 s of it.
    later = running.succeed(961)
    assert market_health(BTC_5M, 960, 300, later)["backfill"]["recent"] is False

    failed = running.advance(930, 300).fail(940, "upstream_error:timeout")
    body = market_health(BTC_5M, 960, 300, failed)
    assert (body["status"], body["status_reason"]) == ("red", "lagging_no_recent_backfill")
    assert body["backfill"] == {
        "state": "failed",
        "progress_pct": 50.0,
        "started_at": 900,
        "updated_at": 940,
        "reason": "reconnect",
        "note": "from head",
        "error": "upstream_error:timeout",
        "recent": False,
        "start_missing_seconds": 600,
        "start_missing_candles": 2,
        "current_missing_seconds": 300,
        "current_missing_candles": 1,
    }


def test_green_beats_any_backfill_state() -> None:
    running = BackfillProgress.begin(900, 600)
    assert market_health(BTC_5M, 960, 600, running)["status"] == "green"


def test_missing_candles_round_up() -> None:
    unaligned = market_health(BTC_5M, 960, 599)  # 1 s missing is still 1 candle
    assert (unaligned["missing_seconds"], unaligned["missing_candles"]) == (1, 1)


@quick
@given(st.integers(0, 10**9), st.integers(-(10**9), 10**9))
def test_progress_pct_is_clamped(start: int, current: int) -> None:
    pct = BackfillProgress.begin(0, start).advance(1, current).progress_pct()
    assert pct is not None
    assert 0.0 <= pct <= 100.0
    if start == 0:
        assert pct == 100.0
    elif 0 <= current <= start:
        assert pct == pytest.approx(100 * (start - current) / start)


def test_progress_pct_edges() -> None:
    assert BackfillProgress().progress_pct() is None
    assert BackfillProgress.begin(0, 0).progress_pct() == 100.0
    assert BackfillProgress.begin(0, 600).progress_pct() == 0.0
    assert BackfillProgress.begin(0, 600).succeed(5).progress_pct() == 100.0
