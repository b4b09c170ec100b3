"""The outbox: all-or-nothing offers within capacity, in order, and the lagging hand-off."""

from __future__ import annotations

import pytest
import trio
import trio.testing
from hypothesis import given
from hypothesis import strategies as st

from actors.outbox import Outbox


def drain(outbox: Outbox) -> list[str]:
    out = []
    while True:
        try:
            out.append(outbox.receive_nowait())
        except trio.WouldBlock:
            return out


# Each step: offer a unit of n frames (n > 0) or take up to -n frames off (n <= 0).
steps = st.lists(st.integers(-5, 5), max_size=40)


@given(st.integers(1, 8), steps)
def test_offers_are_all_or_nothing_and_keep_their_order(capacity, plan):
    outbox = Outbox(capacity)
    accepted: list[str] = []
    written: list[str] = []
    serial = 0
    for n in plan:
        if n > 0:
            unit = [f"f{serial + i}" for i in range(n)]
            serial += n
            fits = outbox.free() >= n
            assert outbox.offer_all(unit) is fits
            if fits:
                accepted.extend(unit)
        else:
            for _ in range(min(-n, outbox.pending())):
                written.append(outbox.receive_nowait())
        assert 0 <= outbox.pending() <= capacity
        assert outbox.free() == capacity - outbox.pending()
    written.extend(drain(outbox))
    assert written == accepted


def test_a_closed_outbox_takes_nothing():
    outbox = Outbox(4)
    assert outbox.offer("a")
    outbox.close()
    assert outbox.closed
    assert not outbox.offer("b") and not outbox.offer_all([])
    assert outbox.receive_nowait() == "a"  # what was queued can still be written out


def test_connection_ids_are_unique():
    assert len({Outbox(1).conn_id for _ in range(50)}) == 50


async def test_lagging_series_are_handed_over_once():
    outbox = Outbox(2)
    async with trio.open_nursery() as nursery:
        woke = trio.Event()

        async def writer():
            await outbox.wait_lagging()
            woke.set()

        nursery.start_soon(writer)
        await trio.testing.wait_all_tasks_blocked()
        assert not woke.is_set()
        outbox.mark_lagging("A")
        outbox.mark_lagging("B")
        outbox.mark_lagging("A")
        await woke.wait()
    assert outbox.take_lagging() == {"A", "B"}
    assert outbox.take_lagging() == set()
    with trio.move_on_after(0) as scope:  # taken: the next wait blocks until a new mark
        await outbox.wait_lagging()
    assert scope.cancelled_caught


async def test_receive_waits_for_a_frame():
    outbox = Outbox(1)
    async with trio.open_nursery() as nursery:
        got = []

        async def reader():
            got.append(await outbox.receive())

        nursery.start_soon(reader)
        await trio.testing.wait_all_tasks_blocked()
        assert got == []
        assert outbox.offer("x")
    assert got == ["x"]
    with pytest.raises(trio.WouldBlock):
        outbox.receive_nowait()
