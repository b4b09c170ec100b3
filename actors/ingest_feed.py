"""An ingest job's stream follower: closed candles stored (any hole before them backfilled over
REST first), forming updates published at a throttled rate, a restarted stream backfilled."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import attrs
import trio

from actors import messages as msg
from actors.directory import Directory
from actors.stream_pool import Lease, StreamRestarted
from canvas.candles import Row
from canvas.exchange.errors import StreamStalled
from canvas.exchange.kline_parse import KlineUpdate
from canvas.series_id import SeriesId


class FedJob(Protocol):
    """What the feeder reads and counts on its job (actors.ingest_jobs.IngestJob)."""

    series: SeriesId
    last_message_at: float | None
    closed_candles: int
    forming_updates: int


class JobOwner(Protocol):
    """What the feeder needs from its supervisor (actors.ingest_jobs.IngestSupervisor)."""

    directory: Directory
    silence_timeout_s: float
    forming_interval_s: float
    clock: Callable[[], float]

    async def head_time(self, series: SeriesId) -> int | None: ...

    # `job` is the supervisor's own job (the one this feeder was given).
    async def backfill(self, job: Any) -> None: ...

    async def store(self, series: SeriesId, rows: list[Row], *, publish: bool = True) -> None: ...


@attrs.define(eq=False)
class Feeder:
    """Follows one job's lease after its first backfill; raises when the stream is lost."""

    supervisor: JobOwner
    job: FedJob
    last_forming_at: float = -1e9
    # The newest closed candle this session stored (read from the ledger after each
    # backfill), so a closed message costs no extra round trip to the actor.
    head: int | None = None

    async def follow(self, lease: Lease) -> None:
        """Apply the lease's updates in order until it fails (its error is raised).

        Raises StreamStalled when the stream is silent for the supervisor's silence timeout
        (time spent applying updates does not count).
        """
        self.head = await self.supervisor.head_time(self.job.series)
        timeout = self.supervisor.silence_timeout_s
        while True:
            item: KlineUpdate | StreamRestarted | None = None
            with trio.move_on_after(timeout):
                item = await lease.receive()
            if item is None:
                raise StreamStalled(timeout)
            if isinstance(item, StreamRestarted) or lease.take_lost_closed():
                # A new connection (renewal), or closed updates dropped while we were behind:
                # whatever closed meanwhile comes over REST.
                await self._backfill()
                if isinstance(item, StreamRestarted):
                    continue
            self.job.last_message_at = self.supervisor.clock()
            await self._apply(item)

    async def _backfill(self) -> None:
        await self.supervisor.backfill(self.job)
        self.head = await self.supervisor.head_time(self.job.series)

    async def _apply(self, update: KlineUpdate) -> None:
        series = self.job.series
        candle = update.candle
        if update.closed:
            if self.head is not None and candle.candle_time > self.head + series.tf:
                # The stream skipped buckets (a reconnect race, a lost message): fill over REST.
                await self.supervisor.backfill(self.job)
            await self.supervisor.store(series, [candle.as_row()])
            self.job.closed_candles += 1
            if self.head is None or candle.candle_time > self.head:
                self.head = candle.candle_time
            return
        if self.head is not None and candle.candle_time <= self.head:
            return  # an update for a bucket already closed (queued during a backfill)
        now = trio.current_time()
        if now - self.last_forming_at < self.supervisor.forming_interval_s:
            return
        handle = self.supervisor.directory.handles.get(str(series))
        if handle is None or not handle.subscribers:
            return  # forming updates are only ever pushed; nobody is listening
        self.last_forming_at = now
        self.job.forming_updates += 1
        await self.supervisor.directory.ask(series, msg.IngestForming(candle.as_row()))
