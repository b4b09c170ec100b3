"""Top markets by 24 h quote volume (§2.10) and their server-sent event stream (§2.11)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import trio
from quart import Blueprint, Response, current_app, request

from canvas.errors import ServiceUnavailable, UpstreamError
from canvas.exchange.rest import BinanceRest
from canvas.markets import (
    MarketItem,
    TopMarketsStreamQuery,
    parse_top_markets_query,
    parse_top_markets_stream_query,
)
from canvas.sse import sse_error, sse_event, sse_ping
from canvas.web.app import AppDeps, deps_of
from canvas.web.json_response import json_response
from canvas.web.top_markets_state import TopMarkets

blueprint = Blueprint("top_markets", __name__)

SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def _rest_client(deps: AppDeps) -> BinanceRest:
    # The ingest supervisor owns the process's one Binance REST client (it runs even with
    # ingest disabled), so the list shares its connection pool and configured base URLs.
    rest = deps.ingest.rest
    if rest is None:
        raise ServiceUnavailable()
    return rest


def _now_ms(deps: AppDeps) -> int:
    return int(deps.clock() * 1000)


@blueprint.get("/api/market/top_markets")
async def top_markets():
    query = parse_top_markets_query(request.args)
    deps = deps_of(current_app)
    service = deps.top_markets
    if query.force:
        service.limiter.check(request.remote_addr or "", query.market)
    _, body = await service.build(_rest_client(deps), query, _now_ms(deps), force=query.force)
    return json_response(body)


@blueprint.get("/api/market/top_markets/stream")
async def top_markets_stream():
    stream_query = parse_top_markets_stream_query(request.args)
    deps = deps_of(current_app)
    frames = _frames(deps.top_markets, _rest_client(deps), stream_query, deps)
    response = Response(frames, content_type="text/event-stream", headers=SSE_HEADERS)
    # Quart would otherwise cut the stream after RESPONSE_TIMEOUT (60 s).
    response.timeout = None
    return response


async def _frames(
    service: TopMarkets, rest: BinanceRest, stream_query: TopMarketsStreamQuery, deps: AppDeps
) -> AsyncIterator[str]:
    """The §2.11 frames until `max_events` or server shutdown.

    Everything it needs is captured up front: the body is iterated outside the request
    context. When the client goes away Quart cancels the handler and closes this generator,
    so the stream ends at its next checkpoint and leaves nothing behind.
    """
    query, max_events = stream_query.query, stream_query.max_events
    last_items: list[MarketItem] | None = None
    events = 0
    with service.streaming():
        while True:
            frame = None
            try:
                items, body = await service.build(rest, query, _now_ms(deps), force=False)
            except UpstreamError as exc:
                frame = sse_error(str(exc.detail), _now_ms(deps))
            else:
                if items != last_items:
                    last_items = items
                    frame = sse_event(body["generated_at_ms"], "top_markets", body)
            if frame is not None:
                events += 1
                yield frame
                if max_events and events >= max_events:
                    return
            yield sse_ping(int(deps.clock()))
            # Sleep one interval, but end at once on shutdown rather than hold the server's
            # graceful stop for its whole budget.
            with trio.move_on_after(stream_query.interval_s):
                await deps.shutting_down.wait()
            if deps.shutting_down.is_set():
                return
