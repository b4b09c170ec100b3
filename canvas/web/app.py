"""The app factory: one Quart-Trio app per dependency bundle, no module-level state."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs
import trio
from quart import request
from quart_trio import QuartTrio
from werkzeug.exceptions import HTTPException

from actors.coverage import CoverageService
from actors.directory import Directory
from actors.ingest_jobs import IngestSupervisor
from actors.replay_jobs import ReplayRunner
from canvas.errors import CanvasError, ValidationFailed
from canvas.metrics import MetricsRegistry
from canvas.metrics_export import PrometheusExport
from canvas.settings import Settings
from canvas.web import pages
from canvas.web.cors import CorsPolicy
from canvas.web.guard import Guard
from canvas.web.hypercorn_fixes import ShieldedSend, apply_websocket_fixes
from canvas.web.instrument import RouteMetrics
from canvas.web.json_response import json_response
from canvas.web.top_markets_state import TopMarkets

log = logging.getLogger("canvas.web")

MAX_BODY_BYTES = 8 * 1024 * 1024
_HTTP_DETAIL = {404: "not_found", 405: "method_not_allowed", 413: "payload_too_large"}


@attrs.frozen(eq=False)
class AppDeps:
    """Everything the routes need, built once by the server after its services started.

    Frozen: a route reads these objects and never installs new ones (the objects themselves,
    such as the top-markets cache, keep their own state).
    """

    settings: Settings
    directory: Directory
    whitelist: list[str]
    clock: Callable[[], float]
    metrics: MetricsRegistry
    # Timers of the hot market routes, by route ("ingest", "candles").
    routes: dict[str, RouteMetrics]
    prometheus: PrometheusExport
    ingest: IngestSupervisor
    coverage: CoverageService
    replay: ReplayRunner
    top_markets: TopMarkets
    # Set when the server shuts down: WebSocket handlers close with 1001.
    shutting_down: trio.Event = attrs.Factory(trio.Event)


def create_app(deps: AppDeps) -> QuartTrio:
    from canvas.web import coverage, factor, market, operator, replay, top_markets, ws
    from canvas.web import docs, healthz

    # static_folder=None: the page's files are served by canvas.web.pages, with cache headers.
    app = QuartTrio(__name__, root_path=str(Path(__file__).parent), static_folder=None)
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    app.config["PROVIDE_AUTOMATIC_OPTIONS"] = True
    app.extensions["canvas"] = deps
    cors = CorsPolicy(deps.settings.cors_origins)

    for module in (market, ws, factor, replay, coverage, operator, top_markets):
        app.register_blueprint(module.blueprint)
    app.register_blueprint(healthz.blueprint)
    app.register_blueprint(docs.blueprint)  # /openapi.json and /docs, canvas/web/docs.py

    @app.before_request
    async def preflight():
        if request.method == "OPTIONS" and request.routing_exception is None:
            return cors.preflight(
                request.headers.get("Origin"),
                request.headers.get("Access-Control-Request-Headers"),
            )
        return None

    guard = Guard(deps.settings, cors)
    app.before_request(guard.check_request)
    app.before_websocket(guard.check_websocket)
    # hypercorn must be able to finish (or close) a connection after an early answer.
    app.asgi_app = ShieldedSend(app.asgi_app)  # type: ignore[method-assign]
    apply_websocket_fixes()

    @app.after_request
    async def add_cors(response):
        cors.decorate(response, request.headers.get("Origin"))
        return response

    @app.errorhandler(CanvasError)
    async def canvas_error(exc: CanvasError):
        return json_response(exc.body(), exc.status)

    @app.errorhandler(HTTPException)
    async def http_error(exc: HTTPException):
        status = exc.code or 500
        if status == 400 and isinstance(exc.description, str) and "JSON" in exc.description:
            return json_response(ValidationFailed.one(["body"], exc.description).body(), 422)
        return json_response({"detail": _HTTP_DETAIL.get(status, exc.name.lower())}, status)

    @app.errorhandler(Exception)
    async def unexpected(exc: Exception):
        log.exception("unhandled error on %s %s", request.method, request.path)
        return json_response({"detail": "internal_error"}, 500)

    app.register_blueprint(pages.blueprint)  # the chart page (§10), canvas/web/pages.py
    return app


def deps_of(app: Any) -> AppDeps:
    return app.extensions["canvas"]
