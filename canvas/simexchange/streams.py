"""Simulated kline streams: forming updates through each bucket, one final message at its close."""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from typing import Any

import attrs
import trio

from canvas.simexchange.clock import SimClock
from canvas.simexchange.listings import Listing
from canvas.simexchange.market import INTERVALS_MS, SimMarket
from canvas.simexchange.routes import split_market_prefix
from canvas.simexchange.wire import Formats, kline_event

# After a long manual clock jump, send at most this many overdue finals, newest last.
MAX_CATCHUP_FINALS = 1000
_STREAM_NAME = re.compile(r"^/ws/([a-z0-9_]+)@kline_([0-9]+[mhd])$")

Send = Callable[[str], Awaitable[None]]


@attrs.frozen
class StreamRoute:
    """A parsed stream path: `/[spot|futures]/ws/<symbol>@kline_<interval>`."""

    market: str
    symbol: str
    interval: str

    @classmethod
    def parse(cls, path: str) -> StreamRoute | None:
        """None when `path` is not a kline stream; a bare `/ws/...` is a spot stream."""
        named, rest = split_market_prefix(path)
        match = _STREAM_NAME.match(rest)
        if match is None or match.group(2) not in INTERVALS_MS:
            return None
        return cls(named or "spot", match.group(1).upper(), match.group(2))


def _dumps(message: Any) -> str:
    return json.dumps(message, separators=(",", ":"))


@attrs.define(eq=False)
class KlineFeed:
    """Generates one stream's messages on the sim clock.

    `messages_per_bucket` M ≥ 1: M-1 forming updates spread evenly through the bucket, then the
    final `x: true` message once the bucket has closed. Messages due while `is_silent()` are
    skipped, not delayed, as with a real outage.
    """

    market: SimMarket
    clock: SimClock
    listing: Listing | None
    route: StreamRoute
    messages_per_bucket: int
    is_silent: Callable[[], bool]

    async def run(self, send: Send, since_ms: int) -> None:
        """Send messages from `since_ms` (when the client connected) until cancelled.

        An unlisted symbol never gets any message, as on Binance.
        """
        if self.listing is None:
            await trio.sleep_forever()
        size = INTERVALS_MS[self.route.interval]
        per_bucket = self.messages_per_bucket
        bucket = since_ms - since_ms % size
        slot = self._next_slot(since_ms - bucket, size)
        while True:
            now = self.clock.now_ms()
            if now >= bucket + size:
                overdue = (now - bucket) // size
                if overdue > MAX_CATCHUP_FINALS:
                    bucket += (overdue - MAX_CATCHUP_FINALS) * size
                while now >= bucket + size:
                    await self._emit(send, bucket, now, closed=True)
                    bucket += size
                slot = self._next_slot(now - bucket, size)
                continue
            due = bucket + slot * size // per_bucket
            if slot < per_bucket and now >= due:
                # Slots passed over by a clock jump collapse into this one update.
                await self._emit(send, bucket, now, closed=False)
                slot = self._next_slot(now - bucket, size)
                continue
            await self.clock.wait_until(due)

    def _next_slot(self, elapsed: int, size: int) -> int:
        """The first slot after `elapsed` ms into a bucket; slot M is the close (final)."""
        per_bucket = self.messages_per_bucket
        slot = elapsed * per_bucket // size
        while slot * size // per_bucket <= elapsed and slot < per_bucket:
            slot += 1
        return slot

    async def _emit(self, send: Send, bucket: int, now: int, *, closed: bool) -> None:
        if self.is_silent():
            return
        assert self.listing is not None
        spec, market, interval = self.listing.spec, self.route.market, self.route.interval
        if closed:
            bar = self.market.candle(spec, market, interval, bucket)
        else:
            bar = self.market.candle_at(spec, market, interval, bucket, now)
        size = INTERVALS_MS[interval]
        fmt = Formats(spec, market)
        await send(_dumps(kline_event(bar, interval, size, fmt, event_ms=now, closed=closed)))


def malformed_messages(route: StreamRoute, count: int, now_ms: int) -> list[str]:
    """`count` messages a kline client must reject, cycling through distinct defects."""
    size = INTERVALS_MS[route.interval]
    t = now_ms - now_ms % size

    def kline(**fields: Any) -> str:
        k = {"t": t, "T": t + size - 1, "s": route.symbol, "i": route.interval}
        k |= {"o": "100.0", "h": "101.0", "l": "99.0", "c": "100.5", "v": "3.0", "x": False}
        k |= fields
        return _dumps({"e": "kline", "E": now_ms, "s": route.symbol, "k": k})

    defects = [
        '{"e":"kline","E":',  # truncated JSON
        _dumps({"e": "kline", "E": now_ms, "s": route.symbol}),  # no "k"
        kline(o="NaN"),  # non-finite price
        kline(l="102.0"),  # low above open and close
        kline(v="-1"),  # negative volume
        kline(c="abc"),  # not a number
        _dumps([1, 2, 3]),  # not an object
    ]
    return [defects[i % len(defects)] for i in range(count)]
