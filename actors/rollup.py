"""The roll-up service: keeps derived-timeframe series in step with their 1m base (§1.5).

Base series actors report stored minutes to a `RollupQueue` (built before the directory, as
the actors' `on_stored` hook); the `RollupService` (built after it) drains the queue.
"""

from __future__ import annotations

import logging
from pathlib import Path

import attrs
import trio

from actors import messages as msg
from actors.supervise import supervise
from actors.directory import Directory
from actors.series_ledger import read_rollup
from canvas.candles import Row
from canvas.errors import CanvasError
from canvas.rollup import buckets_touched
from canvas.series_id import SeriesId
from canvas.storage.db import series_id_from_path

log = logging.getLogger("canvas.rollup")


@attrs.define(eq=False)
class RollupQueue:
    """The derived buckets that stored base minutes touched, coalesced per (base, timeframe).

    `notify` is called by base series actors on the event loop and never blocks.
    """

    derived: tuple[str, ...]
    _pending: dict[tuple[str, str], set[int]] = attrs.Factory(dict)
    _wake: trio.Event = attrs.Factory(trio.Event)

    def notify(self, base: SeriesId, rows: list[Row]) -> None:
        if base.timeframe != "1m" or not self.derived:
            return
        times = [r[0] for r in rows]
        for timeframe in self.derived:
            tf = base.with_timeframe(timeframe).tf
            self._pending.setdefault((str(base), timeframe), set()).update(
                buckets_touched(times, tf)
            )
        self._wake.set()

    async def take(self) -> dict[tuple[str, str], set[int]]:
        """Wait for touched buckets and take them all."""
        await self._wake.wait()
        self._wake = trio.Event()
        pending, self._pending = self._pending, {}
        return pending


@attrs.define(eq=False)
class RollupService:
    """Takes the buckets the queue collected and upserts the derived candles they complete."""

    queue: RollupQueue
    directory: Directory
    data_dir: str
    # Derived series known to exist; filled from the data directory at start and from live
    # actors as they appear, so the hot path never touches the file system.
    _known: set[str] = attrs.Factory(set)

    async def run(self, *, task_status: trio.TaskStatus[RollupService] = trio.TASK_STATUS_IGNORED):
        self._known = await trio.to_thread.run_sync(self._scan_ledgers)
        task_status.started(self)
        # A failed update must not stop the server: the worker restarts (the buckets it had
        # taken are lost until the next update of the same buckets or a rebuild).
        await supervise(self._work, name="roll-up worker")

    async def _work(self) -> None:
        while True:
            pending = await self.queue.take()
            for (base_id, timeframe), buckets in sorted(pending.items()):
                await self._update(SeriesId.parse(base_id), timeframe, buckets)

    def _scan_ledgers(self) -> set[str]:
        folder = Path(self.data_dir) / "series"
        if not folder.is_dir():
            return set()
        return {series_id_from_path(p) for p in folder.glob("*.sqlite")}

    def _exists(self, series: SeriesId) -> bool:
        """A derived series exists once something asked for it (a live actor or a ledger)."""
        key = str(series)
        if key in self._known:
            return True
        if key in self.directory.handles:
            self._known.add(key)
            return True
        return False

    async def _update(self, base: SeriesId, timeframe: str, buckets: set[int]) -> None:
        derived = base.with_timeframe(timeframe)
        if not buckets or not self._exists(derived):
            return
        rows: list[Row] = []
        for lo, hi in _runs(sorted(buckets), derived.tf):
            got = await trio.to_thread.run_sync(
                read_rollup, self.data_dir, base, derived.tf, lo, hi
            )
            rows.extend(r for r in got if r[0] in buckets)
        if not rows:
            return
        try:
            await self.directory.ask(derived, msg.IngestClosed(rows))
        except CanvasError as exc:
            # The derived series failed its pipeline; its candles are stored and the next
            # update or a rebuild completes the work. Keep serving the other series.
            log.warning("roll-up into %s: %s", derived, exc.detail)


def _runs(buckets: list[int], tf: int) -> list[tuple[int, int]]:
    """Consecutive buckets grouped into [lo, hi) ranges, so far-apart ones read separately."""
    runs: list[tuple[int, int]] = []
    for b in buckets:
        if runs and runs[-1][1] == b:
            runs[-1] = (runs[-1][0], b + tf)
        else:
            runs.append((b, b + tf))
    return runs
