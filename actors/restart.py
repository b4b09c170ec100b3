"""Restart policy: exponential backoff with jitter for supervised tasks."""

from __future__ import annotations

import random

import attrs


@attrs.frozen
class RestartPolicy:
    """Delay before restart attempt n (1-based): initial·factor^(n-1), capped, with jitter.

    Jitter spreads restarts of many jobs that failed together (one exchange outage) so they do
    not reconnect in lockstep. A task that ran `reset_after_s` without failing starts over at 1.
    """

    initial_s: float = 1.0
    factor: float = 2.0
    cap_s: float = 30.0
    jitter: float = 0.2
    reset_after_s: float = 60.0

    def delay(self, attempt: int, rng: random.Random | None = None) -> float:
        base = min(self.cap_s, self.initial_s * self.factor ** max(0, attempt - 1))
        if self.jitter <= 0:
            return base
        r = (rng or random).uniform(-self.jitter, self.jitter)
        return max(0.0, min(self.cap_s, base * (1.0 + r)))


ACTOR_POLICY = RestartPolicy(initial_s=0.1, factor=2.0, cap_s=5.0, jitter=0.1, reset_after_s=30.0)
JOB_POLICY = RestartPolicy(initial_s=1.0, factor=2.0, cap_s=30.0, jitter=0.2, reset_after_s=60.0)
