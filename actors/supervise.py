"""One supervision helper: run a task, restart it with backoff when it fails, within a budget.

Every long-lived task of the process runs under `supervise` (series actors, ingest jobs, the
roll-up worker, the HTTP server) or under it with a budget of one crash (one-shot jobs:
coverage, replay builds), so an error inside one service never reaches the root nursery.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Awaitable, Callable

import attrs
import trio

from actors.restart import JOB_POLICY, RestartPolicy

log = logging.getLogger("canvas.supervise")


@attrs.frozen
class CrashBudget:
    """How many consecutive crashes make a crash loop, and what a crash loop does.

    Crashes count as consecutive while each incarnation ran less than the policy's
    `reset_after_s`. With `give_up` the task is not restarted once the budget is spent;
    without it the task keeps restarting at the capped delay and each crash is only
    reported as part of a loop (the caller decides what that means, e.g. answer the queue).
    """

    crashes: int
    give_up: bool = True


# A one-shot job: its first failure ends it (reported through `on_crash`), never restarted.
ONE_SHOT = CrashBudget(1)


def _log_crash(name: str) -> Callable[[Exception, bool], None]:
    def report(error: Exception, crash_loop: bool) -> None:
        log.error("%s failed", name, exc_info=error)

    return report


def _nothing(*_args: object) -> None:
    return None


async def supervise(
    body: Callable[[], Awaitable[object]],
    *,
    name: str,
    policy: RestartPolicy = JOB_POLICY,
    budget: CrashBudget | None = None,
    on_crash: Callable[[Exception, bool], None] | None = None,
    on_backoff: Callable[[float], None] = _nothing,
    on_restart: Callable[[], None] = _nothing,
    rng: random.Random | None = None,
) -> None:
    """Await `body()` until it returns; after each Exception, wait and call it again.

    `on_crash(error, crash_loop)` records the failure (state, counters, logging; by default a
    logged traceback). It may raise to end supervision with an error, e.g. a failure before
    the first start that the caller must see. `on_backoff(delay)` runs before the wait and
    `on_restart()` after it. Cancellation (a BaseException) is never caught.
    """
    report = on_crash if on_crash is not None else _log_crash(name)
    attempt = 0
    while True:
        began = trio.current_time()
        try:
            await body()
            return
        except Exception as exc:  # noqa: BLE001 - reported through on_crash, not lost
            if trio.current_time() - began > policy.reset_after_s:
                attempt = 0
            attempt += 1
            crash_loop = budget is not None and attempt >= budget.crashes
            report(exc, crash_loop)
            if crash_loop and budget is not None and budget.give_up:
                if budget.crashes > 1:
                    log.error("%s: %d crashes in a row; not restarting it", name, attempt)
                return
        delay = policy.delay(attempt, rng)
        on_backoff(delay)
        await trio.sleep(delay)
        on_restart()
