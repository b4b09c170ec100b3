"""Who references which ingest job, and which on-demand job the cap evicts (CONTRACT §8).

Pure bookkeeping (no Trio, no I/O, time passed in), so the supervisor's decisions depend only
on the state §8 defines: the cap, which jobs are referenced, and since when each is idle.
"""

from __future__ import annotations

import attrs

from canvas.errors import Capacity


@attrs.define(eq=False)
class JobRefs:
    """The references to one job: per connection, the series it subscribed through the job.

    A connection counts once however many of the job's series it holds (a base and its derived
    timeframes), and stops counting only when it holds none of them.
    """

    pinned: bool
    holders: dict[int, set[str]] = attrs.Factory(dict)
    idle_since: float | None = None

    @property
    def refcount(self) -> int:
        return len(self.holders)


@attrs.frozen
class Admission:
    """What an accepted subscribe asks of the supervisor: start the job and/or evict one."""

    job: str
    start: bool
    evict: str | None = None


@attrs.define(eq=False)
class OnDemandBook:
    """The reference counts of every job, pinned or on demand.

    `max_ondemand` 0 means no cap. Every method is synchronous: one call is one atomic step of
    the event loop, so no interleaving of subscribes, closes and the reaper can see half of it.
    """

    max_ondemand: int
    jobs: dict[str, JobRefs] = attrs.Factory(dict)

    def pin(self, job: str) -> bool:
        """Mark `job` pinned (whitelisted); True when it is new and must be started."""
        refs = self.jobs.get(job)
        if refs is not None:
            refs.pinned = True
            refs.idle_since = None
            return False
        self.jobs[job] = JobRefs(pinned=True)
        return True

    def acquire(self, conn: int, series: str, job: str, now: float) -> Admission:
        """Count `conn`'s subscription to `series` (served by `job`) against the job.

        Raises Capacity when a new on-demand job is needed at the cap and none is idle.
        """
        refs = self.jobs.get(job)
        if refs is not None:
            refs.holders.setdefault(conn, set()).add(series)
            refs.idle_since = None
            return Admission(job, start=False)
        evict = self._room_for_one()
        if evict is not None:
            del self.jobs[evict]
        self.jobs[job] = JobRefs(pinned=False, holders={conn: {series}})
        return Admission(job, start=True, evict=evict)

    def release(self, conn: int, series: str, job: str, now: float) -> None:
        """Drop `conn`'s subscription to `series`; a no-op when it holds none."""
        refs = self.jobs.get(job)
        if refs is None or conn not in refs.holders:
            return
        held = refs.holders[conn]
        held.discard(series)
        if not held:
            del refs.holders[conn]
            if not refs.holders:
                refs.idle_since = now

    def release_connection(self, conn: int, now: float) -> None:
        """A closed connection releases every reference it held, at once."""
        for refs in self.jobs.values():
            if refs.holders.pop(conn, None) is not None and not refs.holders:
                refs.idle_since = now

    def expired(self, now: float, ttl: float) -> list[str]:
        """Remove and return the on-demand jobs idle for at least `ttl` seconds."""
        gone = [
            key
            for key, refs in self.jobs.items()
            if not refs.pinned and refs.idle_since is not None and now - refs.idle_since >= ttl
        ]
        for key in gone:
            del self.jobs[key]
        return sorted(gone)

    def refcount(self, job: str) -> int:
        refs = self.jobs.get(job)
        return refs.refcount if refs is not None else 0

    def idle_since(self, job: str) -> float | None:
        refs = self.jobs.get(job)
        return refs.idle_since if refs is not None else None

    def _room_for_one(self) -> str | None:
        """The job to evict so one more on-demand job fits (None: it fits already)."""
        if self.max_ondemand <= 0:
            return None
        ondemand = {k: r for k, r in self.jobs.items() if not r.pinned}
        if len(ondemand) < self.max_ondemand:
            return None
        idle = [(r.idle_since, k) for k, r in ondemand.items() if not r.holders]
        if not idle:
            raise Capacity()
        # The job idle for longest; equal times fall back to the key, so it is deterministic.
        return min(idle, key=lambda pair: (pair[0] if pair[0] is not None else 0.0, pair[1]))[1]
