"""`/ws/market` (§3): one reader, one writer and a watchdog per connection."""

from __future__ import annotations

import json
import logging
import time
from typing import Any

import trio
from quart import Blueprint, abort, current_app, websocket

from actors import messages as msg
from actors.outbox import Outbox
from canvas.errors import CanvasError, Capacity, InvalidSeriesId
from canvas.series_id import SeriesId
from canvas.web.app import AppDeps, deps_of
from canvas.web.cors import CorsPolicy
from canvas.ws_frames import error_frame

log = logging.getLogger("canvas.ws")
blueprint = Blueprint("ws", __name__)

CLOSE_GOING_AWAY = 1001
MAX_SUBSCRIPTIONS = 256
CLOSE_TRY_AGAIN_LATER = 1013


class _Refused(Exception):
    """A client frame that is answered with an error frame (the socket stays open)."""

    def __init__(self, message: str, code: str = "bad_request", **extra: Any) -> None:
        super().__init__(message)
        self.frame = error_frame(code, message, **extra)


@blueprint.websocket("/ws/market")
async def market_ws():
    deps = deps_of(current_app)
    cors = CorsPolicy(deps.settings.cors_origins)
    if not cors.websocket_allowed(
        websocket.headers.get("Origin"), websocket.headers.get("Host"), websocket.scheme
    ):
        abort(403)
    await websocket.accept()
    await MarketSocket(deps).serve()


