"""supervise(): backoff, reset, crash budget and error paths, on Trio's MockClock."""

from __future__ import annotations

import math
import random

import attrs
import pytest
import trio
import trio.testing

from actors.restart import RestartPolicy
from actors.supervise import ONE_SHOT, CrashBudget, supervise

STEADY = RestartPolicy(initial_s=1.0, factor=2.0, cap_s=8.0, jitter=0.0, reset_after_s=60.0)


@attrs.define
class FakeTask:
    """Fails at the given run times (seconds after each start); records what supervise did."""

    lifetimes: list[float | None]  # per incarnation: fail after this long, None = return
    starts: list[float] = attrs.Factory(list)
    crashes: list[tuple[str, bool]] = attrs.Factory(list)
    delays: list[float] = attrs.Factory(list)
    restarts: int = 0

    async def body(self) -> None:
        self.starts.append(trio.current_time())
        lifetime = self.lifetimes[len(self.starts) - 1]
        if lifetime is None:
            return
        await trio.sleep(lifetime)
        raise RuntimeError(f"crash {len(self.starts)}")

    def crashed(self, exc: Exception, crash_loop: bool) -> None:
        self.crashes.append((str(exc), crash_loop))

    def restart(self) -> None:
        self.restarts += 1

    async def run(self, **kwargs) -> None:
        await supervise(
            self.body,
            name="fake",
            on_crash=self.crashed,
            on_backoff=self.delays.append,
            on_restart=self.restart,
            **kwargs,
        )


async def test_backoff_doubles_to_the_cap(autojump_clock):
    task = FakeTask([0.0] * 6 + [None])
    await task.run(policy=STEADY)
    assert task.delays == [1.0, 2.0, 4.0, 8.0, 8.0, 8.0]
    gaps = [b - a for a, b in zip(task.starts, task.starts[1:], strict=False)]
    assert gaps == pytest.approx(task.delays)
    assert task.restarts == 6 and len(task.crashes) == 6
    assert not any(loop for _, loop in task.crashes)  # no budget: never a crash loop


async def test_a_long_run_resets_the_backoff(autojump_clock):
    task = FakeTask([0.0, 0.0, 61.0, 0.0, None])
    await task.run(policy=STEADY)
    assert task.delays == [1.0, 2.0, 1.0, 2.0]


async def test_jitter_stays_within_its_band(autojump_clock):
    policy = RestartPolicy(initial_s=1.0, factor=2.0, cap_s=30.0, jitter=0.2)
    task = FakeTask([0.0] * 8 + [None])
    await task.run(policy=policy, rng=random.Random(7))
    for n, delay in enumerate(task.delays, start=1):
        base = min(30.0, 2.0 ** (n - 1))
        assert base * 0.8 <= delay <= min(30.0, base * 1.2)
    assert len(set(task.delays[:5])) == 5  # jittered, not the bare doubling


async def test_budget_gives_up_after_a_crash_loop(autojump_clock):
    task = FakeTask([0.0] * 10)
    await task.run(policy=STEADY, budget=CrashBudget(3))
    assert [loop for _, loop in task.crashes] == [False, False, True]
    assert len(task.starts) == 3 and task.delays == [1.0, 2.0]


async def test_budget_without_giving_up_reports_and_keeps_restarting(autojump_clock):
    task = FakeTask([0.0] * 5 + [None])
    await task.run(policy=STEADY, budget=CrashBudget(3, give_up=False))
    assert [loop for _, loop in task.crashes] == [False, False, True, True, True]
    assert len(task.starts) == 6


async def test_one_shot_is_never_restarted(autojump_clock):
    task = FakeTask([0.5, None])
    await task.run(policy=STEADY, budget=ONE_SHOT)
    assert task.crashes == [("crash 1", True)] and len(task.starts) == 1
    assert task.delays == [] and task.restarts == 0


async def test_on_crash_may_end_supervision_with_the_error(autojump_clock):
    def refuse(exc: Exception, _loop: bool) -> None:
        raise exc

    task = FakeTask([0.0, None])
    with pytest.raises(RuntimeError, match="crash 1"):
        await supervise(task.body, name="fake", policy=STEADY, on_crash=refuse)
    assert len(task.starts) == 1


async def test_cancellation_is_not_a_crash(autojump_clock):
    task = FakeTask([math.inf])
    with trio.move_on_after(5) as scope:
        await task.run(policy=STEADY)
    assert scope.cancelled_caught and task.crashes == [] and task.restarts == 0
