"""The candle ledger against a plain dict model (hypothesis state machine)."""

from __future__ import annotations

import tempfile
from pathlib import Path

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

    @rule(limit=st.integers(1, 70))
    def tail(self, limit):
        assert ledger.tail(self.conn, limit) == [self.model[t] for t in sorted(self.model)[-limit:]]

    @rule(after=TIMES, limit=st.integers(1, 70))
    def since(self, after, limit):
        want = [self.model[t] for t in sorted(self.model) if t > after][:limit]
        assert ledger.since(self.conn, after, limit) == want

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


TestLedger = LedgerModel.TestCase
