"""The series actor: sole owner of one series' ledger, analytics and subscribers."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import apsw
import attrs
import trio

from actors import messages as m
from actors.mailbox import Request
from actors.outbox import Outbox
from actors.rollup import read_rollup
from canvas import health
from canvas.candles import MAX_CANDLE_TIME
from canvas.errors import CanvasError, PipelineFailed, ServiceUnavailable
from canvas.factors import store as factor_store
from canvas.metrics import MetricsRegistry
from canvas.series_id import SeriesId
from canvas.storage import candle_ledger as ledger
from canvas.storage.db import open_db, series_db_path
from canvas.ws_frames import Row, forming_frame, plan_units, system_frame

log = logging.getLogger("canvas.actor")

# Base minutes read per step when a derived series is first filled from its base.
FILL_CHUNK_MINUTES = 100_000
# Candles framed per slice of a catch-up before yielding to the event loop.
CATCHUP_SLICE = 1000
# Write groups between WAL checkpoints (run in the worker thread; autocheckpoint is off).
CHECKPOINT_EVERY_WRITES = 200
# Appends of at most this many candles to a caught-up series run on the event loop.
INLINE_MAX_ROWS = 4
# Group commit bounds: how many queued ingest requests (and rows) share one transaction.
GROUP_MAX_REQUESTS = 256
GROUP_MAX_ROWS = 50_000


@attrs.define(eq=False)
class Subscription:
    """One connection's subscription to this series (§3.4): what it has been sent so far."""

    outbox: Outbox
    last_sent: int | None
    supports_batch: bool
    lagging: bool = False
    # System events that could not be queued while lagging; sent on resync.
    pending_rewind: int | None = None
    pending_rebuild: dict[str, Any] | None = None


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
    conn: Any = None
    analytics: Any = None
    store_head: int | None = None
    _backlog: list[Request] = attrs.Factory(list)
    _writes_since_checkpoint: int = 0

    @property
    def series(self) -> SeriesId:
        return self.handle.series

    async def run(self, *, task_status: trio.TaskStatus[SeriesHandle] = trio.TASK_STATUS_IGNORED):
        """Open the ledger, catch analytics up, then serve messages until idle or cancelled.

        Returns normally when the actor stopped for idleness (its mailbox is then closed).
        """
        try:
            await self._db(self._open_existing)
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
                await self._db(self._close)

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

    def _last_candle_gauge(self) -> Any:
        return self.deps.metrics.gauge(
            "market_ingest_last_candle_time", series_id=self.handle.series_id
        )

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

    # --- storage -------------------------------------------------------------------------

    async def _db(self, fn: Callable[..., Any], *args: Any) -> Any:
        # SQLite work runs in a worker thread; it is never abandoned, so a cancelled request
        # still finishes (or rolls back) its transaction before the actor goes on.
        return await trio.to_thread.run_sync(fn, *args)

    def _path(self):
        return series_db_path(self.deps.data_dir, self.handle.series_id)

    def _open_existing(self) -> None:
        if self._path().exists():
            self._open()
        if self.store_head is None and self.series.timeframe in self.deps.derived_timeframes:
            self._fill_from_base()

    def _fill_from_base(self) -> None:
        """A derived series comes into being filled from its stored 1m base (§1.5)."""
        base = self.series.with_timeframe("1m")
        path = series_db_path(self.deps.data_dir, str(base))
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
            rows = read_rollup(self.deps.data_dir, base, tf, lo, lo + step)
            if rows:
                self._store(rows)
            lo += step

    def _open(self) -> None:
        self.conn = open_db(self._path())
        # Small appends commit on the event loop (see _is_small_append); a WAL checkpoint
        # (which fsyncs) must never run there, so the actor checkpoints in its worker thread.
        self.conn.execute("PRAGMA wal_autocheckpoint=0")
        self.store_head = ledger.head_time(self.conn)
        if self.deps.analytics_factory is not None:
            self.analytics = self.deps.analytics_factory(self.conn, self.series)

    def _checkpoint(self) -> None:
        if self.conn is not None:
            self.conn.wal_checkpoint(mode=apsw.SQLITE_CHECKPOINT_PASSIVE)

    def _close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def _sync_heads(self) -> None:
        """Publish the heads to the handle; called on the event loop only, so that readers
        of the handle (the operator's view) always see one consistent set."""
        self.handle.store_head = self.store_head
        if self.analytics is not None:
            self.handle.factor_head = self.analytics.factor_head_time
            self.handle.overlay_head = self.analytics.overlay_head_time

    def _store(self, rows: list[Row]) -> int | None:
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

    async def _catch_up_if_behind(self) -> None:
        """Before a read, finish work a failed step left (and tell subscribers of rewinds)."""
        a = self.analytics
        if a is None or self.store_head is None:
            return
        if a.factor_head_time != self.store_head or a.overlay_head_time != self.store_head:
            try:
                await self._catch_up()
            except PipelineFailed as exc:
                # The step still fails: the read answers from the ledgers as they are (a 409
                # where a head is behind), and the next ingest tries again.
                log.warning("%s: catch-up before a read failed at %s", self.series, exc.step)

    async def _catch_up(self) -> None:
        """Bring lagging factor/overlay heads to the store head (after a crash between steps)."""
        self._sync_heads()
        if self.analytics is None:
            return
        try:
            rewind = await self._db(self.analytics.catch_up)
        finally:
            self._sync_heads()
        if rewind is not None:
            self._broadcast_rewind(rewind)

    # --- handlers ------------------------------------------------------------------------

    async def _ingest_group(self, group: list[m.IngestClosed]) -> None:
        """The ingest pipeline, store → factor → overlay → publish, once for the group."""
        try:
            if len(group) == 1:
                rows = group[0].rows
            else:
                merged: dict[int, Row] = {}
                for req in group:  # later requests win, as if applied one after another
                    merged.update((r[0], r) for r in req.rows)
                rows = [merged[t] for t in sorted(merged)]
            prev_head = self.store_head
            try:
                if self._is_small_append(rows):
                    # A few candles appended at the head of a caught-up series: the whole
                    # pipeline takes ~0.1-0.3 ms, less than a thread hand-off costs the loop.
                    changed_from, rewind, failure = self._store_and_analyse(rows)
                else:
                    changed_from, rewind, failure = await self._db(self._store_and_analyse, rows)
            finally:
                self._sync_heads()
            if changed_from is not None:
                self._last_candle_gauge().set(self.store_head)
                if self.deps.on_stored is not None:
                    self.deps.on_stored(self.series, rows)
            self._writes_since_checkpoint += 1
            if self._writes_since_checkpoint >= CHECKPOINT_EVERY_WRITES:
                self._writes_since_checkpoint = 0
                await self._db(self._checkpoint)
            if group[0].publish:
                await self._publish(rows, prev_head)
            if rewind is not None:
                self._broadcast_rewind(rewind)
        except BaseException:
            for req in group:
                req.reply.fail(CanvasError("internal_error"))
            raise
        for req in group:
            if failure is not None:
                req.reply.fail(failure)
            else:
                req.reply.set({"count": len(req.rows), "changed_from": changed_from})

    def _is_small_append(self, rows: list[Row]) -> bool:
        head = self.store_head
        if self.conn is None or head is None or len(rows) > INLINE_MAX_ROWS or rows[0][0] <= head:
            return False
        a = self.analytics
        return a is None or (a.factor_head_time == head and a.overlay_head_time == head)

    def _store_and_analyse(self, rows: list[Row]) -> tuple[int | None, int | None, Any]:
        """Store (own transaction), then the factor and overlay steps; one worker-thread hop."""
        changed_from = self._store(rows)
        if self.analytics is None:
            return changed_from, None, None
        try:
            return changed_from, self.analytics.after_store(changed_from), None
        except PipelineFailed as exc:
            return changed_from, None, exc

    async def _on_ingest_forming(self, req: m.IngestForming) -> None:
        frame: str | None = None
        for sub in list(self.handle.subscribers.values()):
            if sub.last_sent is None or req.row[0] > sub.last_sent:
                frame = frame or forming_frame(self.handle.series_id, req.row)
                # Forming updates are disposable: a full outbox simply drops this one.
                if not sub.outbox.offer(frame) and sub.outbox.closed:
                    self._drop(sub)

    async def _on_query_candles(self, req: m.QueryCandles) -> dict[str, Any]:
        if self.conn is None:
            return {"head": None, "rows": []}

        def read() -> list[Row]:
            return ledger.page(self.conn, req.since, req.before, req.limit)

        return {"head": self.store_head, "rows": await self._db(read)}

    async def _on_subscribe(self, req: m.Subscribe) -> None:
        # Candle times are below MAX_CANDLE_TIME, so any larger `since` means the same thing;
        # clamping keeps it inside SQLite's 64-bit integers.
        since = min(req.since, MAX_CANDLE_TIME) if req.since else None
        sub = Subscription(req.outbox, since, req.supports_batch)
        self.handle.subscribers[req.outbox.conn_id] = sub
        due = await self._due(since)
        self.deps.metrics.counter("market_ws_catchup_candles_total").inc(len(due))
        await self._send_due(sub, due)

    async def _on_unsubscribe(self, req: m.Unsubscribe) -> bool:
        return self.handle.subscribers.pop(req.outbox.conn_id, None) is not None

    async def _on_resync(self, req: m.Resync) -> None:
        sub = self.handle.subscribers.get(req.outbox.conn_id)
        if sub is None or not sub.lagging:
            return
        sub.lagging = False
        await self._send_due(sub, await self._due(sub.last_sent))
        if not sub.lagging:
            self._flush_pending_system(sub)

    async def _on_analytics(self, req: m.Analytics) -> Any:
        if self.analytics is None:
            if self.deps.analytics_factory is None:
                raise CanvasError("analytics_unavailable", status=503)
            return await self._db(self._answer_without_ledger, req)
        await self._catch_up_if_behind()
        method = getattr(self.analytics, req.method)

        try:
            result = await self._db(lambda: method(**req.kwargs))
        finally:
            self._sync_heads()
        if req.method == "rebuild":
            self._broadcast_system(
                "factor.rebuild", "factor ledger rebuilt", {"to_time": result["rebuilt_to_time"]}
            )
        return result

    async def _on_call(self, req: m.Call) -> Any:
        await self._catch_up_if_behind()
        try:
            return await self._db(lambda: req.fn(self.analytics, self.conn, **req.kwargs))
        finally:
            self._sync_heads()

    def _answer_without_ledger(self, req: m.Analytics) -> Any:
        """Answer for a series that never stored a candle, over a throwaway empty ledger,
        so that reads of unknown series create no files."""
        conn = open_db(":memory:")
        try:
            analytics = self.deps.analytics_factory(conn, self.series)
            return getattr(analytics, req.method)(**req.kwargs)
        finally:
            conn.close()

    async def _on_gap_scan(self, req: m.GapScan) -> Any:
        if self.conn is None:
            return health.GapSummary.empty()

        def scan() -> health.GapSummary:
            times = (r[0] for r in self.conn.execute(health.CANDLE_TIMES_SQL))
            return health.scan_gaps(times, self.series.tf, req.max_recent_gaps)

        return await self._db(scan)

    async def _on_bucket_minutes(self, req: m.BucketMinutes) -> Any:
        if self.conn is None:
            return []

        def count() -> list[health.BucketCompleteness]:
            first, head = ledger.first_time(self.conn), ledger.head_time(self.conn)
            span = health.base_bucket_range(first, head, req.tf, req.buckets)
            if span is None:
                return []
            rows = self.conn.execute(
                health.BASE_BUCKET_MINUTES_SQL, {"tf": req.tf, "lo": span[0], "hi": span[1]}
            )
            return health.base_bucket_completeness(first, head, req.tf, req.buckets, dict(rows))

        return await self._db(count)

    # --- publishing ----------------------------------------------------------------------

    async def _due(self, last_sent: int | None) -> list[Row]:
        if self.conn is None:
            return []
        limit = self.deps.catchup_limit
        return await self._db(ledger.newest_after, self.conn, last_sent, limit)

    async def _publish(self, written: list[Row], prev_head: int | None) -> None:
        """Send every subscriber what is now due, framing once per distinct position."""
        groups: dict[tuple[int | None, bool], list[Subscription]] = {}
        for sub in self.handle.subscribers.values():
            if not sub.lagging:
                groups.setdefault((sub.last_sent, sub.supports_batch), []).append(sub)
        rows_for: dict[int | None, list[Row]] = {}
        for (last_sent, batch), subs in groups.items():
            if last_sent not in rows_for:
                if last_sent is not None and prev_head is not None and last_sent >= prev_head:
                    # Everything stored after prev_head came from this write.
                    due = [r for r in written if r[0] > last_sent]
                    rows_for[last_sent] = due[-self.deps.catchup_limit :]
                else:
                    rows_for[last_sent] = await self._due(last_sent)
            rows = rows_for[last_sent]
            if not rows:
                continue
            units = plan_units(self.handle.series_id, self.series.tf, last_sent, rows, batch)
            for sub in subs:
                self._offer_units(sub, units)

    async def _send_due(self, sub: Subscription, rows: list[Row]) -> None:
        """Frame and queue a catch-up in slices, yielding to the event loop between them so a
        5,000-candle catch-up never holds the loop for long (the actor still handles nothing
        else meanwhile: this is one message)."""
        for i in range(0, len(rows), CATCHUP_SLICE):
            if i:
                await trio.lowlevel.checkpoint()
                if sub.lagging or sub.outbox.closed:
                    return
            units = plan_units(
                self.handle.series_id,
                self.series.tf,
                sub.last_sent,
                rows[i : i + CATCHUP_SLICE],
                sub.supports_batch,
            )
            self._offer_units(sub, units)

    def _offer_units(self, sub: Subscription, units: list[Any]) -> None:
        for unit in units:
            if not sub.outbox.offer_all(list(unit.frames)):
                if sub.outbox.closed:
                    self._drop(sub)
                    return
                sub.lagging = True
                sub.outbox.mark_lagging(self.handle.series_id)
                return
            sub.last_sent = unit.last_time

    def _drop(self, sub: Subscription) -> None:
        self.handle.subscribers.pop(sub.outbox.conn_id, None)

    def _broadcast_rewind(self, from_time: int) -> None:
        for sub in list(self.handle.subscribers.values()):
            if sub.pending_rewind is None or from_time < sub.pending_rewind:
                sub.pending_rewind = from_time
            self._flush_pending_system(sub)

    def _broadcast_system(self, event: str, message: str, data: dict[str, Any]) -> None:
        for sub in list(self.handle.subscribers.values()):
            sub.pending_rebuild = {"message": message, "data": data}
            self._flush_pending_system(sub)

    def _flush_pending_system(self, sub: Subscription) -> None:
        """Queue pending system events unless the subscriber is lagging (then on resync)."""
        if sub.lagging:
            return
        sid = self.handle.series_id
        if sub.pending_rebuild is not None:
            ev = sub.pending_rebuild
            if not sub.outbox.offer(system_frame(sid, "factor.rebuild", ev["message"], ev["data"])):
                sub.lagging = True
                sub.outbox.mark_lagging(sid)
                return
            sub.pending_rebuild = None
        if sub.pending_rewind is not None:
            data = {"from_time": sub.pending_rewind}
            if not sub.outbox.offer(system_frame(sid, "factor.rewind", "late data", data)):
                sub.lagging = True
                sub.outbox.mark_lagging(sid)
                return
            sub.pending_rewind = None


_HANDLERS: dict[type, Callable[[SeriesActor, Any], Any]] = {
    m.IngestForming: SeriesActor._on_ingest_forming,
    m.QueryCandles: SeriesActor._on_query_candles,
    m.Subscribe: SeriesActor._on_subscribe,
    m.Unsubscribe: SeriesActor._on_unsubscribe,
    m.Resync: SeriesActor._on_resync,
    m.Analytics: SeriesActor._on_analytics,
    m.Call: SeriesActor._on_call,
    m.GapScan: SeriesActor._on_gap_scan,
    m.BucketMinutes: SeriesActor._on_bucket_minutes,
}
