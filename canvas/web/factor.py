"""Factor, draw and frame routes (§4.4, §4.5, §4.9, §5, §6): validate, ask the series actor,
reply."""

from __future__ import annotations

from typing import Any

from quart import Blueprint, current_app, request

from actors import messages as msg
from canvas.errors import NotFound
from canvas.factors.catalog import factor_catalog
from canvas.series_id import SeriesId
from canvas.web.app import deps_of
from canvas.web.json_response import json_response
from canvas.web.params import Body, Query, parse_json_body

blueprint = Blueprint("factor", __name__)

WINDOW_MAX = 5000


async def _analytics(series: SeriesId, method: str, **kwargs: Any) -> Any:
    return await deps_of(current_app).directory.ask(series, msg.Analytics(method, kwargs))


def _window(q: Query) -> int:
    return q.integer("window_candles", default=2000, lo=1, hi=WINDOW_MAX)


async def _at_time_read(method: str) -> Any:
    """Routes taking series_id, a required at_time and window_candles."""
    q = Query(request.args)
    raw = q.string("series_id")
    at_time = q.integer("at_time", required=True, lo=0)
    window = _window(q)
    q.done()
    series = SeriesId.parse(raw)
    return json_response(await _analytics(series, method, at_time=at_time, window_candles=window))


@blueprint.get("/api/factor/slices")
async def slices():
    return await _at_time_read("slices")


@blueprint.get("/api/factor/catalog")
async def catalog():
    """§4.9: the factors and features this server draws; no flags, never gated."""
    return json_response(factor_catalog())


@blueprint.post("/api/factor/rebuild")
async def rebuild():
    if not deps_of(current_app).settings.enable_factor_rebuild:
        raise NotFound()
    body = Body(parse_json_body(await request.get_data()))
    raw = body.string("series_id")
    include_overlay = body.boolean("include_overlay", default=True)
    body.done()
    series = SeriesId.parse(raw)
    return json_response(await _analytics(series, "rebuild", include_overlay=include_overlay))


@blueprint.get("/api/draw/delta")
async def draw_delta():
    q = Query(request.args)
    raw = q.string("series_id")
    cursor = q.integer("cursor_version_id", default=0, lo=0)
    window = _window(q)
    at_time = q.integer("at_time", lo=0)
    q.done()
    series = SeriesId.parse(raw)
    return json_response(
        await _analytics(
            series, "draw_delta", cursor_version_id=cursor, window_candles=window, at_time=at_time
        )
    )


@blueprint.get("/api/frame/at_time")
async def frame_at_time():
    return await _at_time_read("frame")


@blueprint.get("/api/frame/live")
async def frame_live():
    q = Query(request.args)
    raw = q.string("series_id")
    window = _window(q)
    q.done()
    series = SeriesId.parse(raw)
    return json_response(await _analytics(series, "frame", at_time=None, window_candles=window))
