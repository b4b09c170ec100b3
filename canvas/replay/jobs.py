"""Replay job records, the status replies made from them, and the package retention rule."""

from __future__ import annotations

from collections.abc import Iterable

import attrs

from canvas.factors.base import Json

BUILDING = "building"
DONE = "done"
ERROR = "error"
# The error of a build that was running when the server stopped.
INTERRUPTED = "interrupted"


@attrs.frozen
class JobRecord:
    """The stored state of one replay job (`job_id` is its package's cache key).

    Times are wall-clock seconds; `size_bytes` counts the stored package.
    """

    job_id: str
    series_id: str
    status: str
    created_at: float
    finished_at: float | None = None
    error: str | None = None
    metadata: Json | None = None
    window_count: int = 0
    size_bytes: int = 0

    def status_reply(self) -> Json:
        """The §7.4 reply without `preload_window`."""
        out: Json = {"status": self.status, "job_id": self.job_id, "cache_key": self.job_id}
        if self.status == ERROR:
            out["error"] = self.error
        elif self.status == DONE:
            out["metadata"] = self.metadata
        return out

    def done(self, now: float, metadata: Json, window_count: int, size_bytes: int) -> JobRecord:
        return attrs.evolve(
            self,
            status=DONE,
            finished_at=now,
            error=None,
            metadata=metadata,
            window_count=window_count,
            size_bytes=size_bytes,
        )

    def failed(self, now: float, error: str) -> JobRecord:
        return attrs.evolve(
            self,
            status=ERROR,
            finished_at=now,
            error=error,
            metadata=None,
            window_count=0,
            size_bytes=0,
        )


def evictions(
    records: Iterable[JobRecord],
    *,
    now: float,
    max_bytes: int,
    max_age_s: float,
    keep: str | None = None,
) -> list[str]:
    """The job ids to delete so that what stays fits the budget.

    Finished jobs (done or error) older than `max_age_s` go first; then the oldest packages
    until the rest fit in `max_bytes`. A building job and `keep` (the package just built, so
    its client can read it at least once) are never chosen.
    """
    finished = [r for r in records if r.status != BUILDING and r.job_id != keep]
    finished.sort(key=lambda r: (r.finished_at or r.created_at, r.job_id))
    out: list[str] = []
    rest: list[JobRecord] = []
    for r in finished:
        if now - (r.finished_at or r.created_at) > max_age_s:
            out.append(r.job_id)
        else:
            rest.append(r)
    total = sum(r.size_bytes for r in records if r.job_id not in out)
    for r in rest:
        if total <= max_bytes:
            break
        if r.size_bytes:
            out.append(r.job_id)
            total -= r.size_bytes
    return out
