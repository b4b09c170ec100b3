"""The publishing half of a series actor: what each subscriber has been sent, and framing.

Runs on the event loop inside the series actor (one message at a time), so subscriber state
needs no lock. Reading what is due from the ledger is the actor's business: `due` is given.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import attrs
import trio

from actors.outbox import Outbox
from canvas.candles import Row
from canvas.ws_frames import forming_frame, plan_units, system_frame

# Candles framed per slice of a catch-up before yielding to the event loop.
CATCHUP_SLICE = 1000


@attrs.define(eq=False)
class Subscription:
    """One connection's subscription to this series (§3.4): what it has been sent so far."""

    outbox: Outbox
    last_sent: int | None
    supports_batch: bool
    lagging: bool = False
    # System events that could not be queued while lagging; sent on resync.
    pending_rewind: int | None = None
    pending_rebuild: dict[str, Any] | None = None


@attrs.define(eq=False)
class Publisher:
    """Sends one series' candles and system events to its subscribers' outboxes."""

    series_id: str
    tf: int
    catchup_limit: int
    # The subscribers by connection id; owned by the series handle (they outlive restarts).
    subscribers: dict[int, Subscription]
    # The newest candles after a time (at most catchup_limit), read from the ledger.
    due: Callable[[int | None], Awaitable[list[Row]]]

    async def publish(self, written: list[Row], prev_head: int | None) -> None:
        """Send every subscriber what is now due, framing once per distinct position."""
        groups: dict[tuple[int | None, bool], list[Subscription]] = {}
        for sub in self.subscribers.values():
            if not sub.lagging:
                groups.setdefault((sub.last_sent, sub.supports_batch), []).append(sub)
        rows_for: dict[int | None, list[Row]] = {}
        for (last_sent, batch), subs in groups.items():
            if last_sent not in rows_for:
                if last_sent is not None and prev_head is not None and last_sent >= prev_head:
                    # Everything stored after prev_head came from this write.
                    due = [r for r in written if r[0] > last_sent]
                    rows_for[last_sent] = due[-self.catchup_limit :]
                else:
                    rows_for[last_sent] = await self.due(last_sent)
            rows = rows_for[last_sent]
            if not rows:
                continue
            units = plan_units(self.series_id, self.tf, last_sent, rows, batch)
            for sub in subs:
                self._offer_units(sub, units)

    def offer_forming(self, row: Row) -> None:
        """Offer a forming candle to subscribers not already past it."""
        frame: str | None = None
        for sub in list(self.subscribers.values()):
            if sub.last_sent is None or row[0] > sub.last_sent:
                frame = frame or forming_frame(self.series_id, row)
                # Forming updates are disposable: a full outbox simply drops this one.
                if not sub.outbox.offer(frame) and sub.outbox.closed:
                    self._drop(sub)

    async def send_due(self, sub: Subscription, rows: list[Row]) -> None:
        """Frame and queue a catch-up in slices, yielding to the event loop between them so a
        5,000-candle catch-up never holds the loop for long (the actor still handles nothing
        else meanwhile: this is one message)."""
        for i in range(0, len(rows), CATCHUP_SLICE):
            if i:
                await trio.lowlevel.checkpoint()
                if sub.lagging or sub.outbox.closed:
                    return
            units = plan_units(
                self.series_id,
                self.tf,
                sub.last_sent,
                rows[i : i + CATCHUP_SLICE],
                sub.supports_batch,
            )
            self._offer_units(sub, units)

    async def resync(self, conn_id: int) -> None:
        """A lagging subscriber's outbox drained: send what became due, then pending events."""
        sub = self.subscribers.get(conn_id)
        if sub is None or not sub.lagging:
            return
        sub.lagging = False
        await self.send_due(sub, await self.due(sub.last_sent))
        if not sub.lagging:
            self._flush_pending_system(sub)

    def _offer_units(self, sub: Subscription, units: list[Any]) -> None:
        for unit in units:
            if not sub.outbox.offer_all(list(unit.frames)):
                if sub.outbox.closed:
                    self._drop(sub)
                    return
                self._mark_lagging(sub)
                return
            sub.last_sent = unit.last_time

    def _mark_lagging(self, sub: Subscription) -> None:
        sub.lagging = True
        sub.outbox.mark_lagging(self.series_id)

    def _drop(self, sub: Subscription) -> None:
        self.subscribers.pop(sub.outbox.conn_id, None)

    def broadcast_rewind(self, from_time: int) -> None:
        for sub in list(self.subscribers.values()):
            if sub.pending_rewind is None or from_time < sub.pending_rewind:
                sub.pending_rewind = from_time
            self._flush_pending_system(sub)

    def broadcast_rebuild(self, to_time: Any) -> None:
        for sub in list(self.subscribers.values()):
            sub.pending_rebuild = {"message": "factor ledger rebuilt", "data": {"to_time": to_time}}
            self._flush_pending_system(sub)

    def _flush_pending_system(self, sub: Subscription) -> None:
        """Queue pending system events unless the subscriber is lagging (then on resync)."""
        if sub.lagging:
            return
        sid = self.series_id
        if sub.pending_rebuild is not None:
            ev = sub.pending_rebuild
            if not sub.outbox.offer(system_frame(sid, "factor.rebuild", ev["message"], ev["data"])):
                self._mark_lagging(sub)
                return
            sub.pending_rebuild = None
        if sub.pending_rewind is not None:
            data = {"from_time": sub.pending_rewind}
            if not sub.outbox.offer(system_frame(sid, "factor.rewind", "late data", data)):
                self._mark_lagging(sub)
                return
            sub.pending_rewind = None
