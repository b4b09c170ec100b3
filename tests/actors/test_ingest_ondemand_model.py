"""The on-demand job book against a small model of CONTRACT §8's rules, step by step."""

from __future__ import annotations

import pytest
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from actors.ondemand import OnDemandBook
from canvas.errors import Capacity

CAP = 2
TTL = 60.0
PINNED = "P"
# series → the job serving it (a derived timeframe is served by its 1m base's job).
SERVED_BY = {
    "X1": "X",
    "X5": "X",
    "Y1": "Y",
    "Z1": "Z",
    "Z15": "Z",
    "W1": "W",
    "P1": PINNED,
    "P5": PINNED,
}
CONNS = st.integers(min_value=1, max_value=4)
SERIES = st.sampled_from(sorted(SERVED_BY))


class OnDemandRules(RuleBasedStateMachine):
    """Model: the set of (connection, series) subscriptions and, per on-demand job, when it
    last became unreferenced. Everything else (eviction, capacity, reaping) follows from it."""

    def __init__(self) -> None:
        super().__init__()
        self.book = OnDemandBook(CAP)
        assert self.book.pin(PINNED)
        self.now = 0.0
        self.subs: set[tuple[int, str]] = set()
        self.ondemand: dict[str, float | None] = {}  # job → idle since (None: referenced)

    def _referenced(self, job: str) -> bool:
        return any(SERVED_BY[s] == job for _, s in self.subs)

    def _settle_idle(self) -> None:
        for job, since in self.ondemand.items():
            if since is None and not self._referenced(job):
                self.ondemand[job] = self.now

    @rule(conn=CONNS, series=SERIES)
    def subscribe(self, conn: int, series: str) -> None:
        if (conn, series) in self.subs:
            return  # a repeated subscribe on one connection never counts twice (§3.1)
        job = SERVED_BY[series]
        expect_evict = None
        refused = False
        if job != PINNED and job not in self.ondemand and len(self.ondemand) >= CAP:
            idle = [(since, k) for k, since in self.ondemand.items() if since is not None]
            if idle:
                expect_evict = min(idle)[1]
            else:
                refused = True
        if refused:
            with pytest.raises(Capacity):
                self.book.acquire(conn, series, job, self.now)
            return
        admitted = self.book.acquire(conn, series, job, self.now)
        assert admitted.evict == expect_evict
        assert admitted.start == (job != PINNED and job not in self.ondemand)
        if expect_evict is not None:
            del self.ondemand[expect_evict]
        if job != PINNED:
            self.ondemand[job] = None
        self.subs.add((conn, series))

    @precondition(lambda self: self.subs)
    @rule(data=st.data())
    def unsubscribe(self, data: st.DataObject) -> None:
        conn, series = data.draw(st.sampled_from(sorted(self.subs)))
        self.book.release(conn, series, SERVED_BY[series], self.now)
        self.subs.discard((conn, series))
        self._settle_idle()

    @rule(conn=CONNS, series=SERIES)
    def unsubscribe_unknown(self, conn: int, series: str) -> None:
        """Releasing what a connection does not hold changes nothing."""
        if (conn, series) not in self.subs:
            self.book.release(conn, series, SERVED_BY[series], self.now)

    @rule(conn=CONNS)
    def disconnect(self, conn: int) -> None:
        self.book.release_connection(conn, self.now)
        self.subs = {(c, s) for c, s in self.subs if c != conn}
        self._settle_idle()

    @rule(seconds=st.sampled_from([0.5, 10.0, TTL / 2, TTL]))
    def time_passes(self, seconds: float) -> None:
        self.now += seconds

    @rule()
    def reap(self) -> None:
        want = sorted(
            job
            for job, since in self.ondemand.items()
            if since is not None and self.now - since >= TTL
        )
        assert self.book.expired(self.now, TTL) == want
        for job in want:
            del self.ondemand[job]

    @invariant()
    def same_jobs_and_counts(self) -> None:
        assert set(self.book.jobs) == set(self.ondemand) | {PINNED}
        for job in self.book.jobs:
            holders = {c for c, s in self.subs if SERVED_BY[s] == job}
            assert self.book.refcount(job) == len(holders)
            if job != PINNED:
                assert self.book.idle_since(job) == self.ondemand[job]
        assert len(self.ondemand) <= CAP
        assert self.book.jobs[PINNED].pinned


TestOnDemandRules = pytest.mark.slow(OnDemandRules.TestCase)
