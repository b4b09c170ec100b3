"""Start-up of a task that restarts: the first start is reported once, restarts start silently.

A supervisor hands `FirstStart` to each incarnation of a task as its `task_status`. The first
`started(value)` settles it: the value is passed on to an outer task status (for
`nursery.start`), and whoever waits on it gets the value. If the task fails before its first
start, `fail(error)` gives waiters that error instead. Later `started` calls (a restarted
incarnation) change nothing.
"""

from __future__ import annotations

from typing import Any, Generic, TypeVar

import attrs

from actors.mailbox import Reply

T = TypeVar("T")


@attrs.define(eq=False)
class FirstStart(Generic[T]):
    """A task status that only the first start of a restarting task settles."""

    # The task status to pass the first start on to (None: only waiters are told).
    outer: Any = None
    _outcome: Reply[T] = attrs.Factory(Reply)
    _fired: bool = False
    _value: T | None = None

    @property
    def fired(self) -> bool:
        """Whether the task has started (once): it is not true after a failure."""
        return self._fired

    @property
    def value(self) -> T | None:
        """What the first start reported (None before it)."""
        return self._value

    def started(self, value: T | None = None) -> None:
        if self._outcome.answered:
            return
        self._fired, self._value = True, value
        self._outcome.set(value)  # type: ignore[arg-type]
        if self.outer is not None:
            self.outer.started(value)

    def fail(self, error: BaseException) -> None:
        """The task ended before its first start: waiters get `error` (no-op once settled)."""
        self._outcome.fail(error)

    async def wait(self) -> T:
        """Block until the first start; raise the error that kept it from happening."""
        return await self._outcome.wait()
