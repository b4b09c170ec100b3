"""Fuzz a real server: every route and WebSocket frame type, no 5xx, no hang, nothing invalid
stored. Hypothesis runs in a worker thread and hands each example to the Trio loop, so one
server serves a whole run (and shrinking works as usual).

Budget: `HYPOTHESIS_PROFILE=ci` runs a small set; the default `dev` profile a larger one.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
import trio
from helpers import http_client, running_server
from hypothesis import given, settings
from rawhttp import RawWebSocket
from strategies import SERIES, http_request, ingest_request, ws_frames
from wsproto.events import BytesMessage, CloseConnection, TextMessage

from canvas.candles import candle_problems
from canvas.series_id import SeriesId
from canvas.web.app import create_app

CI = os.environ.get("HYPOTHESIS_PROFILE") == "ci"
HTTP_EXAMPLES = 150 if CI else 600
WS_EXAMPLES = 40 if CI else 150
# Answers the contract gives for a failing outside world (no exchange is reachable here).
UPSTREAM_OK = {"/api/market/top_markets": {502}, "/api/market/top_markets/stream": {502}}
OFFLINE = "http://127.0.0.1:1"


def _fuzz_server(tmp_path: Path):
    return running_server(
        tmp_path,
        ENABLE_DEBUG_API=True,
        ENABLE_RUNTIME_METRICS=True,
        ENABLE_FACTOR_REBUILD=True,
        BINANCE_SPOT_BASE_URL=OFFLINE,
        BINANCE_FUTURES_BASE_URL=OFFLINE,
    )


def _routes(server: Any) -> dict[str, list[str]]:
    """Every HTTP route of the app and its methods (a converter filled with a plain value)."""
    app = create_app(server.deps)
    routes: dict[str, list[str]] = {}
    for rule in app.url_map.iter_rules():
        if rule.websocket:
            continue
        path = rule.rule
        while "<" in path:
            head, _, rest = path.partition("<")
            path = head + "fuzz" + rest.partition(">")[2]
        routes.setdefault(path, []).extend(sorted(rule.methods - {"HEAD", "OPTIONS"}))
    return routes


def _url(req: dict[str, Any]) -> str:
    """Path and query percent-encoded by hand: raw bytes, lone surrogates included."""
    query = "&".join(
        f"{quote(k)}={quote(v.encode('utf-8', 'surrogatepass'))}" for k, v in req["query"].items()
    )
    return req["path"] + ("?" + query if query else "")


async def _send(client: httpx.AsyncClient, req: dict[str, Any]) -> int:
    with trio.fail_after(15):
        async with client.stream(
            req["method"], _url(req), headers=req["headers"], content=req["body"]
        ) as response:
            async for _ in response.aiter_raw():
                pass
            return response.status_code


def _check_stored(rows: list[dict[str, Any]], series: str) -> None:
    tf = SeriesId.parse(series).tf
    for row in rows:
        assert candle_problems(row, tf, ["stored"]) == [], (series, row)
        assert all(isinstance(row[f], float) for f in ("open", "high", "low", "close", "volume"))


@pytest.mark.slow
async def test_fuzz_http_routes(tmp_path):
    async with _fuzz_server(tmp_path) as server, http_client(server) as client:
        routes = _routes(server)
        assert "/api/market/ingest/candle_closed" in routes and "/metrics" in routes

        def check(req: dict[str, Any]) -> None:
            status = trio.from_thread.run(_send, client, req)
            allowed = UPSTREAM_OK.get(req["path"], set())
            assert status < 500 or status in allowed, (status, req)

        any_request = settings(max_examples=HTTP_EXAMPLES)(given(http_request(routes))(check))
        a_write = settings(max_examples=HTTP_EXAMPLES // 2)(given(ingest_request())(check))
        await trio.to_thread.run_sync(any_request)
        await trio.to_thread.run_sync(a_write)
        # The server still answers, and everything it stored is a valid closed candle.
        for series in SERIES:
            r = await client.get("/api/market/candles", params={"series_id": series})
            assert r.status_code == 200
            _check_stored(r.json()["candles"], series)


async def _probe(ws: RawWebSocket) -> None:
    """A frame that must be answered: proves the socket is still served."""
    await ws.send_frames(TextMessage('{"type": "probe"}'))
    while True:
        event = await ws.next_event()
        assert event is not None and not isinstance(event, CloseConnection), event
        if isinstance(event, TextMessage) and "probe" in event.data:
            return


def _too_big(frames: list[tuple[str, Any]]) -> bool:
    return any(kind == "text" and len(data.encode()) > 64 * 1024 for kind, data in frames)


async def _ws_round(port: int, frames: list[tuple[str, Any]]) -> None:
    with trio.fail_after(15):
        ws = await RawWebSocket.connect(port)
        try:
            await ws.send_frames(
                *(TextMessage(d) if k == "text" else BytesMessage(d) for k, d in frames)
            )
            if _too_big(frames):
                assert await ws.close_code() == 1009
            else:
                await _probe(ws)
        finally:
            await ws.aclose()


@pytest.mark.slow
async def test_fuzz_websocket_frames(tmp_path):
    async with _fuzz_server(tmp_path) as server, http_client(server) as client:

        @settings(max_examples=WS_EXAMPLES)
        @given(ws_frames)
        def one_round(frames: list[tuple[str, Any]]) -> None:
            trio.from_thread.run(_ws_round, server.port, frames)

        await trio.to_thread.run_sync(one_round)
        r = await client.get("/api/market/debug/ingest_state")
        assert r.status_code == 200
        assert json.loads(r.text)["subscriptions"] == {}
