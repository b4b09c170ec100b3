"""FirstStart: the first start of a restarting task is reported once; restarts are silent."""

from __future__ import annotations

import pytest
import trio

from actors.startup import FirstStart
from canvas.errors import ServiceUnavailable


async def _restarting(relay: FirstStart[int], starts: list[int]) -> None:
    for value in starts:  # each iteration is one incarnation of the task
        relay.started(value)
        await trio.lowlevel.checkpoint()


async def test_first_start_reaches_the_outer_status_and_waiters_once(nursery):
    outer_seen: list[int] = []

    async def task(*, task_status=trio.TASK_STATUS_IGNORED):
        relay: FirstStart[int] = FirstStart(task_status)
        waiter = trio.Event()

        async def wait_for_start():
            assert await relay.wait() == 7
            waiter.set()

        nursery.start_soon(wait_for_start)
        await _restarting(relay, [7, 8, 9])
        await waiter.wait()
        assert relay.fired and relay.value == 7

    outer_seen.append(await nursery.start(task))
    assert outer_seen == [7]


async def test_failure_before_the_first_start_reaches_waiters():
    relay: FirstStart[int] = FirstStart()
    relay.fail(ServiceUnavailable("series_unavailable"))
    relay.started(1)  # too late: the outcome is settled
    assert not relay.fired and relay.value is None
    with pytest.raises(ServiceUnavailable):
        await relay.wait()


async def test_failure_after_the_first_start_changes_nothing():
    relay: FirstStart[str] = FirstStart()
    relay.started("up")
    relay.fail(ServiceUnavailable("series_stopped"))
    assert await relay.wait() == "up"
