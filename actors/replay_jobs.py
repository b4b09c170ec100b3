"""The replay job runner: builds packages off the event loop, stores them, serves reads."""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable
from typing import Any

import apsw
import attrs
import trio

from actors.supervise import ONE_SHOT, supervise
from canvas.errors import CanvasError, ServiceUnavailable
from canvas.factors.base import Json
from canvas.replay import store
from canvas.replay.jobs import BUILDING, DONE, INTERRUPTED, JobRecord, evictions
from canvas.replay.plan import BuildPlan, build_from_ledger
from canvas.storage.db import series_db_path

log = logging.getLogger("canvas.replay")

# A build that runs longer than this is stopped and ends `error` ("timeout").
BUILD_TIMEOUT_S = 600.0
# Window reads in flight at once, each on a pooled read connection.
READERS = 4


@attrs.frozen
class ReplayStatistics:
    """A point-in-time view of the runner: jobs known by status, builds holding a slot
    (`running`) or waiting for one, and the most ever running at once."""

    jobs: int
    building: int
    running: int
    waiting: int
    peak_running: int
    max_concurrent: int


@attrs.define(eq=False)
class ReplayRunner:
    """Owns replay jobs and the replay database.

    `run` is the long-lived task: it opens the database, marks builds a previous process
    left unfinished as `error` (`interrupted`), applies the retention budget, then starts
    builds as they are submitted, at most `max_concurrent` at a time, each in its own
    cancel scope with a deadline. Builds read the series ledger on their own connection in a
    worker thread, so they never block the event loop, the series actor or its ingest.
    Job records live in memory and in the database (the database is written first), so
    status reads are memory reads and survive a restart.

    `build_hook(job_id)`, when set, runs in the build's worker thread inside its ledger read
    transaction. It is a test seam, not a setting.
    """

    data_dir: str
    max_concurrent: int = 2
    max_bytes: int = 1024 * 1024 * 1024
    max_age_s: float = 604_800
    clock: Callable[[], float] = time.time
    build_timeout_s: float = BUILD_TIMEOUT_S
    build_hook: Callable[[str], None] | None = None

    _records: dict[str, JobRecord] = attrs.field(init=False, factory=dict)
    _limiter: trio.CapacityLimiter = attrs.field(init=False)
    _write_lock: trio.Lock = attrs.field(init=False, factory=trio.Lock)
    _read_limiter: trio.CapacityLimiter = attrs.field(
        init=False, factory=lambda: trio.CapacityLimiter(READERS)
    )
    _idle_readers: list[apsw.Connection] = attrs.field(init=False, factory=list)
    _conn: apsw.Connection | None = attrs.field(init=False, default=None)
    _nursery: trio.Nursery | None = attrs.field(init=False, default=None)
    _running: int = attrs.field(init=False, default=0)
    _peak: int = attrs.field(init=False, default=0)

    def __attrs_post_init__(self) -> None:
        self._limiter = trio.CapacityLimiter(self.max_concurrent)

    @classmethod
    def from_settings(cls, settings: Any, clock: Callable[[], float] = time.time) -> ReplayRunner:
        """A runner configured by `DATA_DIR` and the `REPLAY_*` settings (§9)."""
        return cls(
            data_dir=settings.data_dir,
            max_concurrent=settings.replay_max_concurrent_builds,
            max_bytes=settings.replay_package_max_mb * 1024 * 1024,
            max_age_s=settings.replay_package_max_age_s,
            clock=clock,
        )

    @property
    def db_path(self):
        return store.replay_db_path(self.data_dir)

    async def run(
        self, *, task_status: trio.TaskStatus[ReplayRunner] = trio.TASK_STATUS_IGNORED
    ) -> None:
        """Serve until cancelled; `started(self)` once jobs and packages can be read."""
        try:
            self._conn = await trio.to_thread.run_sync(store.open_replay_db, self.db_path)
            records = await self._write(store.recover, self.clock())
            self._records = {r.job_id: r for r in records}
            await self._collect_garbage()
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                task_status.started(self)
                await trio.sleep_forever()
        finally:
            self._nursery = None
            with trio.CancelScope(shield=True):
                await trio.to_thread.run_sync(self._close)

    def _close(self) -> None:
        while self._idle_readers:
            self._idle_readers.pop().close()
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    # --- jobs ----------------------------------------------------------------------------

    def submit(self, plan: BuildPlan) -> Json:
        """Start building `plan` unless its package is stored or being built (§7.3); a job
        that ended in error is run again. Answers the job's status reply."""
        if self._nursery is None:
            raise ServiceUnavailable("replay_unavailable")
        record = self._records.get(plan.job_id)
        if record is not None and record.status in (BUILDING, DONE):
            return record.status_reply()
        record = JobRecord(plan.job_id, plan.spec.series_id, BUILDING, self.clock())
        self._records[plan.job_id] = record
        self._nursery.start_soon(self._contained, plan, record, name=f"replay:{plan.job_id}")
        return record.status_reply()

    def record(self, job_id: str) -> JobRecord | None:
        return self._records.get(job_id)

    def statistics(self) -> ReplayStatistics:
        building = sum(1 for r in self._records.values() if r.status == BUILDING)
        return ReplayStatistics(
            jobs=len(self._records),
            building=building,
            running=self._running,
            waiting=self._limiter.statistics().tasks_waiting,
            peak_running=self._peak,
            max_concurrent=self.max_concurrent,
        )

    async def _contained(self, plan: BuildPlan, record: JobRecord) -> None:
        """Run the job so that an error its own handling could not store (a failing replay
        database) ends only this job: in memory it is `error`, the runner keeps serving."""

        def failed(exc: Exception, _crash_loop: bool) -> None:
            log.error("replay job %s failed", plan.job_id, exc_info=exc)
            current = self._records.get(plan.job_id)
            if current is not None and current.status == BUILDING:
                error = f"internal_error: {type(exc).__name__}"
                self._records[plan.job_id] = current.failed(self.clock(), error)

        job = functools.partial(self._run_job, plan, record)
        await supervise(job, name=f"replay job {plan.job_id}", budget=ONE_SHOT, on_crash=failed)

    async def _run_job(self, plan: BuildPlan, record: JobRecord) -> None:
        try:
            with trio.move_on_after(self.build_timeout_s) as deadline:
                await self._write(store.put_job, record)
                package = await self._build(plan)
                done = record.done(
                    self.clock(), package.metadata, len(package.windows), package.size_bytes
                )
                await self._write(store.put_package, done, package.windows)
                self._records[plan.job_id] = done
            if deadline.cancelled_caught:
                await self._fail(record, "timeout")
        except trio.Cancelled:
            # The server is stopping: record the cut-off build before the task ends.
            with trio.CancelScope(shield=True):
                await self._fail(record, INTERRUPTED)
            raise
        except CanvasError as exc:
            await self._fail(record, str(exc.detail))
        except Exception as exc:
            log.exception("replay build %s failed", plan.job_id)
            await self._fail(record, f"internal_error: {type(exc).__name__}")
        await self._collect_garbage(keep=plan.job_id)

    async def _build(self, plan: BuildPlan) -> Any:
        async with self._limiter:
            self._running += 1
            self._peak = max(self._peak, self._running)
            try:
                path = series_db_path(self.data_dir, plan.spec.series_id)
                work = functools.partial(
                    build_from_ledger,
                    path,
                    plan,
                    hook=self.build_hook,
                    progress=trio.from_thread.check_cancelled,
                )
                return await trio.to_thread.run_sync(work)
            finally:
                self._running -= 1

    async def _fail(self, record: JobRecord, error: str) -> None:
        failed = record.failed(self.clock(), error)
        await self._write(store.put_job, failed)
        self._records[record.job_id] = failed

    async def _collect_garbage(self, keep: str | None = None) -> None:
        """Apply the size and age budget. Under the write lock, so a job re-submitted
        meanwhile writes its new record only after the old one is gone."""
        async with self._write_lock:
            doomed = evictions(
                self._records.values(),
                now=self.clock(),
                max_bytes=self.max_bytes,
                max_age_s=self.max_age_s,
                keep=keep,
            )
            if not doomed:
                return
            for job_id in doomed:
                del self._records[job_id]
            await trio.to_thread.run_sync(store.delete_jobs, self._conn, doomed)
        log.info("replay retention removed %d job(s)", len(doomed))

    async def _write(self, fn: Callable[..., Any], *args: Any) -> Any:
        async with self._write_lock:
            return await trio.to_thread.run_sync(fn, self._conn, *args)

    # --- reads ---------------------------------------------------------------------------

    async def read_window(
        self, job_id: str, window_index: int, *, with_snapshots: bool = True
    ) -> tuple[bytes, bytes] | None:
        """A stored window's JSON parts (see `store.read_window`); None when the package
        is not stored (never built, or removed by retention meanwhile)."""
        async with self._read_limiter:
            conn = self._idle_readers.pop() if self._idle_readers else None
            if conn is None:
                conn = await trio.to_thread.run_sync(store.open_reader, self.db_path)
            try:
                return await trio.to_thread.run_sync(
                    functools.partial(
                        store.read_window,
                        conn,
                        job_id,
                        window_index,
                        with_snapshots=with_snapshots,
                    )
                )
            finally:
                self._idle_readers.append(conn)
