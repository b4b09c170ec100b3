"""The ingest supervisor: one exchange job per base series, pinned or on demand, restarted
with backoff, feeding closed candles through the series actors (CONTRACT §8)."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from functools import partial
from typing import Any

import attrs
import trio

from actors import messages as msg
from actors.directory import Directory
from actors.ingest_feed import Feeder
from actors.ondemand import OnDemandBook
from actors.restart import JOB_POLICY, RestartPolicy
from actors.stream_pool import Lease, StreamPool
from actors.supervise import supervise
from canvas.candles import Candle, Row
from canvas.errors import CanvasError
from canvas.exchange.binance import (
    KLINE_INTERVALS,
    MARKETS,
    BinanceEndpoints,
    rest_symbol,
    stream_symbol,
)
from canvas.exchange.errors import ExchangeError
from canvas.exchange.rest import BinanceRest
from canvas.health import BackfillProgress
from canvas.series_id import SeriesId

log = logging.getLogger("canvas.ingest")

REAP_INTERVAL_S = 1.0


def job_series_for(series: SeriesId, derived: tuple[str, ...]) -> SeriesId | None:
    """The series whose exchange stream serves `series`, or None when none does (§8)."""
    if series.exchange != "binance" or series.market not in ("spot", "futures"):
        return None
    if series.timeframe in derived:
        return series.with_timeframe("1m")
    if series.timeframe in KLINE_INTERVALS:
        return series
    return None


@attrs.define(eq=False)
class IngestJob:
    """One exchange job's observable state; only the supervisor mutates it."""

    series: SeriesId
    pinned: bool
    state: str = "starting"
    started_at: float | None = None
    last_message_at: float | None = None
    crashes: int = 0
    last_error: str | None = None
    next_retry_at: float | None = None
    backfill: BackfillProgress | None = None
    closed_candles: int = 0
    forming_updates: int = 0
    malformed: int = 0
    cancel_scope: trio.CancelScope = attrs.Factory(trio.CancelScope)
    lease: Lease | None = None

    def as_json(self, now: float, refcount: int, idle_for: float | None) -> dict[str, Any]:
        lease = self.lease
        malformed = self.malformed + (lease.malformed if lease is not None else 0)
        return {
            "series_id": str(self.series),
            "source": f"binance:{self.series.market}:kline_{self.series.timeframe}",
            "state": self.state,
            "connection": lease.connection_id if lease is not None else None,
            "pinned": self.pinned,
            "refcount": refcount,
            "started_at": self.started_at,
            "last_message_at": self.last_message_at,
            "crashes": self.crashes,
            "last_error": self.last_error,
            "next_retry_in_s": (
                round(max(0.0, self.next_retry_at - now), 3)
                if self.state == "backoff" and self.next_retry_at is not None
                else None
            ),
            "idle_for_s": None if idle_for is None else round(idle_for, 3),
            "closed_candles": self.closed_candles,
            "forming_updates": self.forming_updates,
            "malformed_messages": malformed,
        }


class IngestJobs(dict[str, IngestJob]):
    """The supervisor's jobs by series id. Built before the directory, because its series
    actors ask `may_stop` before idling out: a series fed by a live job stays up."""

    def may_stop(self, series: SeriesId) -> bool:
        return str(series) not in self


