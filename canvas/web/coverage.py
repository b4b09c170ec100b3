"""Replay coverage routes (§7.2): ensure_coverage and coverage_status."""

from __future__ import annotations

from quart import Blueprint, current_app, request

from canvas.errors import NotFound
from canvas.series_id import SeriesId
from canvas.web.app import deps_of
from canvas.web.json_response import json_response
from canvas.web.params import Body, Query, parse_json_body

blueprint = Blueprint("coverage", __name__)


@blueprint.post("/api/replay/ensure_coverage")
async def ensure_coverage():
    body = Body(parse_json_body(await request.get_data()))
    raw = body.string("series_id")
    target = body.integer("target_candles", default=2000, lo=1, hi=5000)
    to_time = body.integer("to_time", lo=0)
    body.done()
    series = SeriesId.parse(raw)
    service = deps_of(current_app).coverage
    return json_response(await service.ensure(series, target, to_time))


@blueprint.get("/api/replay/coverage_status")
async def coverage_status():
    q = Query(request.args)
    job_id = q.string("job_id")
    q.done()
    job = deps_of(current_app).coverage.status(job_id)
    if job is None:
        raise NotFound()
    return json_response(job.as_json())
