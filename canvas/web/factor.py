"""Factor, draw and frame routes (§4.4, §4.5, §4.9, §5, §6): validate, ask the series actor,
reply."""

from __future__ import annotations

from typing import Any

from quart import Blueprint, current_app, request

from actors import messages as msg
from canvas.errors import NotFound
from canvas.factors.catalog import factor_catalog
from canvas.schema import SERIES_ID, Field, Schema
from canvas.series_id import SeriesId
from canvas.web.app import deps_of
from canvas.web.json_response import json_response

blueprint = Blueprint("factor", __name__)

WINDOW_MAX = 5000

WINDOW = Field("window_candles", "integer", default=2000, lo=1, hi=WINDOW_MAX)
AT_TIME_QUERY = Schema("query", SERIES_ID, Field("at_time", "integer", required=True, lo=0), WINDOW)
REBUILD_BODY = Schema(
    "body", SERIES_ID, Field("include_overlay", "boolean", default=True, nullable=True)
)
DRAW_DELTA_QUERY = Schema(
    "query",
    SERIES_ID,
    Field("cursor_version_id", "integer", default=0, lo=0),
    WINDOW,
    Field("at_time", "integer", lo=0),
)
FRAME_LIVE_QUERY = Schema("query", SERIES_ID, WINDOW)


async def _at_time_read(message: type[msg.FactorSlices] | type[msg.Frame]) -> Any:
    """Routes taking series_id, a required at_time and window_candles."""
    q = AT_TIME_QUERY.parse(request.args)
    series = SeriesId.parse(q["series_id"])
    reply = await deps_of(current_app).directory.ask(
        series, message(q["at_time"], q["window_candles"])
    )
    return json_response(reply)


@blueprint.get("/api/factor/slices")
async def slices():
    return await _at_time_read(msg.FactorSlices)


@blueprint.get("/api/factor/catalog")
async def catalog():
    """§4.9: the factors and features this server draws; no flags, never gated."""
    return json_response(factor_catalog())


@blueprint.post("/api/factor/rebuild")
async def rebuild():
    if not deps_of(current_app).settings.enable_factor_rebuild:
        raise NotFound()
    body = REBUILD_BODY.parse(await request.get_data())
    series = SeriesId.parse(body["series_id"])
    include_overlay = body["include_overlay"]
    reply = await deps_of(current_app).directory.ask(series, msg.RebuildAnalytics(include_overlay))
    return json_response(reply)


@blueprint.get("/api/draw/delta")
async def draw_delta():
    q = DRAW_DELTA_QUERY.parse(request.args)
    series = SeriesId.parse(q["series_id"])
    cursor, window, at_time = q["cursor_version_id"], q["window_candles"], q["at_time"]
    reply = await deps_of(current_app).directory.ask(series, msg.DrawDelta(cursor, window, at_time))
    return json_response(reply)


@blueprint.get("/api/frame/at_time")
async def frame_at_time():
    return await _at_time_read(msg.Frame)


@blueprint.get("/api/frame/live")
async def frame_live():
    q = FRAME_LIVE_QUERY.parse(request.args)
    series = SeriesId.parse(q["series_id"])
    reply = await deps_of(current_app).directory.ask(series, msg.Frame(None, q["window_candles"]))
    return json_response(reply)