@attrs.define(eq=False)
class IngestSupervisor:
    """Owns every ingest job. `run` is long-lived; `acquire`/`release` come from WebSockets."""

    directory: Directory
    endpoints: BinanceEndpoints
    whitelist: list[str]
    enabled: bool
    derived: tuple[str, ...]
    bootstrap_candles: int
    max_backfill_candles: int
    max_ondemand: int
    idle_ttl_s: float
    silence_timeout_s: float = 30.0
    # Forming updates published per job at most this often (display only; never stored).
    forming_interval_s: float = 1.0
    policy: RestartPolicy = JOB_POLICY
    clock: Callable[[], float] = time.time
    # Shared exchange connections (§8 rev 4): streams per connection, their lifetime before
    # renewal, and the exchange's limits on new connections and control messages.
    streams_per_connection: int = 200
    connection_lifetime_s: float = 23 * 3600.0
    connections_per_minute: int = 5
    control_per_second: int = 5
    # Backfills at once: hundreds of streams (re)starting together (start-up, a dropped shared
    # connection) would otherwise open as many REST requests and time out in the crowd.
    backfill_concurrency: int = 8
    jobs: IngestJobs = attrs.Factory(IngestJobs)
    rest: BinanceRest | None = None
    pools: dict[str, StreamPool] = attrs.Factory(dict)
    book: OnDemandBook = attrs.field(init=False)
    _backfills: trio.CapacityLimiter = attrs.field(init=False)
    _nursery: trio.Nursery | None = None

    def __attrs_post_init__(self) -> None:
        self.book = OnDemandBook(self.max_ondemand)
        self._backfills = trio.CapacityLimiter(self.backfill_concurrency)

    async def run(
        self, *, task_status: trio.TaskStatus[IngestSupervisor] = trio.TASK_STATUS_IGNORED
    ):
        async with BinanceRest.open(self.endpoints) as rest:
            self.rest = rest
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                for market in MARKETS:
                    self.pools[market] = await nursery.start(self._pool_for(market).run)
                if self.enabled:
                    for sid in self.whitelist:
                        series = job_series_for(SeriesId.parse(sid), self.derived)
                        if series is not None and self.book.pin(str(series)):
                            self._start_job(series, pinned=True)
                nursery.start_soon(partial(supervise, self._reaper, name="ingest reaper"))
                task_status.started(self)
                await trio.sleep_forever()

    # --- subscriptions ------------------------------------------------------------------

    def acquire(self, conn_id: int, series: SeriesId) -> None:
        """Count a subscribing connection against the job serving `series` (starting it).

        Synchronous, so the decision is one atomic step: it never waits for a job to start or
        stop. Raises Capacity when the on-demand cap is reached and no job is idle to evict.
        """
        target = self._target(series)
        if target is None:
            return
        admitted = self.book.acquire(conn_id, str(series), str(target), trio.current_time())
        if admitted.evict is not None:
            self._stop_job(self.jobs[admitted.evict])
        if admitted.start:
            self._start_job(target, pinned=False)

    def release(self, conn_id: int, series: SeriesId) -> None:
        """Drop a connection's subscription to `series` (unsubscribe); idempotent."""
        target = self._target(series)
        if target is not None:
            self.book.release(conn_id, str(series), str(target), trio.current_time())

    def release_connection(self, conn_id: int) -> None:
        """A closed connection releases every job reference it held, in one step."""
        self.book.release_connection(conn_id, trio.current_time())

    def _pool_for(self, market: str) -> StreamPool:
        return StreamPool(
            market,
            self.endpoints.spot_ws if market == "spot" else self.endpoints.futures_ws,
            per_connection=self.streams_per_connection,
            opens_per_minute=self.connections_per_minute,
            control_per_second=self.control_per_second,
            lifetime_s=self.connection_lifetime_s,
            silence_timeout_s=self.silence_timeout_s,
        )

    def _target(self, series: SeriesId) -> SeriesId | None:
        return job_series_for(series, self.derived) if self.enabled else None

    async def _reaper(self) -> None:
        while True:
            await trio.sleep(REAP_INTERVAL_S)
            for key in self.book.expired(trio.current_time(), self.idle_ttl_s):
                self._stop_job(self.jobs[key])

    # --- jobs ---------------------------------------------------------------------------

    def _start_job(self, series: SeriesId, *, pinned: bool) -> IngestJob:
        job = self.jobs[str(series)] = IngestJob(series, pinned)
        assert self._nursery is not None
        self._nursery.start_soon(self._supervise, job)
        return job

    def _stop_job(self, job: IngestJob) -> None:
        # The task ends at its next checkpoint; a new job for the same series may start at
        # once (it only shares the series actor, which serialises their writes).
        job.state = "stopped"
        job.cancel_scope.cancel()
        if self.jobs.get(str(job.series)) is job:
            del self.jobs[str(job.series)]

    async def _supervise(self, job: IngestJob) -> None:
        """Run the job, restarting it with exponential backoff and jitter after failures."""

        def starting() -> None:
            job.state = "starting"
            job.next_retry_at = None

        def crashed(exc: Exception, _crash_loop: bool) -> None:
            leaf = _leaf(exc)
            if not isinstance(leaf, _EXPECTED):
                # A bug in one job must not take the others down; log it loudly.
                log.error("ingest job %s failed", job.series, exc_info=exc)
            job.crashes += 1
            job.last_error = f"{type(leaf).__name__}: {leaf}"[:500]

        def backoff(delay: float) -> None:
            job.state = "backoff"
            job.next_retry_at = self.clock() + delay
            log.info("ingest job %s: %s; retry in %.1f s", job.series, job.last_error, delay)

        with job.cancel_scope:
            starting()
            # Exchange outages are retried forever (at the capped delay): no crash budget.
            await supervise(
                partial(self._session, job),
                name=f"ingest job {job.series}",
                policy=self.policy,
                on_crash=crashed,
                on_backoff=backoff,
                on_restart=starting,
                rng=_rng,
            )
        job.state = "stopped"

    async def _session(self, job: IngestJob) -> None:
        """Put the stream on a shared connection, backfill from the ledger head to the latest
        closed bucket, then follow the stream (backfilling again whenever it restarts)."""
        series = job.series
        pool = self.pools[series.market]
        name = f"{stream_symbol(series.symbol)}@kline_{series.timeframe}"
        # The stream is live before the REST read, and its updates wait in the lease until
        # the backfill is stored, so a bucket closing in between is never missed.
        lease = await pool.attach(name, rest_symbol(series.symbol), series.timeframe)
        job.lease = lease
        try:
            await self.backfill(job)
            job.state = "running"
            job.started_at = job.started_at or self.clock()
            await Feeder(self, job).follow(lease)
        finally:
            pool.detach(lease)
            job.malformed += lease.malformed
            job.lease = None

    async def backfill(self, job: IngestJob) -> None:
        """Fetch closed candles after the ledger head (or the newest bootstrap set) over REST."""
        async with self._backfills:
            await self._backfill(job)

    async def _backfill(self, job: IngestJob) -> None:
        assert self.rest is not None
        series = job.series
        head = await self.head_time(series)
        now = self.clock()
        server_ms = await self.rest.server_time(series.market)
        latest = (server_ms // 1000 // series.tf) * series.tf - series.tf
        if head is None:
            start = latest - (self.bootstrap_candles - 1) * series.tf
        else:
            start = max(head + series.tf, latest - (self.max_backfill_candles - 1) * series.tf)
        missing = max(0, latest - (head if head is not None else start - series.tf))
        if start > latest:
            return
        job.backfill = BackfillProgress.begin(int(now), missing, reason="reconnect")

        async def store(page: list[Candle]) -> None:
            await self.store(series, [c.as_row() for c in page], publish=True)
            job.closed_candles += len(page)
            job.backfill = job.backfill.advance(
                int(self.clock()), max(0, latest - page[-1].candle_time)
            )

        try:
            await self.rest.fetch_closed_range(series, max(0, start), latest, on_page=store)
        except BaseException as exc:
            job.backfill = job.backfill.fail(int(self.clock()), f"{type(exc).__name__}: {exc}")
            raise
        job.backfill = job.backfill.succeed(int(self.clock()))

    async def head_time(self, series: SeriesId) -> int | None:
        reply = await self.directory.ask(series, msg.QueryCandles(None, 1))
        return reply.head

    async def store(self, series: SeriesId, rows: list[Row], *, publish: bool = True) -> None:
        await self.directory.ask(series, msg.IngestClosed(rows, publish))

    # --- the operator's view -------------------------------------------------------------

    def snapshot(self) -> list[dict[str, Any]]:
        now, mono = self.clock(), trio.current_time()
        jobs = []
        for key in sorted(self.jobs):
            since = self.book.idle_since(key)
            idle_for = None if since is None else mono - since
            jobs.append(self.jobs[key].as_json(now, self.book.refcount(key), idle_for))
        return jobs

    def backfill_progress(self, series_id: str) -> BackfillProgress | None:
        series = SeriesId.parse(series_id)
        target = job_series_for(series, self.derived)
        job = self.jobs.get(str(target)) if target is not None else None
        return job.backfill if job is not None else None

    def may_stop(self, series: SeriesId) -> bool:
        """Series actors fed by a live job stay up (the directory asks before idling out)."""
        return self.jobs.may_stop(series)


_rng = random.Random()
# Failures of the outside world: logged as one line, retried with backoff.
_EXPECTED = (ExchangeError, CanvasError, OSError, trio.TooSlowError)


def _leaf(exc: BaseException) -> BaseException:
    while isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
        exc = exc.exceptions[0]
    return exc
