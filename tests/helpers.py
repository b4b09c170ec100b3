"""Test helpers: settings on a temp data dir, an in-process server, candle builders."""

from __future__ import annotations

import json
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import trio
import trio_websocket
import wsproto.utilities

from canvas.server import Server
from canvas.settings import Settings

SID = "binance:futures:BTC/USDT:1m"


def settings_for(tmp_path: Path, **overrides: Any) -> Settings:
    whitelist = tmp_path / "whitelist.json"
    if not whitelist.exists():
        whitelist.write_text('{"series_ids": []}')
    base = dict(
        DATA_DIR=str(tmp_path / "data"),
        PORT=0,
        HOST="127.0.0.1",
        WHITELIST_PATH=str(whitelist),
        ENABLE_INGEST=False,
        WS_PING_INTERVAL_S=0.2,
    )
    base.update(overrides)
    return Settings.load(environ={}, **base)


def candle(
    t: int,
    o: float = 1.0,
    h: float | None = None,
    low: float | None = None,
    c: float | None = None,
    v: float = 1.0,
) -> dict[str, Any]:
    c = o if c is None else c
    h = max(o, c) if h is None else h
    low = min(o, c) if low is None else low
    return {"candle_time": t, "open": o, "high": h, "low": low, "close": c, "volume": v}


@asynccontextmanager
async def running_server(tmp_path: Path, **overrides: Any):
    """Start a real Canvas (hypercorn on 127.0.0.1:0); stop it when the block ends."""
    server = Server(settings_for(tmp_path, **overrides))
    async with trio.open_nursery() as nursery:
        await nursery.start(server.run)
        try:
            yield server
        finally:
            server.request_stop()


@asynccontextmanager
async def http_client(server: Server):
    async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as client:
        yield client


async def ingest(
    client: httpx.AsyncClient, series_id: str, *candles: dict[str, Any], publish: bool = True
) -> httpx.Response:
    if len(candles) == 1 and publish:
        r = await client.post(
            "/api/market/ingest/candle_closed", json={"series_id": series_id, "candle": candles[0]}
        )
    else:
        r = await client.post(
            "/api/market/ingest/candles_closed_batch",
            json={"series_id": series_id, "candles": list(candles), "publish_ws": publish},
        )
    assert r.status_code == 200, r.text
    return r


@asynccontextmanager
async def ws_client(server: Server, **kwargs: Any):
    """A trio-websocket client on a TCP stream the test owns and always closes.

    trio-websocket 0.12 can leave its socket to the garbage collector when the server ends the
    connection, and can fail answering a ping while it closes; so the test drops the TCP
    connection itself at the end (the server sees a disconnect, as with a vanished browser).
    """
    stream = await trio.open_tcp_stream("127.0.0.1", server.port)
    try:
        async with trio.open_nursery() as nursery:
            ws = await trio_websocket.wrap_client_stream(
                nursery, stream, f"127.0.0.1:{server.port}", "/ws/market", **kwargs
            )
            try:
                yield ws
            finally:
                nursery.cancel_scope.cancel()
    except* wsproto.utilities.LocalProtocolError as group:
        # The client library's reader answers a server ping that arrives after the test began
        # closing the socket (`ws.aclose()`), and wsproto refuses to send it: a client bug in
        # teardown, not the server's. Anything else is re-raised.
        rest = group.subgroup(
            lambda e: not isinstance(e, BaseExceptionGroup)
            and "LOCAL_CLOSING" not in str(e)
            and "CLOSED" not in str(e)
        )
        if rest is not None:
            raise rest from None
    finally:
        await trio.aclose_forcefully(stream)


async def recv_json(ws: trio_websocket.WebSocketConnection, timeout: float = 10) -> dict[str, Any]:
    with trio.fail_after(timeout):
        return json.loads(await ws.get_message())


async def assert_silent(ws: trio_websocket.WebSocketConnection, seconds: float = 0.3) -> None:
    """Nothing arrives within `seconds` (used after an ack round-trip, not as a wait)."""
    with trio.move_on_after(seconds):
        msg = await ws.get_message()
        raise AssertionError(f"unexpected message {msg}")


async def eventually(check, timeout: float = 10, interval: float = 0.02):
    """Poll `await check()` until it returns a truthy value (returned), failing after
    `timeout` seconds. For state owned by another task or process that the test can only
    observe from outside (an HTTP snapshot, a ledger read)."""
    with trio.fail_after(timeout):
        while True:
            result = await check()
            if result:
                return result
            await trio.sleep(interval)
