"""The sim clock: speed factor, pause, manual advance, waiting on exchange time."""

import pytest
import trio
import trio.testing

from canvas.simexchange.clock import SimClock


@pytest.fixture
def autojump_clock():
    return trio.testing.MockClock(autojump_threshold=0)


async def test_runs_at_speed_and_pauses(autojump_clock):
    clock = SimClock(1_000_000, speed=60)
    assert clock.now_ms() == 1_000_000
    await trio.sleep(1)
    assert clock.now_ms() == 1_060_000
    clock.set_speed(0)
    await trio.sleep(5)
    assert clock.now_ms() == 1_060_000
    clock.advance(500)
    assert clock.now_ms() == 1_060_500
    with pytest.raises(ValueError):
        clock.advance(-1)
    with pytest.raises(ValueError):
        clock.set_speed(float("nan"))


async def test_wait_until_follows_speed(autojump_clock):
    clock = SimClock(0, speed=10)
    clock.now_ms()
    start = trio.current_time()
    await clock.wait_until(60_000)
    assert trio.current_time() - start == pytest.approx(6)
    assert clock.now_ms() >= 60_000


async def test_paused_wait_wakes_on_advance(autojump_clock):
    clock = SimClock(0, speed=0)
    woke = trio.Event()

    async def waiter():
        await clock.wait_until(120_000)
        woke.set()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(waiter)
        await trio.sleep(100)
        clock.advance(60_000)
        await trio.sleep(1)
        assert not woke.is_set()
        clock.advance(60_000)
        await woke.wait()
