"""The requests a series actor answers; each is a frozen attrs value with a one-shot reply."""

from __future__ import annotations

from typing import Any

import attrs

from actors.mailbox import Request
from actors.outbox import Outbox
from canvas.ws_frames import Row


@attrs.frozen(eq=False)
class IngestClosed(Request):
    """Store closed candles (ascending, distinct times) and run the pipeline once."""

    rows: list[Row]
    publish: bool = True


@attrs.frozen(eq=False)
class IngestForming(Request):
    row: Row


@attrs.frozen(eq=False)
class QueryCandles(Request):
    """A page of closed candles (§2.1): `since`/`before` are exclusive bounds, None is open."""

    since: int | None
    limit: int
    before: int | None = None


@attrs.frozen(eq=False)
class Subscribe(Request):
    """Register `outbox` and send its catch-up in the same step (§3.4 #2, #5)."""

    outbox: Outbox
    since: int | None
    supports_batch: bool


@attrs.frozen(eq=False)
class Unsubscribe(Request):
    outbox: Outbox


@attrs.frozen(eq=False)
class Resync(Request):
    """The outbox drained after lagging: send what became due meanwhile."""

    outbox: Outbox


@attrs.frozen(eq=False)
class Analytics(Request):
    """A factor/overlay read or command, run on the series' analytics in a worker thread.

    `method` names a SeriesAnalytics method (slices, draw_delta, frame, rebuild); heads left
    behind by a failed step are caught up first.
    """

    method: str
    kwargs: dict[str, Any] = attrs.Factory(dict)


@attrs.frozen(eq=False)
class GapScan(Request):
    """Count, span and gaps of the stored candles (for series_health)."""

    max_recent_gaps: int


@attrs.frozen(eq=False)
class BucketMinutes(Request):
    """For a 1m base: stored minutes per `tf` bucket over the last `buckets` buckets."""

    tf: int
    buckets: int


@attrs.frozen(eq=False)
class Call(Request):
    """Run `fn(analytics, conn, **kwargs)` in the actor's worker thread, one message at a time.

    For domain operations that need the series' own state under its single-writer guarantee
    (e.g. replay prepare). `analytics` and `conn` are None for a series with no ledger yet.
    """

    fn: Any
    kwargs: dict[str, Any] = attrs.Factory(dict)
