"""Coverage jobs (§7.2): backfill a replay range from the exchange, then count what is stored."""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from functools import partial
from typing import Any

import attrs
import trio

from actors import messages as msg
from actors.directory import Directory
from actors.supervise import ONE_SHOT, supervise
from canvas.errors import CanvasError
from canvas.exchange.binance import KLINE_INTERVALS
from canvas.exchange.errors import ExchangeError
from canvas.exchange.rest import BinanceRest
from canvas.series_id import SeriesId, expected_latest_closed_time

log = logging.getLogger("canvas.coverage")

KEEP_FINISHED = 1000


@attrs.define(eq=False)
class CoverageJob:
    job_id: str
    series: SeriesId
    to_time: int
    target: int
    status: str = "building"
    candles_ready: int = 0
    head_time: int | None = None
    error: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "job_id": self.job_id,
            "candles_ready": self.candles_ready,
            "required_candles": self.target,
            "head_time": self.head_time,
            "error": self.error,
        }


@attrs.define(eq=False)
class CoverageService:
    """Runs coverage jobs in its own nursery; keeps their states (bounded) for status reads."""

    directory: Directory
    rest: Callable[[], BinanceRest | None]
    ingest_enabled: bool
    clock: Callable[[], float] = time.time
    jobs: OrderedDict[str, CoverageJob] = attrs.Factory(OrderedDict)
    _nursery: trio.Nursery | None = None

    async def run(
        self, *, task_status: trio.TaskStatus[CoverageService] = trio.TASK_STATUS_IGNORED
    ):
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            task_status.started(self)
            await trio.sleep_forever()

    async def ensure(self, series: SeriesId, target: int, to_time: int | None) -> dict[str, Any]:
        """Start (or report) the job for this range; returns the reply body of §7.2."""
        tf = series.tf
        latest = expected_latest_closed_time(int(self.clock()), tf)
        if to_time is None:
            head = (await self.directory.ask(series, msg.QueryCandles(None, 1))).head
            to_time = head if head is not None else latest
        else:
            to_time = min(to_time - to_time % tf, latest)
        job_id = f"coverage_{series}:{to_time}:{target}"
        job = self.jobs.get(job_id)
        if job is not None and job.status != "error":
            return {"status": job.status, "job_id": job_id}
        job = CoverageJob(job_id, series, to_time, target)
        await self._count(job)
        if job.candles_ready >= target:
            job.status = "done"
        else:
            assert self._nursery is not None
            self._nursery.start_soon(self._contained, job)
        self._remember(job)
        return {"status": job.status, "job_id": job_id}

    def status(self, job_id: str) -> CoverageJob | None:
        return self.jobs.get(job_id)

    def _remember(self, job: CoverageJob) -> None:
        self.jobs[job.job_id] = job
        self.jobs.move_to_end(job.job_id)
        while len(self.jobs) > KEEP_FINISHED:
            oldest = next(iter(self.jobs.values()))
            if oldest.status == "building":
                break
            self.jobs.popitem(last=False)

    async def _count(self, job: CoverageJob) -> None:
        lo = job.to_time - (job.target - 1) * job.series.tf
        ready, head = await self.directory.ask(job.series, msg.CountCandles(lo, job.to_time))
        job.candles_ready, job.head_time = ready, head

    async def _contained(self, job: CoverageJob) -> None:
        """Run the job so that an unexpected error ends only this job (status `error`)."""

        def failed(exc: Exception, _crash_loop: bool) -> None:
            log.error("coverage job %s failed", job.job_id, exc_info=exc)
            job.status = "error"
            job.error = f"internal_error: {type(exc).__name__}"

        job_run = partial(self._run_job, job)
        await supervise(job_run, name=job.job_id, budget=ONE_SHOT, on_crash=failed)

    async def _run_job(self, job: CoverageJob) -> None:
        reason = await self._fetch(job)
        await self._count(job)
        if job.candles_ready >= job.target:
            job.status = "done"
        else:
            job.status = "error"
            job.error = "coverage_missing" + (f": {reason}" if reason else "")

    async def _fetch(self, job: CoverageJob) -> str | None:
        """Backfill the range over REST; returns why it could not, or None."""
        series = job.series
        rest = self.rest()
        if not self.ingest_enabled:
            return "ingest_disabled"
        if rest is None or series.exchange != "binance" or series.timeframe not in KLINE_INTERVALS:
            return "no_exchange_source"
        start = max(0, job.to_time - job.target * series.tf)

        async def store(page: list[Any]) -> None:
            await self.directory.ask(series, msg.IngestClosed([c.as_row() for c in page]))

        try:
            await rest.fetch_closed_range(series, start, job.to_time, on_page=store)
        except ExchangeError as exc:
            return f"{type(exc).__name__}: {exc}"
        except CanvasError as exc:
            return str(exc.detail)
        return None
