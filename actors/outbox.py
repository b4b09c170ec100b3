"""Per-connection bounded outboxes: actors push frames with `offer`, never waiting."""

from __future__ import annotations

import itertools

import attrs
import trio

_ids = itertools.count(1)


@attrs.define(eq=False)
class Outbox:
    """The frames waiting to be written to one WebSocket connection.

    Actors call `offer`/`offer_all` (never blocking). When a unit does not fit, the actor marks
    the subscription lagging and records the series here; the connection's writer asks those
    actors to resend what is due once the outbox has drained (`take_lagging`).
    """

    capacity: int
    conn_id: int = attrs.field(factory=lambda: next(_ids))
    lagging: set[str] = attrs.Factory(set)
    closed: bool = False
    _send: trio.MemorySendChannel[str] = attrs.field(init=False)
    _recv: trio.MemoryReceiveChannel[str] = attrs.field(init=False)
    _lag_event: trio.Event = attrs.field(init=False, factory=trio.Event)

    def __attrs_post_init__(self) -> None:
        self._send, self._recv = trio.open_memory_channel(self.capacity)

    def free(self) -> int:
        return self.capacity - self._send.statistics().current_buffer_used

    def offer_all(self, frames: list[str]) -> bool:
        """Queue all of `frames` or none of them; False when they do not fit or it is closed."""
        if self.closed or self.free() < len(frames):
            return False
        for frame in frames:
            self._send.send_nowait(frame)
        return True

    def offer(self, frame: str) -> bool:
        return self.offer_all([frame])

    def mark_lagging(self, series_id: str) -> None:
        self.lagging.add(series_id)
        self._lag_event.set()

    def take_lagging(self) -> set[str]:
        lagging, self.lagging = self.lagging, set()
        self._lag_event = trio.Event()
        return lagging

    def pending(self) -> int:
        return self._send.statistics().current_buffer_used

    def receive_nowait(self) -> str:
        return self._recv.receive_nowait()

    async def receive(self) -> str:
        return await self._recv.receive()

    async def wait_lagging(self) -> None:
        await self._lag_event.wait()

    def close(self) -> None:
        self.closed = True
        self._send.close()
