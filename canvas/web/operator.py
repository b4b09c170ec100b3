"""The operator's view (§2.6–2.9): ingest_state, series_health, health, metrics.

Which of these routes are on (feature flags) and who may call them (the token) is decided
before they run, in `canvas.web.guard`.
"""

from __future__ import annotations

import time

import trio
from quart import Blueprint, Response, current_app, request

from actors import messages as msg
from canvas import health
from canvas.metrics_export import CONTENT_TYPE as PROMETHEUS_CONTENT_TYPE
from canvas.schema import SERIES_ID, Field, Schema
from canvas.series_id import SeriesId
from canvas.web.app import AppDeps, deps_of
from canvas.web.json_response import json_response

blueprint = Blueprint("operator", __name__)

SERIES_HEALTH_QUERY = Schema(
    "query",
    SERIES_ID,
    Field("max_recent_gaps", "integer", default=5, lo=1, hi=50),
    Field("recent_base_buckets", "integer", default=8, lo=1, hi=48),
)
HEALTH_QUERY = Schema(
    "query", SERIES_ID, Field("now_time", "integer", lo=0, description="overrides the clock")
)


def _deps() -> AppDeps:
    return deps_of(current_app)


@blueprint.get("/api/market/debug/series_health")
async def series_health():
    deps = _deps()
    q = SERIES_HEALTH_QUERY.parse(request.args)
    series = SeriesId.parse(q["series_id"])
    max_gaps, buckets = q["max_recent_gaps"], q["recent_base_buckets"]
    gaps = await deps.directory.ask(series, msg.GapScan(max_gaps))
    completeness = []
    if series.tf > health.BASE_TF:
        base = series.with_timeframe(health.BASE_TIMEFRAME)
        completeness = await deps.directory.ask(base, msg.BucketMinutes(series.tf, buckets))
    now = int(deps.clock())
    return json_response(health.series_health(series, now, gaps, completeness))


@blueprint.get("/api/market/health")
async def market_health():
    deps = _deps()
    q = HEALTH_QUERY.parse(request.args)
    series = SeriesId.parse(q["series_id"])
    now_time = q["now_time"]
    reply = await deps.directory.ask(series, msg.QueryCandles(None, 1))
    now = int(deps.clock()) if now_time is None else now_time
    backfill = deps.ingest.backfill_progress(str(series))
    return json_response(health.market_health(series, now, reply.head, backfill))


@blueprint.get("/api/market/debug/ingest_state")
async def ingest_state():
    deps = _deps()
    # Read every handle in one synchronous pass: actors publish their heads on the event loop,
    # so this is one consistent snapshot and never waits on a busy actor.
    series = []
    subscriptions: dict[str, int] = {}
    for handle in deps.directory.live():
        lagging = sum(1 for s in handle.subscribers.values() if s.lagging)
        series.append(
            {
                "series_id": handle.series_id,
                "state": handle.state,
                "mailbox_depth": handle.mailbox_depth(),
                "store_head_time": handle.store_head,
                "factor_head_time": handle.factor_head,
                "overlay_head_time": handle.overlay_head,
                "subscribers": len(handle.subscribers),
                "lagging_subscribers": lagging,
                "crashes": handle.crashes,
                "last_error": handle.last_error,
            }
        )
        if handle.subscribers:
            subscriptions[handle.series_id] = len(handle.subscribers)
    jobs = deps.ingest.snapshot()
    await trio.lowlevel.checkpoint()
    return json_response(
        {
            "note": "debug snapshot (structure may change)",
            "generated_at_ms": int(time.time() * 1000),
            "ingest_enabled": deps.settings.enable_ingest,
            "jobs": jobs,
            "subscriptions": subscriptions,
            "series": series,
        }
    )


@blueprint.get("/api/market/debug/metrics")
async def metrics_json():
    deps = _deps()
    return json_response(deps.metrics.snapshot(int(time.time() * 1000)))


@blueprint.get("/metrics")
async def metrics_prometheus():
    export = _deps().prometheus
    # Reading /proc for the process_* metrics is a few small file reads: fine on the loop.
    return Response(export.render(), content_type=PROMETHEUS_CONTENT_TYPE)
