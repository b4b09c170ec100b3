"""The documented routes: one entry per route of CONTRACT.md, with its request schemas.

`canvas/web/openapi.py` builds the OpenAPI document from this table; a test holds it to the
routes the app registers.
"""

from __future__ import annotations

import attrs

from canvas.markets import TOP_MARKETS_QUERY, TOP_MARKETS_STREAM_QUERY
from canvas.schema import Schema
from canvas.web import coverage, factor, market, operator, replay

# Who may call a route and when it exists, as the document says it (canvas/web/guard.py decides).
CONTROL = "A control route: needs `Authorization: Bearer <API_TOKEN>` when API_TOKEN is set."
DEBUG = "Only with TRADE_CANVAS_ENABLE_DEBUG_API=1, else 404."


@attrs.frozen
class Operation:
    """One documented route: method, path (OpenAPI `{name}` form) and what it answers."""

    method: str
    path: str
    tag: str
    summary: str
    description: str = ""
    query: Schema | None = None
    body: Schema | None = None
    ok: str = "JSON reply (see the contract section named in the summary)."
    ok_type: str = "application/json"
    errors: tuple[int, ...] = ()
    control: bool = False
    path_params: tuple[str, ...] = ()


_SID = (400, 422)
OPERATIONS: tuple[Operation, ...] = (
    Operation(
        "get",
        "/api/market/candles",
        "market",
        "Closed candles, ascending (§2.1)",
        query=market.CANDLES_QUERY,
        errors=_SID,
    ),
    Operation(
        "post",
        "/api/market/ingest/candle_closed",
        "market",
        "Store one closed candle and run the pipeline (§2.2)",
        body=market.CANDLE_BODY,
        errors=(*_SID, 500),
        control=True,
    ),
    Operation(
        "post",
        "/api/market/ingest/candle_forming",
        "market",
        "Push a forming candle to subscribers; stores nothing (§2.3)",
        DEBUG,
        body=market.CANDLE_BODY,
        errors=(*_SID, 404),
        control=True,
    ),
    Operation(
        "post",
        "/api/market/ingest/candles_closed_batch",
        "market",
        "Store 1..20000 closed candles in one transaction (§2.4)",
        "One invalid candle rejects the batch; each problem's loc names the candle index.",
        body=market.BATCH_BODY,
        errors=(*_SID, 500),
        control=True,
    ),
    Operation("get", "/api/market/whitelist", "market", "The whitelisted series ids (§2.5)"),
    Operation(
        "get",
        "/ws/market",
        "market",
        "WebSocket: live candles of subscribed series (§3)",
        "A WebSocket upgrade (`GET` with `Upgrade: websocket`), not a plain HTTP GET. "
        "Frames are JSON text: `subscribe`/`unsubscribe` from the client; "
        "`candle_closed`, `candles_batch`, `candle_forming`, `gap`, `system`, `error` "
        "from the server. With API_TOKEN_SCOPE=all the token may be given as the query "
        "parameter `access_token`.",
        ok="Switching Protocols: the socket is open.",
        errors=(401, 403),
    ),
    Operation(
        "get",
        "/api/factor/slices",
        "factor",
        "Factor history and heads at a time (§4.4)",
        query=factor.AT_TIME_QUERY,
        errors=(*_SID, 409),
    ),
    Operation(
        "post",
        "/api/factor/rebuild",
        "factor",
        "Recompute the factor ledger from the stored candles (§4.5)",
        "Only with TRADE_CANVAS_ENABLE_FACTOR_REBUILD=1, else 404.",
        body=factor.REBUILD_BODY,
        errors=(*_SID, 404),
        control=True,
    ),
    Operation(
        "get",
        "/api/factor/catalog",
        "factor",
        "The factors and overlay features this server draws (§4.9)",
        "`{schema_version, factors: [{key, label, default_visible, sub_features}]}` in "
        "dependency order; takes no parameters and is never gated.",
    ),
    Operation(
        "get",
        "/api/draw/delta",
        "draw",
        "Overlay instructions since a cursor (§5)",
        query=factor.DRAW_DELTA_QUERY,
        errors=(*_SID, 409),
    ),
    Operation(
        "get",
        "/api/frame/at_time",
        "frame",
        "Slices and draw state at a time (§6)",
        query=factor.AT_TIME_QUERY,
        errors=(*_SID, 404, 409),
    ),
    Operation(
        "get",
        "/api/frame/live",
        "frame",
        "Slices and draw state at the head (§6)",
        query=factor.FRAME_LIVE_QUERY,
        errors=(*_SID, 404, 409),
    ),
    Operation(
        "post",
        "/api/replay/prepare",
        "replay",
        "Align a replay and bring the ledgers up to it (§7.1)",
        body=replay.PREPARE_BODY,
        errors=(*_SID, 404, 409),
    ),
    Operation(
        "post",
        "/api/replay/ensure_coverage",
        "replay",
        "Backfill enough candles for a replay (§7.2)",
        body=coverage.ENSURE_BODY,
        errors=_SID,
        control=True,
    ),
    Operation(
        "get",
        "/api/replay/coverage_status",
        "replay",
        "A coverage job's status (§7.2)",
        query=coverage.STATUS_QUERY,
        errors=(404, 422),
    ),
    Operation(
        "post",
        "/api/replay/build",
        "replay",
        "Build (or find) a replay package (§7.3)",
        body=replay.BUILD_BODY,
        errors=(*_SID, 404, 409, 503),
    ),
    Operation(
        "get",
        "/api/replay/status",
        "replay",
        "A replay job's status (§7.4)",
        query=replay.STATUS_QUERY,
        errors=(404, 422, 503),
    ),
    Operation(
        "get",
        "/api/replay/window",
        "replay",
        "One window of a replay package (§7.5)",
        'An integer target_idx outside the package is `422 {"detail":"target_idx_out_of_range"}`.',
        query=replay.WINDOW_QUERY,
        errors=(404, 422, 503),
    ),
    Operation(
        "get",
        "/api/market/debug/ingest_state",
        "operator",
        "Ingest jobs and live series actors (§2.6)",
        DEBUG,
        errors=(404,),
        control=True,
    ),
    Operation(
        "get",
        "/api/market/debug/metrics",
        "operator",
        "Runtime metrics as JSON (§2.7)",
        DEBUG + " Needs TRADE_CANVAS_ENABLE_RUNTIME_METRICS=1 too.",
        errors=(404,),
        control=True,
    ),
    Operation(
        "get",
        "/api/market/debug/series_health",
        "operator",
        "Gaps and base-bucket completeness of a series (§2.8)",
        DEBUG,
        query=operator.SERIES_HEALTH_QUERY,
        errors=(*_SID, 404),
        control=True,
    ),
    Operation(
        "get",
        "/api/market/health",
        "operator",
        "A series' lag and backfill (§2.9)",
        "Needs TRADE_CANVAS_ENABLE_KLINE_HEALTH_V2=1 or the debug API, else 404.",
        query=operator.HEALTH_QUERY,
        errors=(*_SID, 404),
    ),
    Operation(
        "get",
        "/metrics",
        "operator",
        "Prometheus exposition (§2.7)",
        "Needs TRADE_CANVAS_ENABLE_RUNTIME_METRICS=1, else 404.",
        ok="Prometheus text format.",
        ok_type="text/plain",
        errors=(404,),
        control=True,
    ),
    Operation(
        "get",
        "/api/market/top_markets",
        "market",
        "Top markets by 24 h quote volume (§2.10)",
        'An exchange other than binance is `400 {"detail":"unsupported exchange"}`.',
        query=TOP_MARKETS_QUERY,
        errors=(400, 422, 429, 502),
    ),
    Operation(
        "get",
        "/api/market/top_markets/stream",
        "market",
        "Server-sent events of the top markets (§2.11)",
        "`event: top_markets` when the list changes, `event: error` on upstream "
        "failure, a `: ping` comment each interval. The token may be given as the query "
        "parameter `access_token`.",
        query=TOP_MARKETS_STREAM_QUERY,
        ok="An event stream.",
        ok_type="text/event-stream",
        errors=(400, 422),
    ),
    Operation(
        "get",
        "/healthz",
        "process",
        "Liveness: status, uptime and version",
        "Always on and never behind the token.",
    ),
    Operation("get", "/", "pages", "The chart page (§10)", ok="HTML page.", ok_type="text/html"),
    Operation(
        "get",
        "/static/{filename}",
        "pages",
        "The chart page's files (§10)",
        ok="A static file (JS, CSS, SVG, PNG) with cache headers.",
        ok_type="application/octet-stream",
        errors=(404,),
        path_params=("filename",),
    ),
    Operation("get", "/openapi.json", "docs", "This document"),
    Operation(
        "get",
        "/docs",
        "docs",
        "The API reference page, rendered from this document",
        ok="HTML page.",
        ok_type="text/html",
    ),
)
