"""Replay coverage routes (§7.2): ensure_coverage and coverage_status."""

from __future__ import annotations

from quart import Blueprint, current_app, request

from canvas.errors import NotFound
from canvas.schema import SERIES_ID, Field, Schema
from canvas.series_id import SeriesId
from canvas.web.app import deps_of
from canvas.web.json_response import json_response

blueprint = Blueprint("coverage", __name__)

ENSURE_BODY = Schema(
    "body",
    SERIES_ID,
    Field("target_candles", "integer", default=2000, lo=1, hi=5000, nullable=True),
    Field("to_time", "integer", lo=0, nullable=True),
)
STATUS_QUERY = Schema("query", Field("job_id", "string", required=True))


@blueprint.post("/api/replay/ensure_coverage")
async def ensure_coverage():
    body = ENSURE_BODY.parse(await request.get_data())
    series = SeriesId.parse(body["series_id"])
    target, to_time = body["target_candles"], body["to_time"]
    service = deps_of(current_app).coverage
    return json_response(await service.ensure(series, target, to_time))


@blueprint.get("/api/replay/coverage_status")
async def coverage_status():
    job_id = STATUS_QUERY.parse(request.args)["job_id"]
    job = deps_of(current_app).coverage.status(job_id)
    if job is None:
        raise NotFound()
    return json_response(job.as_json())
