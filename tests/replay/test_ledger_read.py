"""What a package reads from the ledger: the catalog base and the overlay mark of its key,
against their definitions written as plain SQL, across late corrections (rewinds)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from replay_support import SID, TF, analysed, wave_params_st, waves

from canvas.factors.base import loads
from canvas.replay import ledger_read
from canvas.replay.package import PackageSpec
from canvas.storage import candle_ledger


def reference_catalog(conn, first: int, to: int) -> list[dict]:
    """§7.5 by definition: the latest version of every instruction visible at `first`
    (grouping every version), then every version visible in (first, to]."""
    base = conn.execute(
        "SELECT MAX(version_id), instruction_id, kind, visible_time, definition"
        " FROM overlay_versions WHERE visible_time <= ? GROUP BY instruction_id",
        (first,),
    ).fetchall()
    later = conn.execute(
        "SELECT version_id, instruction_id, kind, visible_time, definition FROM overlay_versions"
        " WHERE visible_time > ? AND visible_time <= ?",
        (first, to),
    ).fetchall()
    rows = sorted(base, key=lambda r: (r[3], r[0])) + sorted(later, key=lambda r: (r[3], r[0]))
    keys = ("version_id", "instruction_id", "kind", "visible_time", "definition")
    return [dict(zip(keys, (*r[:4], loads(r[4])), strict=True)) for r in rows]


def versions_upto(conn, to: int) -> list[tuple]:
    return conn.execute(
        "SELECT version_id, instruction_id, visible_time, definition FROM overlay_versions"
        " WHERE visible_time <= ? ORDER BY version_id",
        (to,),
    ).fetchall()


def correct(conn, sa, bar, lift: float) -> None:
    """A late correction of one stored candle (its high raised), analysed as ingest does."""
    t, o, h, low, c, v = bar
    with conn:
        candle_ledger.upsert(conn, [(t, o, h + lift, low, c, v)])
    sa.after_store(t)


@settings(max_examples=40)
@given(
    bars=waves(70).filter(lambda b: len(b) >= 4),
    params=wave_params_st,
    fixes=st.lists(st.tuples(st.floats(0, 1), st.sampled_from([1.0, 3.0, 9.0])), max_size=3),
    data=st.data(),
)
def test_catalog_base_equals_its_definition(bars, params, fixes, data):
    conn, sa = analysed(bars, params)
    for where, lift in fixes:
        correct(conn, sa, bars[int(where * (len(bars) - 1))], lift)
    times = [b[0] for b in bars]
    for _ in range(4):
        first = data.draw(st.sampled_from(times))
        to = data.draw(st.sampled_from([t for t in times if t >= first]))
        spec = PackageSpec(SID, TF, to, (to - first) // TF + 1, 10, 5)
        assert spec.from_time == first
        catalog, _ = ledger_read.read_catalog(conn, spec)
        assert catalog == reference_catalog(conn, first, to)


@settings(max_examples=40)
@given(
    bars=waves(70).filter(lambda b: len(b) >= 4),
    params=wave_params_st,
    where=st.floats(0, 1),
    lift=st.sampled_from([1.0, 3.0, 9.0]),
)
def test_overlay_mark_moves_whenever_the_versions_up_to_it_change(bars, params, where, lift):
    conn, sa = analysed(bars, params)
    times = [b[0] for b in bars]
    before = {t: (versions_upto(conn, t), ledger_read.overlay_marks(conn, t)) for t in times}
    correct(conn, sa, bars[int(where * (len(bars) - 1))], lift)
    for t in times:
        rows, mark = before[t]
        if versions_upto(conn, t) != rows:
            assert ledger_read.overlay_marks(conn, t)[0] != mark[0]
        elif ledger_read.overlay_marks(conn, t)[1:] == mark[1:]:
            assert ledger_read.overlay_marks(conn, t) == mark
