"""Whatever the write schedule, stored ledgers equal a one-shot computation (§4.1, §4.6, §5)."""

from __future__ import annotations

import pytest
from factor_support import (
    TF,
    analytics,
    bars_at,
    full_ledger,
    ledger,
    new_db,
    normalized,
    one_shot,
    params_st,
    schedules,
    series,
    stored_bars,
    wave_params_st,
    waves,
    write,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from canvas.errors import PipelineFailed
from canvas.factors.base import AnalyticsParams
from canvas.overlay import store as overlay_store
from canvas.storage import candle_ledger

batches_st = st.one_of(
    schedules(), st.lists(st.lists(bars_at, min_size=1, max_size=6), max_size=14)
)


def earliest_difference(before: dict, after: dict) -> int | None:
    times = []
    old = {(f, k): (vt, p) for f, k, vt, p in before["events"]}
    new = {(f, k): (vt, p) for f, k, vt, p in after["events"]}
    for key in old.keys() | new.keys():
        if old.get(key) != new.get(key):
            times += [v[0] for v in (old.get(key), new.get(key)) if v is not None]
    old_h = {(f, t): h for f, t, h in before["heads"]}
    new_h = {(f, t): h for f, t, h in after["heads"]}
    times += [key[1] for key in old_h.keys() | new_h.keys() if old_h.get(key) != new_h.get(key)]
    return min(times, default=None)


def assert_matches_one_shot(conn, sa, params):
    bars = stored_bars(conn)
    expected, engine = one_shot(bars, params)
    assert ledger(conn) == expected
    head = candle_ledger.head_time(conn)
    assert sa.factor_head_time == head
    assert sa.overlay_head_time == head
    if head is not None:
        assert sa.engine_state() == normalized(engine.export_state())
        deriver_state = overlay_store.state_at(conn, head, TF, params.overlay_window_candles)
        assert normalized(deriver_state) == normalized(sa._deriver.export_state())


def apply(conn, sa, batch) -> None:
    """Write one batch, run the pipeline, and check the rewind F it reports."""
    before = ledger(conn)
    old_head = sa.factor_head_time
    rewind = sa.after_store(write(conn, batch))
    first = earliest_difference(before, ledger(conn))
    expected = first if first is not None and old_head is not None and first <= old_head else None
    assert rewind == expected


@pytest.mark.slow
@settings(max_examples=120, deadline=None)
@given(batches_st, params_st, st.integers(1, 6))
def test_any_write_schedule_equals_one_shot(batches, params, every):
    check_schedule(batches, params, every)


@settings(max_examples=100, deadline=None)
@given(schedules(source=waves(40)), wave_params_st, st.integers(1, 6))
def test_any_write_schedule_equals_one_shot_on_waves(batches, params, every):
    """Wave-like prices make zhongshu form and die and the anchor switch, so their
    unbounded state is restarted from checkpoints by late fills and corrections."""
    check_schedule(batches, params, every)


def check_schedule(batches, params, every):
    conn = new_db()
    sa = analytics(conn, params, checkpoint_every=every)
    for batch in batches:
        apply(conn, sa, batch)
        assert sa.factor_head_time == candle_ledger.head_time(conn)
    assert_matches_one_shot(conn, sa, params)


@settings(max_examples=80, deadline=None)
@given(series(), params_st, st.lists(st.integers(1, 12), max_size=12), st.integers(1, 6))
def test_in_order_batches_of_any_size_equal_one_shot(bars, params, sizes, every):
    conn = new_db()
    sa = analytics(conn, params, checkpoint_every=every)
    i = 0
    for size in sizes:
        if bars[i : i + size]:
            apply(conn, sa, bars[i : i + size])
        i += size
    if bars[i:]:
        apply(conn, sa, bars[i:])
    assert_matches_one_shot(conn, sa, params)


@pytest.mark.slow
@settings(max_examples=60, deadline=None)
@given(series(), params_st, st.lists(bars_at, max_size=8), st.randoms(use_true_random=False))
def test_late_fills_and_corrections_after_a_one_by_one_stream(bars, params, late, rnd):
    check_late(bars, params, late, rnd)


@settings(max_examples=60, deadline=None)
@given(waves(45), wave_params_st, st.lists(bars_at, max_size=6), st.randoms(use_true_random=False))
def test_late_fills_and_corrections_on_waves(bars, params, late, rnd):
    check_late(bars, params, late, rnd)


def check_late(bars, params, late, rnd):
    conn = new_db()
    sa = analytics(conn, params, checkpoint_every=rnd.randint(1, 5))
    for b in bars:
        apply(conn, sa, [b])
    for b in late:
        apply(conn, sa, [b])
    # Re-posting what is stored changes nothing and reports nothing.
    stored = stored_bars(conn)
    if stored:
        assert sa.after_store(write(conn, [rnd.choice(stored)])) is None
    assert_matches_one_shot(conn, sa, params)


@pytest.mark.slow
@settings(max_examples=80, deadline=None)
@given(batches_st, params_st, st.lists(st.sampled_from([None, "factor", "overlay"]), max_size=14))
def test_failed_steps_change_nothing_and_the_next_call_completes(batches, params, faults):
    conn = new_db()
    sa = analytics(conn, params, checkpoint_every=2)
    for batch, fault in zip(batches, faults + [None] * len(batches)):
        step = {"factor": "factor.ingest_closed", "overlay": "overlay.ingest_closed"}.get(fault)

        def hook(name: str, step: str | None = step) -> None:
            if name == step:
                raise RuntimeError("injected")

        sa.fault_hook = hook
        before = full_ledger(conn)
        heads = (sa.factor_head_time, sa.overlay_head_time)
        changed = write(conn, batch)
        try:
            sa.after_store(changed)
        except PipelineFailed as exc:
            assert exc.step == step
            assert isinstance(exc.__cause__, RuntimeError)
            after = full_ledger(conn)
            if fault == "factor":
                assert after == before
                assert (sa.factor_head_time, sa.overlay_head_time) == heads
            else:
                for part in ("catalog", "presence", "ids"):
                    assert after[part] == before[part]
        sa.fault_hook = None
    sa.catch_up()
    assert_matches_one_shot(conn, sa, params)


def test_inserted_candle_moves_the_overlay_window_without_factor_changes():
    # Found by hypothesis: the pen window (a time span) is evaluated at every candle, so
    # filling the gap at 1740 makes pen.confirmed stop existing there, before the first
    # factor difference.
    params = AnalyticsParams(pivot_window_major=1, pivot_window_minor=1, overlay_window_candles=2)
    spikes = {1440: 2.0, 1560: 2.0}
    first = [flat_bar(t, spikes.get(t, 1.0)) for t in [*range(300, 1680, 60), 1800]]
    second = [flat_bar(t, 1.0) for t in [*range(1860, 2100, 60), *range(60, 300, 60), 1740]]
    conn = new_db()
    sa = analytics(conn, params, checkpoint_every=1)
    sa.after_store(write(conn, first))
    sa.after_store(write(conn, second))
    assert ("pen.confirmed", 1740, 0) in ledger(conn)["presence"]
    assert_matches_one_shot(conn, sa, params)


def flat_bar(t: int, v: float) -> tuple:
    return (t, v, v, v, v, 1.0)


def test_zero_length_pen_is_chained_before_its_successor():
    """Found by hypothesis: a bar that is both resistance and support gives a zero-length pen
    confirmed on the same candle as the next pen; with a one-candle overlay window the
    stored catalog must still equal a one-shot derivation (pens kept in chain order)."""
    flat_then = [(t, 1.0, 1.0, 1.0, 1.0, 1.0) for t in range(60, 600, 60)]
    bars = flat_then + [
        (720, 2.0, 2.0, 2.0, 2.0, 1.0),
        (900, 1.0, 3.0, 1.0, 3.0, 1.0),
        (960, 2.0, 2.0, 2.0, 2.0, 1.0),
        (1020, 1.0, 3.0, 1.0, 3.0, 1.0),
        (1080, 1.0, 1.0, 1.0, 1.0, 1.0),
        (1140, 1.0, 1.0, 1.0, 1.0, 1.0),
    ]
    params = AnalyticsParams(pivot_window_major=1, pivot_window_minor=1, overlay_window_candles=1)
    conn = new_db()
    sa = analytics(conn, params, checkpoint_every=1)
    for b in bars:
        apply(conn, sa, [b])
    assert_matches_one_shot(conn, sa, params)
