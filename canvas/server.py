"""The process: one root nursery holding the directory, services and the HTTP server."""

from __future__ import annotations

import logging
import signal
import socket
import time
from collections.abc import Callable
from typing import Any

import attrs
import trio
from hypercorn.config import Config
from hypercorn.trio import serve as hypercorn_serve

from actors.coverage import CoverageService
from actors.directory import Directory
from actors.ingest_jobs import IngestJobs, IngestSupervisor
from actors.replay_jobs import ReplayRunner
from actors.restart import RestartPolicy
from actors.rollup import RollupQueue, RollupService
from actors.series_actor import ActorDeps
from actors.startup import FirstStart
from actors.supervise import supervise
from canvas.exchange.binance import BinanceEndpoints
from canvas.factors.base import AnalyticsParams
from canvas.factors.pipeline import SeriesAnalytics
from canvas.logs import ACCESS_LOG_FORMAT, ACCESS_LOGGER
from canvas.metrics import MetricsRegistry
from canvas.metrics_export import PrometheusExport
from canvas.settings import Settings
from canvas.web.app import AppDeps, create_app
from canvas.web.guard import exposure_warning
from canvas.web.instrument import route_metrics
from canvas.web.proxy import behind_proxies
from canvas.web.top_markets_state import TopMarkets

log = logging.getLogger("canvas")

SHUTDOWN_GRACE_S = 5.0
# The HTTP server serves again after a short fixed pause, however often it fails.
HTTP_RESTART = RestartPolicy(initial_s=0.1, factor=1.0, cap_s=0.1, jitter=0.0)


@attrs.define(eq=False)
class Server:
    """A running Canvas: its bound address, its dependencies, and how to stop it."""

    settings: Settings
    deps: AppDeps | None = None
    binds: list[str] = attrs.Factory(list)
    port: int = 0
    _stop: trio.Event = attrs.Factory(trio.Event)

    def request_stop(self) -> None:
        self._stop.set()

    @property
    def base_url(self) -> str:
        return f"http://{self.settings.host}:{self.port}"

    async def run(self, *, task_status: trio.TaskStatus[Server] = trio.TASK_STATUS_IGNORED) -> None:
        """Serve until `request_stop()`; then close sockets, finish requests, close ledgers.

        `task_status.started(self)` fires once the port is bound and every part can serve.
        """
        settings = self.settings
        async with trio.open_nursery() as root:
            self.deps = await start_services(root, settings)
            app = behind_proxies(create_app(self.deps), settings.trusted_proxies)
            http_stop = trio.Event()
            http_done = trio.Event()
            self.binds = await root.start(self._serve_http, app, http_stop, http_done)
            self.port = int(self.binds[0].rsplit(":", 1)[1])
            log.info("canvas ready on %s (data in %s)", self.base_url, settings.data_dir)
            if (warning := exposure_warning(settings)) is not None:
                log.warning("%s", warning)
            task_status.started(self)
            await self._stop.wait()
            log.info("canvas shutting down")
            self.deps.shutting_down.set()
            http_stop.set()
            with trio.move_on_after(SHUTDOWN_GRACE_S + 1):
                await http_done.wait()
            root.cancel_scope.cancel()

    async def _serve_http(
        self, app: Any, stop: trio.Event, done: trio.Event, *, task_status: Any
    ) -> None:
        config = Config()
        config.graceful_timeout = SHUTDOWN_GRACE_S
        config.websocket_max_message_size = 64 * 1024
        config.websocket_ping_interval = self.settings.ws_ping_interval_s
        # hypercorn logs through our logger (and so our handlers) only when asked to.
        config.accesslog = logging.getLogger(ACCESS_LOGGER) if self.settings.access_log else None
        config.access_log_format = ACCESS_LOG_FORMAT
        config.errorlog = logging.getLogger("hypercorn.error")
        config.keep_alive_timeout = 75
        relay: FirstStart[list[str]] = FirstStart(task_status)
        port = self.settings.port

        async def serve() -> None:
            # hypercorn takes ownership of the socket we hand it by file descriptor.
            config.bind = [f"fd://{listen_socket(self.settings.host, port).detach()}"]
            await hypercorn_serve(app, config, shutdown_trigger=stop.wait, task_status=relay)

        def crashed(exc: Exception, _crash_loop: bool) -> None:
            # hypercorn's trio serve can raise on a malformed WebSocket upgrade; the server
            # must outlive one bad client, so serve again on the bound port. A failure to
            # bind at start-up (or while stopping) is the caller's to see.
            nonlocal port
            binds = relay.value
            if not binds or stop.is_set():
                raise exc
            log.error("HTTP server failed; serving again on %s", binds, exc_info=exc)
            port = int(binds[0].rsplit(":", 1)[1])

        try:
            await supervise(serve, name="HTTP server", policy=HTTP_RESTART, on_crash=crashed)
        finally:
            done.set()


# TCP keepalive and a user timeout on the listening socket; Linux gives every accepted
# connection the same settings. A peer that vanished without closing (a laptop lid, a dead
# NAT) is then dropped within about a minute whether its socket is idle (keepalive probes)
# or has unacknowledged data queued (TCP_USER_TIMEOUT), instead of the kernel's ~15 minutes.
KEEPALIVE_IDLE_S = 30
KEEPALIVE_INTERVAL_S = 10
KEEPALIVE_PROBES = 3
USER_TIMEOUT_MS = 60_000


