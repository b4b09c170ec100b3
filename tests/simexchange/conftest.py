"""A paused simulated exchange per test, so exchange time moves only when a test says so."""

import urllib.parse
from contextlib import asynccontextmanager

import httpx
import pytest
import trio
import trio_websocket

from canvas.simexchange import SimConfig, open_simexchange

START_MS = 1_735_689_630_000  # 2025-01-01 00:00:30 UTC, halfway through a minute


@pytest.fixture
async def sim():
    async with open_simexchange(SimConfig(start_ms=START_MS, speed=0)) as sim:
        yield sim


@pytest.fixture
async def http():
    async with httpx.AsyncClient(timeout=5) as client:
        yield client


@asynccontextmanager
async def ws_client(url):
    """A plain WebSocket client that owns (and always closes) its TCP stream.

    trio-websocket 0.12 leaves the socket open after an abnormal closure, which
    `filterwarnings = error` turns into a failure; owning the stream avoids that.
    """
    parts = urllib.parse.urlsplit(url)
    stream = await trio.open_tcp_stream(parts.hostname, parts.port)
    try:
        async with trio.open_nursery() as nursery:
            host = f"{parts.hostname}:{parts.port}"
            ws = await trio_websocket.wrap_client_stream(nursery, stream, host, parts.path)
            try:
                yield ws
            finally:
                with trio.move_on_after(2, shield=True):
                    await ws.aclose()
                nursery.cancel_scope.cancel()
    finally:
        await trio.aclose_forcefully(stream)
