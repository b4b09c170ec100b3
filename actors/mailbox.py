"""Request/reply over Trio memory channels: one-shot replies and the `ask` helper."""

from __future__ import annotations

from typing import Any, Generic, TypeVar

import attrs
import trio

from canvas.errors import CanvasError, ServiceUnavailable

T = TypeVar("T")


@attrs.define(eq=False)
class Reply(Generic[T]):
    """A one-shot answer slot: the actor calls `set` or `fail` once, the asker waits."""

    _done: trio.Event = attrs.Factory(trio.Event)
    _value: Any = None
    _error: BaseException | None = None

    @property
    def answered(self) -> bool:
        return self._done.is_set()

    def set(self, value: T) -> None:
        if not self._done.is_set():
            self._value = value
            self._done.set()

    def fail(self, error: BaseException) -> None:
        if not self._done.is_set():
            self._error = error
            self._done.set()

    async def wait(self) -> T:
        await self._done.wait()
        if self._error is not None:
            raise self._error
        return self._value


@attrs.frozen(eq=False)
class Request(Generic[T]):
    """Base of every actor message; `reply` is answered exactly once by the actor.

    The type parameter is the type of the answer, so `ask(..., Msg(...))` is typed.
    """

    reply: Reply[T] = attrs.field(factory=Reply, kw_only=True)


class MailboxClosed(Exception):
    """The actor behind a mailbox has stopped; look it up again to get a fresh one."""


async def ask(send: trio.MemorySendChannel[Any], request: Request[T], timeout: float) -> T:
    """Send `request` and wait for its answer.

    Returns the actor's value or raises its typed error; raises MailboxClosed when the actor
    has stopped and ServiceUnavailable when no answer comes within `timeout` seconds.
    """
    with trio.move_on_after(timeout) as scope:
        try:
            await send.send(request)
        except (trio.ClosedResourceError, trio.BrokenResourceError):
            raise MailboxClosed() from None
        return await request.reply.wait()
    assert scope.cancelled_caught
    raise ServiceUnavailable("series_busy")


def fail_pending(recv: trio.MemoryReceiveChannel[Any], error: CanvasError) -> None:
    """Answer every queued request with `error` (used when an actor dies)."""
    while True:
        try:
            request = recv.receive_nowait()
        except (trio.WouldBlock, trio.EndOfChannel, trio.ClosedResourceError):
            return
        request.reply.fail(error)
