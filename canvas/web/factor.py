"""Factor, draw and frame routes (§4.4, §4.5, §5, §6): validate, ask the series actor, reply."""

from __future__ import annotations

from typing import Any

from quart import Blueprint, current_app, request

from actors import messages as msg
from canvas.errors import NotFound
from canvas.series_id import SeriesId
from canvas.web.app import deps_of
from canvas.web.json_response import json_response
from canvas.web.params import Body, Query, parse_json_body

blueprint = Blueprint("factor", __name__)

WINDOW_MAX = 5000


def _window(q: Query) -> int:
    return q.integer("window_candles", default=2000, lo=1, hi=WINDOW_MAX)


async def _at_time_read(message: type[msg.FactorSlices] | type[msg.Frame]) -> Any:
    """Routes taking series_id, a required at_time and window_candles."""
    q = Query(request.args)
    raw = q.string("series_id")
    at_time = q.integer("at_time", required=True, lo=0)
    window = _window(q)
    q.done()
    series = SeriesId.parse(raw)
    reply = await deps_of(current_app).directory.ask(series, message(at_time, window))
    return json_response(reply)


@blueprint.get("/api/factor/slices")
async def slices():
    return await _at_time_read(msg.FactorSlices)


@blueprint.post("/api/factor/rebuild")
async def rebuild():
    if not deps_of(current_app).settings.enable_factor_rebuild:
        raise NotFound()
    body = Body(parse_json_body(await request.get_data()))
    raw = body.string("series_id")
    include_overlay = body.boolean("include_overlay", default=True)
    body.done()
    series = SeriesId.parse(raw)
    reply = await deps_of(current_app).directory.ask(series, msg.RebuildAnalytics(include_overlay))
    return json_response(reply)


@blueprint.get("/api/draw/delta")
async def draw_delta():
    q = Query(request.args)
    raw = q.string("series_id")
    cursor = q.integer("cursor_version_id", default=0, lo=0)
    window = _window(q)
    at_time = q.integer("at_time", lo=0)
    q.done()
    series = SeriesId.parse(raw)
    reply = await deps_of(current_app).directory.ask(series, msg.DrawDelta(cursor, window, at_time))
    return json_response(reply)


@blueprint.get("/api/frame/at_time")
async def frame_at_time():
    return await _at_time_read(msg.Frame)


@blueprint.get("/api/frame/live")
async def frame_live():
    q = Query(request.args)
    raw = q.string("series_id")
    window = _window(q)
    q.done()
    series = SeriesId.parse(raw)
    reply = await deps_of(current_app).directory.ask(series, msg.Frame(None, window))
    return json_response(reply)