def listen_socket(host: str, port: int) -> socket.socket:
    """A bound (not yet listening) TCP socket with the options every connection inherits."""
    family, type_, proto, _, addr = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    sock = socket.socket(family, type_, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        for name, value in (
            ("TCP_KEEPIDLE", KEEPALIVE_IDLE_S),
            ("TCP_KEEPINTVL", KEEPALIVE_INTERVAL_S),
            ("TCP_KEEPCNT", KEEPALIVE_PROBES),
            ("TCP_USER_TIMEOUT", USER_TIMEOUT_MS),
        ):
            if hasattr(socket, name):  # Linux names; other systems keep their defaults
                sock.setsockopt(socket.IPPROTO_TCP, getattr(socket, name), value)
        sock.bind(addr)
    except BaseException:
        sock.close()
        raise
    return sock


def build_actor_deps(
    settings: Settings, metrics: MetricsRegistry, rollups: RollupQueue, ingest_jobs: IngestJobs
) -> ActorDeps:
    """What every series actor gets: settings, the analytics factory and the two hooks.

    The hooks are the objects built before the directory (the roll-up queue and the ingest
    jobs table), which breaks the directory ↔ roll-up ↔ ingest cycle: the services that
    need the directory are built after it, around those same objects.
    """
    params = AnalyticsParams(
        pivot_window_major=settings.pivot_window_major,
        pivot_window_minor=settings.pivot_window_minor,
        logic_override=settings.factor_logic_version,
        overlay_window_candles=settings.overlay_window_candles,
    )

    def factory(conn: Any, series: Any) -> SeriesAnalytics:
        return SeriesAnalytics(conn, str(series), series.tf, params)

    return ActorDeps(
        data_dir=settings.data_dir,
        derived_timeframes=settings.derived_timeframes,
        on_stored=rollups.notify,
        catchup_limit=settings.market_ws_catchup_limit,
        idle_ttl_s=settings.actor_idle_ttl_s,
        analytics_factory=factory,
        metrics=metrics,
        may_stop=ingest_jobs.may_stop,
    )


def build_ingest(
    settings: Settings,
    directory: Directory,
    whitelist: list[str],
    jobs: IngestJobs,
    clock: Callable[[], float],
) -> IngestSupervisor:
    """The ingest supervisor over `jobs` (the table the series actors consult)."""
    s = settings
    endpoints = BinanceEndpoints(
        spot_rest=s.binance_spot_base_url,
        futures_rest=s.binance_futures_base_url,
        spot_ws=s.binance_spot_ws_base_url,
        futures_ws=s.binance_futures_ws_base_url,
    )
    return IngestSupervisor(
        directory=directory,
        endpoints=endpoints,
        whitelist=whitelist,
        enabled=s.enable_ingest,
        derived=s.derived_timeframes,
        bootstrap_candles=s.ingest_bootstrap_candles,
        max_backfill_candles=s.ingest_max_backfill_candles,
        max_ondemand=s.ondemand_max_jobs,
        idle_ttl_s=s.ondemand_idle_ttl_s,
        forming_interval_s=s.ingest_forming_interval_s,
        streams_per_connection=s.ingest_streams_per_connection,
        clock=clock,
        jobs=jobs,
    )


async def start_services(nursery: trio.Nursery, settings: Settings) -> AppDeps:
    """Build and start every long-lived service in `nursery`, then the routes' frozen bundle.

    Order: the objects the series actors call back into, the directory, then the services
    that ask the directory (roll-up, ingest, coverage) and the replay runner.
    """
    clock = time.time
    whitelist = settings.whitelist()
    metrics = MetricsRegistry() if settings.enable_runtime_metrics else MetricsRegistry.disabled()
    rollup_queue = RollupQueue(settings.derived_timeframes)
    ingest_jobs = IngestJobs()
    directory = Directory(
        build_actor_deps(settings, metrics, rollup_queue, ingest_jobs),
        mailbox_size=settings.actor_mailbox_size,
        request_timeout_s=settings.request_timeout_s,
    )
    await nursery.start(directory.run)
    await nursery.start(RollupService(rollup_queue, directory, settings.data_dir).run)
    ingest_supervisor = build_ingest(settings, directory, whitelist, ingest_jobs, clock)
    ingest = await nursery.start(ingest_supervisor.run)
    coverage = CoverageService(directory, lambda: ingest.rest, settings.enable_ingest, clock=clock)
    await nursery.start(coverage.run)
    replay = await nursery.start(ReplayRunner.from_settings(settings, clock).run)
    return AppDeps(
        settings=settings,
        directory=directory,
        whitelist=whitelist,
        clock=clock,
        metrics=metrics,
        routes=route_metrics(metrics),
        prometheus=PrometheusExport(metrics, lambda: ingest),
        ingest=ingest,
        coverage=coverage,
        replay=replay,
        top_markets=TopMarkets.create(),
    )


async def run_until_signal(settings: Settings, on_signal: Any = None) -> None:
    """The CLI entry: serve until SIGINT/SIGTERM, then shut down within the budget."""
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with trio.open_nursery() as nursery:
            server = Server(settings)
            await nursery.start(server.run)
            async for _ in signals:
                if on_signal is not None:
                    on_signal()
                server.request_stop()
                break
