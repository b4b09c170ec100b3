"""Market routes (§2.1–2.5): candle pages, closed/forming/batch ingest, whitelist."""

from __future__ import annotations

from quart import Blueprint, Response, current_app, request

from actors import messages as msg
from canvas.candles import candle_problems, candle_row
from canvas.errors import NotFound, ValidationFailed
from canvas.schema import SERIES_ID, Field, Schema
from canvas.series_id import SeriesId
from canvas.web.app import deps_of
from canvas.web.json_response import json_response
from canvas.ws_frames import candles_array_json, dumps

blueprint = Blueprint("market", __name__)

BATCH_MAX = 20_000
# At most this many candle problems are listed for one batch: enough to fix a feed by.
BATCH_PROBLEMS_MAX = 50

CANDLES_QUERY = Schema(
    "query",
    SERIES_ID,
    Field("since", "integer", lo=0, description="only candles after this time (exclusive)"),
    Field("before", "integer", lo=0, description="only candles before this time (exclusive)"),
    Field("limit", "integer", default=500, lo=1, hi=5000),
)
CANDLE_BODY = Schema("body", SERIES_ID, Field("candle", "object", required=True, ref="Candle"))
BATCH_BODY = Schema(
    "body",
    SERIES_ID,
    Field("candles", "array", required=True, lo=1, hi=BATCH_MAX, ref="Candle"),
    Field("publish_ws", "boolean", default=True, nullable=True),
)


@blueprint.get("/api/market/candles")
async def candles():
    q = CANDLES_QUERY.parse(request.args)
    series = SeriesId.parse(q["series_id"])
    since, before, limit = q["since"], q["before"], q["limit"]
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
    body = CANDLE_BODY.parse(await request.get_data())
    series = SeriesId.parse(body["series_id"])
    return series, batch_rows([body["candle"]], series.tf, ["body", "candle"])[0]


def batch_rows(candles: list, tf: int, loc: list | None = None) -> list[tuple]:
    """The stored rows of valid candles, in order; raises ValidationFailed naming each problem.

    `loc` is where a single candle sits; by default candles are named by index in the batch.
    """
    rows = [candle_row(c, tf) for c in candles]
    if None not in rows:
        return rows  # type: ignore[return-value]
    problems = []
    for i, row in enumerate(rows):
        if row is None:
            problems.extend(candle_problems(candles[i], tf, loc or ["body", "candles", i]))
            if len(problems) >= BATCH_PROBLEMS_MAX:
                break
    raise ValidationFailed(problems)


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
    body = BATCH_BODY.parse(await request.get_data())
    series = SeriesId.parse(body["series_id"])
    publish = body["publish_ws"]
    by_time = {row[0]: row for row in batch_rows(body["candles"], series.tf)}  # last one wins
    rows = [by_time[t] for t in sorted(by_time)]
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
