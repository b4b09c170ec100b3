"""The directory: finds or starts the one supervised actor for a series_id."""

from __future__ import annotations

import logging
from typing import TypeVar

import attrs
import trio

from actors.mailbox import MailboxClosed, Request, ask, fail_pending
from actors.restart import ACTOR_POLICY, RestartPolicy
from actors.series_actor import ActorDeps, SeriesActor, SeriesHandle
from actors.supervise import CrashBudget, supervise
from actors.startup import FirstStart
from canvas.errors import ServiceUnavailable
from canvas.series_id import SeriesId

T = TypeVar("T")

log = logging.getLogger("canvas.directory")

# Queued requests survive a single crash (they are served after the restart); from this many
# consecutive crashes on they are answered with 503 instead.
CRASH_LOOP_ATTEMPTS = 3
CRASH_LOOP = CrashBudget(CRASH_LOOP_ATTEMPTS, give_up=False)


@attrs.define(eq=False)
class Directory:
    """Owns every series actor: starts them on first use, restarts them when they crash.

    `run` is the long-lived task (its nursery holds the actors); `ask` is how everything else
    talks to a series.
    """

    deps: ActorDeps
    mailbox_size: int = 1024
    request_timeout_s: float = 30.0
    policy: RestartPolicy = ACTOR_POLICY
    handles: dict[str, SeriesHandle] = attrs.Factory(dict)
    # The first start of each series' current actor: its handle, and whoever waits on it.
    _starting: dict[str, tuple[SeriesHandle, FirstStart[SeriesHandle]]] = attrs.Factory(dict)
    _nursery: trio.Nursery | None = None

    async def run(self, *, task_status: trio.TaskStatus[Directory] = trio.TASK_STATUS_IGNORED):
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            task_status.started(self)
            await trio.sleep_forever()

    async def get(self, series_id: str | SeriesId) -> SeriesHandle:
        """The live handle for a series, starting its actor if needed.

        Raises InvalidSeriesId for a bad id and ServiceUnavailable if the actor cannot start.
        """
        series = series_id if isinstance(series_id, SeriesId) else SeriesId.parse(series_id)
        key = str(series)
        while True:
            handle = self.handles.get(key)
            if handle is not None and handle.state == "stopped":
                # One incarnation at a time: the next opens the ledger once this one closed it.
                await handle.stopped.wait()
                continue
            if handle is None:
                handle = self._spawn(series)
            owner, startup = self._starting.get(key, (None, None))
            if startup is not None and owner is handle:
                if startup.fired:
                    del self._starting[key]  # served: later asks need not look again
                else:
                    await startup.wait()
            return handle

    def _spawn(self, series: SeriesId) -> SeriesHandle:
        """Start an actor in the directory's own nursery, so that its start-up never depends on
        (nor is cancelled with) whichever caller happened to ask first."""
        assert self._nursery is not None, "Directory.run is not running"
        handle = SeriesHandle(series, self.mailbox_size)
        self.handles[handle.series_id] = handle
        startup: FirstStart[SeriesHandle] = FirstStart()
        self._starting[handle.series_id] = (handle, startup)
        self._nursery.start_soon(self._supervise, handle, startup)
        return handle

    async def ask(self, series_id: str | SeriesId, request: Request[T]) -> T:
        """Send a request to the series' actor and return its answer (or raise its error)."""
        while True:
            handle = await self.get(series_id)
            try:
                return await ask(handle.send, request, self.request_timeout_s)
            except MailboxClosed:
                # The actor stopped for idleness between lookup and send: start a new one.
                continue

    def live(self) -> list[SeriesHandle]:
        return [h for _, h in sorted(self.handles.items()) if h.state != "stopped"]

    async def _supervise(self, handle: SeriesHandle, startup: FirstStart[SeriesHandle]) -> None:
        """Run the actor, restarting it with backoff when it crashes, until it stops idle.

        `startup` is settled once the first incarnation can serve, or with the error that kept
        it from starting (then this task ends: the next ask starts afresh).
        """
        relay = startup

        async def incarnation() -> None:
            try:
                await SeriesActor(handle, self.deps).run(task_status=relay)
            except Exception:
                if relay.fired:
                    raise  # a crash: restarted by `supervise`
                # A failure to start ends this task: the next ask starts afresh.
                log.exception("series actor %s failed to start", handle.series_id)
                relay.fail(ServiceUnavailable("series_unavailable"))

        def crashed(exc: Exception, crash_loop: bool) -> None:
            handle.crashes += 1
            handle.last_error = f"{type(exc).__name__}: {exc}"[:500]
            log.exception("series actor %s crashed; restarting", handle.series_id, exc_info=exc)
            if crash_loop:
                # A crash loop: queued callers get a clear 503 instead of waiting.
                fail_pending(handle.recv, ServiceUnavailable("series_restarting"))

        def backoff(_delay: float) -> None:
            handle.state = "backoff"

        def restart() -> None:
            handle.state = "starting"

        try:
            await supervise(
                incarnation,
                name=f"series actor {handle.series_id}",
                policy=self.policy,
                budget=CRASH_LOOP,
                on_crash=crashed,
                on_backoff=backoff,
                on_restart=restart,
            )
        finally:
            relay.fail(ServiceUnavailable("series_stopped"))
            if self._starting.get(handle.series_id, (None, None))[1] is startup:
                del self._starting[handle.series_id]
            handle.state = "stopped"
            handle.stopped.set()
            if self.handles.get(handle.series_id) is handle:
                del self.handles[handle.series_id]
            handle.send.close()
            fail_pending(handle.recv, ServiceUnavailable("series_stopped"))
