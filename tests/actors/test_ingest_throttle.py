"""The sliding-window limit behind the exchange's control-message and connection limits."""

from __future__ import annotations

import trio
import trio.testing

from actors.throttle import SlidingWindow


async def test_never_more_than_limit_in_any_window(autojump_clock: trio.testing.MockClock):
    window = SlidingWindow(5, 1.0)
    times: list[float] = []

    async def one() -> None:
        await window.acquire()
        times.append(trio.current_time())

    start = trio.current_time()
    async with trio.open_nursery() as nursery:
        for _ in range(12):
            nursery.start_soon(one)
    times = [t - start for t in sorted(times)]
    assert times[:5] == [0.0] * 5  # a burst up to the limit goes at once
    assert all(b - a >= 1.0 for a, b in zip(times, times[5:], strict=False))
    assert times[-1] == 2.0  # and no later than needed
