"""Market routes (§2.1–2.5): candle pages, closed/forming/batch ingest, whitelist."""

from __future__ import annotations

from quart import Blueprint, Response, current_app, request

from actors import messages as msg
from canvas.candles import candle_problems
from canvas.errors import NotFound, ValidationFailed
from canvas.series_id import SeriesId
from canvas.web.app import deps_of
from canvas.web.json_response import json_response
from canvas.web.params import Body, Query, parse_json_body
from canvas.ws_frames import candles_array_json, dumps

blueprint = Blueprint("market", __name__)

BATCH_MAX = 20_000


@blueprint.get("/api/market/candles")
async def candles():
    q = Query(request.args)
    raw = q.string("series_id")
    since = q.integer("since", lo=0)
    before = q.integer("before", lo=0)
    limit = q.integer("limit", default=500, lo=1, hi=5000)
    q.done()
    series = SeriesId.parse(raw)
    deps = deps_of(current_app)
    with deps.routes["candles"].measure():
        reply = await deps.directory.ask(series, msg.QueryCandles(since, limit, before))
    if reply.head is not None:
        lag = deps.metrics.gauge("market_query_head_lag_seconds", series_id=str(series))
        lag.set(deps.clock() - reply.head)
    head = "null" if reply.head is None else str(int(reply.head))
    body = (
        f'{{"series_id":{dumps(str(series))},"server_head_time":{head},'
        f'"candles":{candles_array_json(reply.rows)}}}'
    )
    return Response(body, content_type="application/json")


async def _single_candle_body() -> tuple[SeriesId, tuple]:
    body = Body(parse_json_body(await request.get_data()))
    raw_sid = body.string("series_id")
    candle = body.raw("candle")
    body.done()
    series = SeriesId.parse(raw_sid)
    problems = candle_problems(candle, series.tf, ["body", "candle"])
    if problems:
        raise ValidationFailed(problems)
    return series, _row(candle)


def _row(c: dict) -> tuple:
    return (
        c["candle_time"],
        float(c["open"]),
        float(c["high"]),
        float(c["low"]),
        float(c["close"]),
        float(c["volume"]),
    )


@blueprint.post("/api/market/ingest/candle_closed")
async def ingest_closed():
    deps = deps_of(current_app)
    with deps.routes["ingest"].measure():
        series, row = await _single_candle_body()
        await deps.directory.ask(series, msg.IngestClosed([row]))
    return json_response({"ok": True, "series_id": str(series), "candle_time": row[0]})


@blueprint.post("/api/market/ingest/candle_forming")
async def ingest_forming():
    if not deps_of(current_app).settings.enable_debug_api:
        raise NotFound()
    series, row = await _single_candle_body()
    await deps_of(current_app).directory.ask(series, msg.IngestForming(row))
    return json_response({"ok": True, "series_id": str(series), "candle_time": row[0]})


@blueprint.post("/api/market/ingest/candles_closed_batch")
async def ingest_batch():
    with deps_of(current_app).routes["ingest"].measure():
        return await _ingest_batch()


async def _ingest_batch():
    body = Body(parse_json_body(await request.get_data()))
    raw_sid = body.string("series_id")
    candles = body.raw("candles")
    publish = body.boolean("publish_ws", default=True)
    body.done()
    if not isinstance(candles, list):
        raise ValidationFailed.one(["body", "candles"], "value must be a list", "type_error")
    if not 1 <= len(candles) <= BATCH_MAX:
        raise ValidationFailed.one(
            ["body", "candles"], f"list must hold 1 to {BATCH_MAX} candles", "value_error"
        )
    series = SeriesId.parse(raw_sid)
    problems = []
    for i, c in enumerate(candles):
        problems.extend(candle_problems(c, series.tf, ["body", "candles", i]))
        if len(problems) >= 50:
            break
    if problems:
        raise ValidationFailed(problems)
    by_time = {c["candle_time"]: c for c in candles}  # last one wins
    rows = [_row(by_time[t]) for t in sorted(by_time)]
    await deps_of(current_app).directory.ask(series, msg.IngestClosed(rows, publish))
    return json_response(
        {
            "ok": True,
            "series_id": str(series),
            "count": len(rows),
            "first_candle_time": rows[0][0],
            "last_candle_time": rows[-1][0],
        }
    )


@blueprint.get("/api/market/whitelist")
async def whitelist():
    return json_response({"series_ids": list(deps_of(current_app).whitelist)})
