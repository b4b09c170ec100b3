"""The series actor's API: every request it serves, each a frozen attrs value with a typed reply.

`Request[T]` answers with a `T` (or raises a CanvasError); `Directory.ask(series, message)`
returns that `T`. The actor's handler for each message is listed in `actors.series_actor`.
Nothing here carries a function: the actor alone decides what work runs on its ledger.
"""

from __future__ import annotations

from typing import Any

import attrs

from actors.mailbox import Request
from actors.outbox import Outbox
from canvas.candles import Row
from canvas.health import BucketCompleteness, GapSummary
from canvas.replay.plan import BuildPlan

Json = dict[str, Any]


@attrs.frozen
class Stored:
    """The answer to IngestClosed: rows taken, and the earliest time stored or changed."""

    count: int
    changed_from: int | None


@attrs.frozen
class CandlePage:
    """The answer to QueryCandles: the store head (None when empty) and the page's rows."""

    head: int | None
    rows: list[Row]

# --- candles ---------------------------------------------------------------------------------


@attrs.frozen(eq=False)
class IngestClosed(Request[Stored]):
    """Store closed candles (ascending, distinct times) and run the pipeline once."""

    rows: list[Row]
    publish: bool = True


@attrs.frozen(eq=False)
class IngestForming(Request[None]):
    """Offer a forming (not yet closed) candle to the subscribers; nothing is stored."""

    row: Row


@attrs.frozen(eq=False)
class QueryCandles(Request[CandlePage]):
    """A page of closed candles (§2.1): `since`/`before` are exclusive bounds, None is open."""

    since: int | None
    limit: int
    before: int | None = None


@attrs.frozen(eq=False)
class CountCandles(Request[tuple[int, int | None]]):
    """How many candles are stored with `lo <= time <= hi`, and the store head (coverage)."""

    lo: int
    hi: int


# --- subscriptions ---------------------------------------------------------------------------


@attrs.frozen(eq=False)
class Subscribe(Request[None]):
    """Register `outbox` and send its catch-up in the same step (§3.4 #2, #5)."""

    outbox: Outbox
    since: int | None
    supports_batch: bool


@attrs.frozen(eq=False)
class Unsubscribe(Request[bool]):
    """Forget `outbox`; answers whether it was subscribed."""

    outbox: Outbox


@attrs.frozen(eq=False)
class Resync(Request[None]):
    """The outbox drained after lagging: send what became due meanwhile."""

    outbox: Outbox


# --- factor and overlay reads (§4-§6); heads a failed step left behind are caught up first ---


@attrs.frozen(eq=False)
class FactorSlices(Request[Json]):
    """The §4.4 factor slices at the store floor of `at_time`."""

    at_time: int
    window_candles: int


@attrs.frozen(eq=False)
class DrawDelta(Request[Json]):
    """The §5 draw delta after `cursor_version_id`, at `at_time` (the store head when None)."""

    cursor_version_id: int
    window_candles: int
    at_time: int | None = None


@attrs.frozen(eq=False)
class Frame(Request[Json]):
    """The §6 frame at the store floor of `at_time` (the store head when None)."""

    at_time: int | None
    window_candles: int


@attrs.frozen(eq=False)
class RebuildAnalytics(Request[Json]):
    """§4.5: recompute the factor (and optionally overlay) ledgers; subscribers are told."""

    include_overlay: bool


# --- replay (§7.1, §7.3) -------------------------------------------------------------------


@attrs.frozen(eq=False)
class ReplayPrepare(Request[Json]):
    """§7.1: bring factor and overlay up to the candle aligned to `to_time` (None: the head)."""

    to_time: int | None
    window_candles: int


@attrs.frozen(eq=False)
class ReplayPlan(Request[BuildPlan]):
    """§7.3: check the series can be packaged at `to_time` and describe the build job."""

    to_time: int | None
    window_candles: int
    window_size: int
    snapshot_interval: int


# --- operator views ---------------------------------------------------------------------------


@attrs.frozen(eq=False)
class GapScan(Request[GapSummary]):
    """Count, span and gaps of the stored candles (for series_health)."""

    max_recent_gaps: int


@attrs.frozen(eq=False)
class BucketMinutes(Request[list[BucketCompleteness]]):
    """For a 1m base: stored minutes per `tf` bucket over the last `buckets` buckets."""

    tf: int
    buckets: int
