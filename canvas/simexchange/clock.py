"""The simulated exchange's clock: trio time scaled by a speed factor, plus manual advances."""

from __future__ import annotations

import math

import attrs
import trio


@attrs.define(eq=False)
class SimClock:
    """Exchange time in Unix milliseconds.

    It reads `start_ms` when first read inside a trio run and from then on moves `speed` times
    as fast as the trio clock (60 → a 1m bucket closes every real second; 0 → paused, only
    `advance` moves it). Sim time never goes backwards.
    """

    start_ms: int
    speed: float = 1.0
    _anchor_sim: float = attrs.field(init=False)
    _anchor_real: float | None = attrs.field(default=None, init=False)
    _changed: trio.Event = attrs.field(factory=trio.Event, init=False)

    def __attrs_post_init__(self) -> None:
        _check_speed(self.speed)
        self._anchor_sim = float(self.start_ms)

    def now_ms(self) -> int:
        """Current exchange time in milliseconds."""
        return math.floor(self._now())

    def set_speed(self, speed: float) -> None:
        """Change the speed from now on; 0 pauses the clock."""
        _check_speed(speed)
        self._reanchor()
        self.speed = speed
        self._notify()

    def advance(self, ms: int) -> None:
        """Jump forward `ms` milliseconds at once (buckets passed over close together)."""
        if ms < 0:
            raise ValueError("the clock only moves forward")
        self._reanchor()
        self._anchor_sim += ms
        self._notify()

    async def wait_until(self, sim_ms: int) -> None:
        """Block until exchange time reaches `sim_ms` (wakes early on speed changes/advances)."""
        while True:
            now = self._now()
            if now >= sim_ms:
                return
            changed = self._changed
            if self.speed > 0:
                with trio.move_on_after((sim_ms - now) / (self.speed * 1000)):
                    await changed.wait()
            else:
                await changed.wait()

    def _now(self) -> float:
        real = trio.current_time()
        if self._anchor_real is None:
            self._anchor_real = real
        return self._anchor_sim + (real - self._anchor_real) * self.speed * 1000

    def _reanchor(self) -> None:
        self._anchor_sim = self._now()
        self._anchor_real = trio.current_time()

    def _notify(self) -> None:
        # Waiters hold the old event; wake them all and hand out a fresh one.
        self._changed.set()
        self._changed = trio.Event()


def _check_speed(speed: float) -> None:
    if not (math.isfinite(speed) and speed >= 0):
        raise ValueError(f"speed must be finite and >= 0, not {speed!r}")
