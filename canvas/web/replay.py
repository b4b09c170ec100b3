"""Replay routes (§7.1, §7.3-§7.5): validate, ask the series actor or the job runner, reply."""

from __future__ import annotations

import json

from quart import Blueprint, Response, current_app, request

from actors import messages as msg
from actors.replay_jobs import ReplayRunner
from canvas.errors import CanvasError, NotFound
from canvas.replay.jobs import DONE
from canvas.replay.package import window_bounds
from canvas.schema import SERIES_ID, Field, Schema
from canvas.series_id import SeriesId
from canvas.web.app import deps_of
from canvas.web.json_response import json_response

blueprint = Blueprint("replay", __name__)

WINDOW_CANDLES_MAX = 5000
WINDOW_SIZE_MAX = 2000
SNAPSHOT_INTERVAL_MAX = 200
# The largest time a query string can carry (18 digits); SQLite integers stop at 2**63.
TIME_MAX = 10**18 - 1

TO_TIME = Field("to_time", "integer", lo=0, hi=TIME_MAX, nullable=True)
WINDOW = Field(
    "window_candles", "integer", default=2000, lo=1, hi=WINDOW_CANDLES_MAX, nullable=True
)
PREPARE_BODY = Schema("body", SERIES_ID, TO_TIME, WINDOW)
BUILD_BODY = Schema(
    "body",
    SERIES_ID,
    TO_TIME,
    WINDOW,
    Field("window_size", "integer", default=500, lo=1, hi=WINDOW_SIZE_MAX, nullable=True),
    Field(
        "snapshot_interval", "integer", default=25, lo=1, hi=SNAPSHOT_INTERVAL_MAX, nullable=True
    ),
)
JOB_ID = Field("job_id", "string", required=True)
STATUS_QUERY = Schema("query", JOB_ID, Field("include_preload", "boolean", default=False))
WINDOW_QUERY = Schema("query", JOB_ID, Field("target_idx", "integer", required=True))


class TargetOutOfRange(CanvasError):
    """An integer `target_idx` outside the package's bars (§7.5)."""

    status = 422
    detail = "target_idx_out_of_range"


def _runner() -> ReplayRunner:
    return deps_of(current_app).replay


def _raw_json(*parts: bytes) -> Response:
    """A reply assembled from stored JSON fragments, sent without re-encoding them."""
    return Response(b"".join(parts), status=200, content_type="application/json")


@blueprint.post("/api/replay/prepare")
async def prepare():
    body = PREPARE_BODY.parse(await request.get_data())
    series = SeriesId.parse(body["series_id"])
    to_time, window = body["to_time"], body["window_candles"]
    reply = await deps_of(current_app).directory.ask(series, msg.ReplayPrepare(to_time, window))
    return json_response(reply)


@blueprint.post("/api/replay/build")
async def build():
    body = BUILD_BODY.parse(await request.get_data())
    series = SeriesId.parse(body["series_id"])
    to_time, window = body["to_time"], body["window_candles"]
    size, every = body["window_size"], body["snapshot_interval"]
    runner = _runner()
    directory = deps_of(current_app).directory
    build_plan = await directory.ask(series, msg.ReplayPlan(to_time, window, size, every))
    return json_response(runner.submit(build_plan))


@blueprint.get("/api/replay/status")
async def status():
    q = STATUS_QUERY.parse(request.args)
    job_id, preload = q["job_id"], q["include_preload"]
    runner = _runner()
    record = runner.record(job_id)
    if record is None:
        raise NotFound()
    reply = record.status_reply()
    if not preload or record.status != DONE:
        return json_response(reply)
    parts = await runner.read_window(job_id, record.window_count - 1, with_snapshots=False)
    if parts is None:
        raise NotFound()
    head = json.dumps(reply, separators=(",", ":"))[:-1].encode()
    return _raw_json(head, b',"preload_window":', parts[0], b"}")


@blueprint.get("/api/replay/window")
async def window():
    q = WINDOW_QUERY.parse(request.args)
    job_id, target = q["job_id"], q["target_idx"]
    runner = _runner()
    record = runner.record(job_id)
    if record is None or record.status != DONE:
        raise NotFound()
    total = record.metadata["total_candles"]
    if not 0 <= target < total:
        raise TargetOutOfRange()
    index, _, _ = window_bounds(target, record.metadata["window_size"], total)
    parts = await runner.read_window(job_id, index)
    if parts is None:
        raise NotFound()
    return _raw_json(
        b'{"job_id":',
        json.dumps(job_id).encode(),
        b',"window":',
        parts[0],
        b',"factor_snapshots":',
        parts[1],
        b"}",
    )
