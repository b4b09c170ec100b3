"""The series actor: sole owner of one series' ledger, analytics and subscribers.

This module is the mailbox loop and the message handlers (one per message in
`actors.messages`, listed in `_HANDLERS`); the ledger work is `actors.series_ledger` and the
framing to subscribers is `actors.publisher`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import attrs
import trio

from actors import messages as m
from actors.mailbox import Request
from actors.publisher import Publisher, Subscription
from actors.series_ledger import AnalyticsRead, SeriesLedger
from canvas.candles import MAX_CANDLE_TIME, Row
from canvas.errors import CanvasError, PipelineFailed, ServiceUnavailable
from canvas.metrics import MetricsRegistry
from canvas.series_id import SeriesId

log = logging.getLogger("canvas.actor")

# Write groups between WAL checkpoints (run in the worker thread; autocheckpoint is off).
CHECKPOINT_EVERY_WRITES = 200
# Group commit bounds: how many queued ingest requests (and rows) share one transaction.
GROUP_MAX_REQUESTS = 256
GROUP_MAX_ROWS = 50_000


@attrs.define(eq=False)
class SeriesHandle:
    """What the rest of Canvas holds for a series: its mailbox and its observable state.

    The handle outlives actor restarts, so queued requests and subscriptions survive a crash;
    only the actor task touches the ledger and analytics.
    """

    series: SeriesId
    mailbox_size: int
    send: trio.MemorySendChannel[Request] = attrs.field(init=False)
    recv: trio.MemoryReceiveChannel[Request] = attrs.field(init=False)
    subscribers: dict[int, Subscription] = attrs.Factory(dict)
    state: str = "starting"
    crashes: int = 0
    last_error: str | None = None
    store_head: int | None = None
    factor_head: int | None = None
    overlay_head: int | None = None
    stopped: trio.Event = attrs.Factory(trio.Event)

    def __attrs_post_init__(self) -> None:
        self.send, self.recv = trio.open_memory_channel(self.mailbox_size)

    @property
    def series_id(self) -> str:
        return str(self.series)

    def mailbox_depth(self) -> int:
        return self.send.statistics().current_buffer_used


@attrs.frozen
class ActorDeps:
    """What every series actor needs from the process: settings and hooks."""

    data_dir: str
    catchup_limit: int
    idle_ttl_s: float
    # Builds the factor/overlay analytics over an open connection; None runs store-only.
    analytics_factory: Callable[[Any, SeriesId], Any] | None = None
    # Called (synchronously, on the event loop) after candles were stored, with the rows.
    on_stored: Callable[[SeriesId, list[Row]], None] | None = None
    # Whether an idle actor may stop (e.g. not while an ingest job feeds it).
    may_stop: Callable[[SeriesId], bool] = lambda _s: True
    metrics: MetricsRegistry = attrs.Factory(MetricsRegistry.disabled)
    # Timeframes rolled up from a 1m base (§1.5); such series fill from the base on first use.
    derived_timeframes: tuple[str, ...] = ()


@attrs.define(eq=False)
class SeriesActor:
    """Runs one incarnation of a series' actor; the supervisor restarts it after a crash."""

    handle: SeriesHandle
    deps: ActorDeps
    ledger: SeriesLedger = attrs.field(init=False)
    publisher: Publisher = attrs.field(init=False)
    _backlog: list[Request] = attrs.Factory(list)
    _writes_since_checkpoint: int = 0

    def __attrs_post_init__(self) -> None:
        d = self.deps
        self.ledger = SeriesLedger(
            self.series, d.data_dir, d.analytics_factory, d.derived_timeframes
        )
        handle = self.handle
        self.publisher = Publisher(
            handle.series_id, self.series.tf, d.catchup_limit, handle.subscribers, self._due
        )

    @property
    def series(self) -> SeriesId:
        return self.handle.series

    async def run(self, *, task_status: trio.TaskStatus[SeriesHandle] = trio.TASK_STATUS_IGNORED):
        """Open the ledger, catch analytics up, then serve messages until idle or cancelled.

        Returns normally when the actor stopped for idleness (its mailbox is then closed).
        """
        try:
            await self._db(self.ledger.open_existing)
            await self._catch_up()
            self.handle.state = "running"
            task_status.started(self.handle)
            await self._serve()
        finally:
            # A request taken from the mailbox but not yet served would otherwise never be
            # answered (its caller would wait for its timeout).
            for request in self._backlog:
                request.reply.fail(ServiceUnavailable("series_restarting"))
            self._backlog.clear()
            with trio.CancelScope(shield=True):
                await self._db(self.ledger.close)

    async def _serve(self) -> None:
        recv = self.handle.recv
        while True:
            request = None
            if self._backlog:
                request = self._backlog.pop()
            else:
                with trio.move_on_after(self.deps.idle_ttl_s):
                    try:
                        request = await recv.receive()
                    except trio.EndOfChannel:
                        return
            if request is None:
                if (
                    self.handle.subscribers
                    or not self.deps.may_stop(self.series)
                    # A request queued since the timer fired: stopping now would serve it
                    # on the way out (a subscriber registered on a stopping actor is lost).
                    or recv.statistics().current_buffer_used
                ):
                    continue
                # Closing the send side makes late askers look the series up again; whatever
                # is already queued is still answered below before the actor ends.
                self.handle.send.close()
                self.handle.state = "stopped"
                continue
            if isinstance(request, m.IngestClosed):
                await self._ingest_group(self._gather_ingests(request))
            else:
                await self._handle(request)

    def _gather_ingests(self, first: m.IngestClosed) -> list[m.IngestClosed]:
        """Group commit: take the ingests already queued behind `first` (same publish flag)
        so they share one transaction and one pipeline run, in arrival order."""
        group, rows = [first], len(first.rows)
        while len(group) < GROUP_MAX_REQUESTS and rows < GROUP_MAX_ROWS:
            try:
                nxt = self.handle.recv.receive_nowait()
            except (trio.WouldBlock, trio.EndOfChannel):
                break
            if not isinstance(nxt, m.IngestClosed) or nxt.publish != first.publish:
                self._backlog.append(nxt)
                break
            group.append(nxt)
            rows += len(nxt.rows)
        return group

    async def _handle(self, request: Request) -> None:
        handler = _HANDLERS.get(type(request))
        if handler is None:
            request.reply.fail(CanvasError("internal_error"))
            raise TypeError(f"series actor got an unknown request {type(request).__name__}")
        try:
            request.reply.set(await handler(self, request))
        except CanvasError as exc:
            request.reply.fail(exc)
        except BaseException:
            # A broken invariant: answer the caller, then crash so the supervisor restarts us.
            request.reply.fail(CanvasError("internal_error"))
            raise

    # --- the ledger, in the worker thread -------------------------------------------------

    async def _db(self, fn: Callable[..., Any], *args: Any) -> Any:
        # SQLite work runs in a worker thread; it is never abandoned, so a cancelled request
        # still finishes (or rolls back) its transaction before the actor goes on.
        return await trio.to_thread.run_sync(fn, *args)

    async def _due(self, last_sent: int | None) -> list[Row]:
        if self.ledger.conn is None:
            return []
        return await self._db(self.ledger.newest_after, last_sent, self.deps.catchup_limit)

    def _sync_heads(self) -> None:
        """Publish the heads to the handle; called on the event loop only, so that readers
        of the handle (the operator's view) always see one consistent set."""
        self.handle.store_head = self.ledger.store_head
        analytics = self.ledger.analytics
        if analytics is not None:
            self.handle.factor_head = analytics.factor_head_time
            self.handle.overlay_head = analytics.overlay_head_time

    async def _catch_up_if_behind(self) -> None:
        """Before a read, finish work a failed step left (and tell subscribers of rewinds)."""
        if self.ledger.analytics is None or self.ledger.store_head is None:
            return
        if not self.ledger.heads_caught_up():
            try:
                await self._catch_up()
            except PipelineFailed as exc:
                # The step still fails: the read answers from the ledgers as they are (a 409
                # where a head is behind), and the next ingest tries again.
                log.warning("%s: catch-up before a read failed at %s", self.series, exc.step)

    async def _catch_up(self) -> None:
        """Bring lagging factor/overlay heads to the store head (after a crash between steps)."""
        self._sync_heads()
        if self.ledger.analytics is None:
            return
        try:
            rewind = await self._db(self.ledger.catch_up)
        finally:
            self._sync_heads()
        if rewind is not None:
            self.publisher.broadcast_rewind(rewind)

    async def _caught_up_db(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run ledger work that needs caught-up analytics, then publish the heads."""
        await self._catch_up_if_behind()
        try:
            return await self._db(fn, *args)
        finally:
            self._sync_heads()

    # --- ingest ----------------------------------------------------------------------------

    async def _ingest_group(self, group: list[m.IngestClosed]) -> None:
        """The ingest pipeline, store → factor → overlay → publish, once for the group."""
        try:
            rows = _merged_rows(group)
            prev_head = self.ledger.store_head
            try:
                if self.ledger.is_small_append(rows):
                    # A few candles appended at the head of a caught-up series: the whole
                    # pipeline takes ~0.1-0.3 ms, less than a thread hand-off costs the loop.
                    # It never waits for a lock there: what met one runs in the worker.
                    result = self.ledger.store_and_analyse_inline(rows)
                    if callable(result):
                        result = await self._db(result)
                else:
                    result = await self._db(self.ledger.store_and_analyse, rows)
                changed_from, rewind, failure = result
            finally:
                self._sync_heads()
            if changed_from is not None:
                self._stored(rows)
            await self._maybe_checkpoint()
            if group[0].publish:
                await self.publisher.publish(rows, prev_head)
            if rewind is not None:
                self.publisher.broadcast_rewind(rewind)
        except BaseException:
            for req in group:
                req.reply.fail(CanvasError("internal_error"))
            raise
        for req in group:
            if failure is not None:
                req.reply.fail(failure)
            else:
                req.reply.set(m.Stored(len(req.rows), changed_from))

    def _stored(self, rows: list[Row]) -> None:
        gauge = self.deps.metrics.gauge(
            "market_ingest_last_candle_time", series_id=self.handle.series_id
        )
        gauge.set(self.ledger.store_head)
        if self.deps.on_stored is not None:
            self.deps.on_stored(self.series, rows)

    async def _maybe_checkpoint(self) -> None:
        self._writes_since_checkpoint += 1
        if self._writes_since_checkpoint >= CHECKPOINT_EVERY_WRITES:
            self._writes_since_checkpoint = 0
            await self._db(self.ledger.checkpoint)

    # --- handlers, one per message (see _HANDLERS) ---------------------------------------

    async def _on_ingest_forming(self, req: m.IngestForming) -> None:
        self.publisher.offer_forming(req.row)

    async def _on_query_candles(self, req: m.QueryCandles) -> m.CandlePage:
        if self.ledger.conn is None:
            return m.CandlePage(None, [])
        rows = await self._db(self.ledger.page, req.since, req.before, req.limit)
        return m.CandlePage(self.ledger.store_head, rows)

    async def _on_count_candles(self, req: m.CountCandles) -> tuple[int, int | None]:
        return await self._caught_up_db(self.ledger.count, req.lo, req.hi)

    async def _on_subscribe(self, req: m.Subscribe) -> None:
        # Candle times are below MAX_CANDLE_TIME, so any larger `since` means the same thing;
        # clamping keeps it inside SQLite's 64-bit integers.
        since = min(req.since, MAX_CANDLE_TIME) if req.since else None
        sub = Subscription(req.outbox, since, req.supports_batch)
        self.handle.subscribers[req.outbox.conn_id] = sub
        due = await self._due(since)
        self.deps.metrics.counter("market_ws_catchup_candles_total").inc(len(due))
        await self.publisher.send_due(sub, due)

    async def _on_unsubscribe(self, req: m.Unsubscribe) -> bool:
        return self.handle.subscribers.pop(req.outbox.conn_id, None) is not None

    async def _on_resync(self, req: m.Resync) -> None:
        await self.publisher.resync(req.outbox.conn_id)

    async def _analytics(self, read: AnalyticsRead) -> Any:
        """A factor/overlay read: over the caught-up analytics, or an empty throwaway ledger."""
        if self.ledger.analytics is None:
            return await self._db(self.ledger.analytics_read, read)
        return await self._caught_up_db(self.ledger.analytics_read, read)

    async def _on_factor_slices(self, req: m.FactorSlices) -> m.Json:
        return await self._analytics(lambda a: a.slices(req.at_time, req.window_candles))

    async def _on_draw_delta(self, req: m.DrawDelta) -> m.Json:
        return await self._analytics(
            lambda a: a.draw_delta(req.cursor_version_id, req.window_candles, req.at_time)
        )

    async def _on_frame(self, req: m.Frame) -> m.Json:
        return await self._analytics(lambda a: a.frame(req.at_time, req.window_candles))

    async def _on_rebuild(self, req: m.RebuildAnalytics) -> m.Json:
        had_ledger = self.ledger.analytics is not None
        result = await self._analytics(lambda a: a.rebuild(req.include_overlay))
        if had_ledger:
            self.publisher.broadcast_rebuild(result["rebuilt_to_time"])
        return result

    async def _on_replay_prepare(self, req: m.ReplayPrepare) -> m.Json:
        return await self._caught_up_db(self.ledger.replay_prepare, req.to_time, req.window_candles)

    async def _on_replay_plan(self, req: m.ReplayPlan) -> Any:
        return await self._caught_up_db(
            self.ledger.replay_plan,
            req.to_time,
            req.window_candles,
            req.window_size,
            req.snapshot_interval,
        )

    async def _on_gap_scan(self, req: m.GapScan) -> Any:
        return await self._db(self.ledger.gap_scan, req.max_recent_gaps)

    async def _on_bucket_minutes(self, req: m.BucketMinutes) -> Any:
        return await self._db(self.ledger.bucket_minutes, req.tf, req.buckets)


def _merged_rows(group: list[m.IngestClosed]) -> list[Row]:
    """The group's rows by time; later requests win, as if applied one after another."""
    if len(group) == 1:
        return group[0].rows
    merged: dict[int, Row] = {}
    for req in group:
        merged.update((r[0], r) for r in req.rows)
    return [merged[t] for t in sorted(merged)]


# Every message the actor serves (IngestClosed is taken by the loop itself, in groups).
_HANDLERS: dict[type, Callable[[SeriesActor, Any], Any]] = {
    m.IngestForming: SeriesActor._on_ingest_forming,
    m.QueryCandles: SeriesActor._on_query_candles,
    m.CountCandles: SeriesActor._on_count_candles,
    m.Subscribe: SeriesActor._on_subscribe,
    m.Unsubscribe: SeriesActor._on_unsubscribe,
    m.Resync: SeriesActor._on_resync,
    m.FactorSlices: SeriesActor._on_factor_slices,
    m.DrawDelta: SeriesActor._on_draw_delta,
    m.Frame: SeriesActor._on_frame,
    m.RebuildAnalytics: SeriesActor._on_rebuild,
    m.ReplayPrepare: SeriesActor._on_replay_prepare,
    m.ReplayPlan: SeriesActor._on_replay_plan,
    m.GapScan: SeriesActor._on_gap_scan,
    m.BucketMinutes: SeriesActor._on_bucket_minutes,
}
