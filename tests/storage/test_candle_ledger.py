"""The candle ledger against a plain dict model (hypothesis state machine)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from canvas.storage import candle_ledger as ledger
from canvas.storage.db import open_db

TIMES = st.integers(0, 60).map(lambda k: k * 60)
PRICES = st.floats(1, 100, allow_nan=False)


class LedgerModel(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        self.dir = tempfile.TemporaryDirectory()
        self.conn = open_db(Path(self.dir.name) / "s.sqlite")
        self.model: dict[int, tuple] = {}

    def teardown(self):
        self.conn.close()
        self.dir.cleanup()

    @rule(batch=st.lists(st.tuples(TIMES, PRICES), min_size=1, max_size=20))
    def upsert(self, batch):
        rows = [(t, p, p, p, p, 1.0) for t, p in batch]
        with self.conn:
            ledger.upsert(self.conn, rows)
        for r in rows:
            self.model[r[0]] = r

    @rule(
        since=st.one_of(st.none(), TIMES),
        before=st.one_of(st.none(), st.integers(0, 3700)),
        limit=st.integers(1, 70),
    )
    def page(self, since, before, limit):
        keys = [
            t
            for t in sorted(self.model)
            if (since is None or t > since) and (before is None or t < before)
        ]
        keys = keys[-limit:] if since is None else keys[:limit]
        assert ledger.page(self.conn, since, before, limit) == [self.model[t] for t in keys]

    @rule(after=st.one_of(st.none(), TIMES), limit=st.integers(1, 70))
    def newest_after(self, after, limit):
        keys = [t for t in sorted(self.model) if after is None or t > after]
        assert ledger.newest_after(self.conn, after, limit) == [
            self.model[t] for t in keys[-limit:]
        ]

    @rule(t=st.integers(-10, 4000))
    def floor(self, t):
        below = [k for k in self.model if k <= t]
        assert ledger.floor_time(self.conn, t) == (max(below) if below else None)

    @rule(lo=TIMES, hi=TIMES)
    def ranges(self, lo, hi):
        keys = [k for k in sorted(self.model) if lo <= k <= hi]
        assert ledger.range_rows(self.conn, lo, hi) == [self.model[k] for k in keys]
        assert ledger.count(self.conn, lo, hi) == len(keys)

    @rule(times=st.lists(TIMES, max_size=10))
    def get_many(self, times):
        assert ledger.get_many(self.conn, times) == {
            t: self.model[t] for t in times if t in self.model
        }

    @invariant()
    def heads(self):
        assert ledger.head_time(self.conn) == (max(self.model) if self.model else None)
        assert ledger.first_time(self.conn) == (min(self.model) if self.model else None)
        assert ledger.count(self.conn) == len(self.model)


TestLedger = pytest.mark.slow(LedgerModel.TestCase)


def test_page_vectors(tmp_path):
    """§2.1's vectors, `before` (rev 4) included."""
    conn = open_db(tmp_path / "s.sqlite")
    try:
        with conn:
            ledger.upsert(conn, [(t, 1.0, 1.0, 1.0, 1.0, 1.0) for t in (120, 180, 240, 300)])

        def times(since, before, limit):
            return [r[0] for r in ledger.page(conn, since, before, limit)]

        assert times(None, None, 2) == [240, 300]
        assert times(180, None, 500) == [240, 300]
        assert times(None, 300, 2) == [180, 240]
        assert times(120, 300, 500) == [180, 240]
        assert times(120, 300, 1) == [180]
        assert times(None, 120, 10) == []
        assert times(None, 0, 10) == []
    finally:
        conn.close()


def test_page_reads_use_the_key(tmp_path):
    """Both page shapes are range scans of the primary key, never a full-table sort."""
    conn = open_db(tmp_path / "s.sqlite")
    try:
        for sql, args in ((ledger.PAGE_NEWEST, (9, 5)), (ledger.PAGE_AFTER, (1, 9, 5))):
            plan = " ".join(str(r[-1]) for r in conn.execute("EXPLAIN QUERY PLAN " + sql, args))
            assert "USING PRIMARY KEY" in plan and "TEMP B-TREE" not in plan, plan
    finally:
        conn.close()