class MarketSocket:
    """The state of one WebSocket connection: its outbox and its subscriptions."""

    def __init__(self, deps: AppDeps) -> None:
        self.deps = deps
        self.outbox = Outbox(deps.settings.ws_outbox_frames)
        self.subscribed: set[str] = set()
        self.close_code: int | None = None
        self.close_reason = ""
        self.blocked_since: float | None = None
        self.ingest = deps.ingest
        registry = deps.metrics
        self.m_payloads = registry.counter("market_ws_payloads_total")
        self.m_active = registry.gauge("market_ws_active_subscriptions")
        self.m_sub = {
            r: registry.counter("market_ws_subscribe_total", result=r)
            for r in ("ok", "capacity", "error")
        }
        self.m_sub_ms = {
            r: registry.timer("market_ws_subscribe_duration_ms", result=r)
            for r in ("ok", "capacity", "error")
        }
        self.m_unsub = {
            r: registry.counter("market_ws_unsubscribe_total", result=r) for r in ("ok", "noop")
        }

    async def serve(self) -> None:
        try:
            async with trio.open_nursery() as nursery:
                self.nursery = nursery
                nursery.start_soon(self._reader)
                nursery.start_soon(self._writer)
                nursery.start_soon(self._watchdog)
                nursery.start_soon(self._resyncer)
        finally:
            with trio.CancelScope(shield=True):
                await self._release_all()
        if self.close_code is not None:
            # May wait until a stuck client reads again; the connection's own task only.
            await websocket.close(self.close_code, self.close_reason)

    def _finish(self, code: int | None, reason: str = "") -> None:
        if self.close_code is None:
            self.close_code, self.close_reason = code, reason
        self.nursery.cancel_scope.cancel()

    async def _release_all(self) -> None:
        """Drop every subscription of this connection (disconnect = unsubscribe all)."""
        self.outbox.close()
        # At once and whatever the actors do: the closed connection holds no job (§8).
        self.ingest.release_connection(self.outbox.conn_id)
        with trio.move_on_after(5):
            for sid in sorted(self.subscribed):
                await self._unsubscribe(sid)
        self.subscribed.clear()

    # --- tasks ---------------------------------------------------------------------------

    async def _reader(self) -> None:
        while True:
            data = await websocket.receive()
            try:
                await self._handle_frame(data)
            except _Refused as refused:
                self.outbox.offer(refused.frame)

    async def _writer(self) -> None:
        while True:
            frame = await self.outbox.receive()
            self.blocked_since = trio.current_time()
            await websocket.send(frame)
            self.blocked_since = None
            self.m_payloads.inc()

    async def _resyncer(self) -> None:
        """Once the outbox has room again, ask lagging series to send what became due."""
        while True:
            await self.outbox.wait_lagging()
            while self.outbox.pending() > self.outbox.capacity // 4:
                await trio.sleep(0.01)
            for sid in sorted(self.outbox.take_lagging()):
                if sid in self.subscribed:
                    await self.deps.directory.ask(sid, msg.Resync(self.outbox))

    async def _watchdog(self) -> None:
        timeout = self.deps.settings.ws_slow_consumer_timeout_s
        step = min(1.0, timeout / 4)
        shutdown = self.deps.shutting_down
        while True:
            with trio.move_on_after(step):
                await shutdown.wait()
                self._finish(CLOSE_GOING_AWAY, "server_shutdown")
                return
            since = self.blocked_since
            if since is not None and trio.current_time() - since > timeout:
                log.info("closing slow WebSocket consumer after %.1f s", timeout)
                # Stop feeding it at once; the close frame follows its last pending write.
                await self._release_all()
                self._finish(CLOSE_TRY_AGAIN_LATER, "slow_consumer")
                return

    # --- protocol ------------------------------------------------------------------------

    async def _handle_frame(self, data: str | bytes) -> None:
        if not isinstance(data, str):
            raise _Refused("invalid message envelope")
        try:
            doc = json.loads(data, parse_constant=_reject)
        except (ValueError, RecursionError):
            raise _Refused("invalid message envelope") from None
        if not isinstance(doc, dict):
            raise _Refused("invalid message envelope")
        kind = doc.get("type")
        if not isinstance(kind, str) or not kind.strip():
            raise _Refused("missing message type")
        if kind == "subscribe":
            await self._on_subscribe(doc)
        elif kind == "unsubscribe":
            sid = doc.get("series_id")
            if not isinstance(sid, str):
                raise _Refused("missing series_id")
            if sid in self.subscribed:
                await self._unsubscribe(sid)
                self.subscribed.discard(sid)
                self.m_unsub["ok"].inc()
            else:
                self.m_unsub["noop"].inc()
        else:
            raise _Refused(f"unknown message type: {kind}")

    async def _on_subscribe(self, doc: dict[str, Any]) -> None:
        sid = doc.get("series_id")
        if not isinstance(sid, str):
            raise _Refused("missing series_id")
        try:
            series = SeriesId.parse(sid)
        except InvalidSeriesId:
            raise _Refused("invalid series_id") from None
        since = doc.get("since")
        if since is not None and (
            not isinstance(since, int) or isinstance(since, bool) or since < 0
        ):
            raise _Refused("invalid since")
        batch = doc.get("supports_batch")
        if batch is not None and not isinstance(batch, bool):
            raise _Refused("invalid supports_batch")
        t0 = time.perf_counter()
        first_time = sid not in self.subscribed
        if first_time and len(self.subscribed) >= MAX_SUBSCRIPTIONS:
            # Each subscription holds state in a series actor: bound what one socket can pin.
            raise _Refused("too many subscriptions")
        if first_time:
            try:
                self.ingest.acquire(self.outbox.conn_id, series)
            except Capacity:
                self._count_subscribe("capacity", t0)
                raise _Refused("ondemand_ingest_capacity", "capacity", series_id=sid) from None
        try:
            await self.deps.directory.ask(series, msg.Subscribe(self.outbox, since, bool(batch)))
        except CanvasError as exc:
            if first_time:
                self.ingest.release(self.outbox.conn_id, series)
            self._count_subscribe("error", t0)
            raise _Refused(f"subscribe failed: {exc.detail}", "unavailable") from None
        if first_time:
            self.m_active.inc()
        self.subscribed.add(sid)
        self._count_subscribe("ok", t0)

    def _count_subscribe(self, result: str, t0: float) -> None:
        self.m_sub[result].inc()
        self.m_sub_ms[result].observe_since(t0)

    async def _unsubscribe(self, sid: str) -> None:
        series = SeriesId.parse(sid)
        self.ingest.release(self.outbox.conn_id, series)
        try:
            await self.deps.directory.ask(series, msg.Unsubscribe(self.outbox))
        except CanvasError as exc:
            # The actor is gone (stopped or restarting): nothing of ours is left there.
            log.debug("unsubscribe from %s: %s", sid, exc.detail)
        self.m_active.dec()


def _reject(token: str) -> Any:
    raise ValueError(token)
