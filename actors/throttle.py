"""A sliding-window rate limit: at most N events in any window of W seconds (Trio time)."""

from __future__ import annotations

from collections import deque

import attrs
import trio


@attrs.define(eq=False)
class SlidingWindow:
    """Admits at most `limit` events in any `window_s` seconds.

    Used for exchange limits that close a connection or ban an IP when exceeded (control
    messages per connection, new connections per market), so it never admits early.
    """

    limit: int
    window_s: float
    _times: deque[float] = attrs.Factory(deque)
    _lock: trio.Lock = attrs.Factory(trio.Lock)

    def delay(self, now: float) -> float:
        """Seconds until one more event may happen (0 when it may happen now)."""
        while self._times and now - self._times[0] >= self.window_s:
            self._times.popleft()
        if len(self._times) < self.limit:
            return 0.0
        return self._times[0] + self.window_s - now

    async def acquire(self) -> None:
        """Block until one more event fits, then count it. Waiters are served in turn."""
        async with self._lock:
            while (wait := self.delay(trio.current_time())) > 0:
                await trio.sleep(wait)
            self._times.append(trio.current_time())

    def statistics(self) -> int:
        """Events counted in the current window."""
        self.delay(trio.current_time())
        return len(self._times)
