"""The HTTP server task is supervised: if hypercorn's serve raises, it serves again."""

from __future__ import annotations

import shutil

import httpx
import pytest
import trio

import canvas.server
from helpers import SID, candle, http_client, ingest, running_server


async def test_serve_failure_restarts_on_the_same_port(tmp_path, monkeypatch):
    real = canvas.server.hypercorn_serve
    boom = trio.Event()
    calls = []

    async def flaky(app, config, *, shutdown_trigger, task_status):
        calls.append(list(config.bind))
        if len(calls) == 1:

            async def trigger():
                await boom.wait()

            await real(app, config, shutdown_trigger=trigger, task_status=task_status)
            raise RuntimeError("simulated failure inside hypercorn serve")
        return await real(app, config, shutdown_trigger=shutdown_trigger, task_status=task_status)

    monkeypatch.setattr(canvas.server, "hypercorn_serve", flaky)
    async with running_server(tmp_path) as server:
        async with http_client(server) as client:
            await ingest(client, SID, candle(60))
        boom.set()
        with trio.fail_after(10):
            while len(calls) < 2:
                await trio.sleep(0.01)
        assert calls[1][0].startswith("fd://")  # a fresh socket, bound to the same port:
        with trio.fail_after(10):
            while True:
                try:
                    async with http_client(server) as client:
                        r = await client.get("/api/market/candles", params={"series_id": SID})
                        break
                except httpx.TransportError:  # between the two serves
                    await trio.sleep(0.05)
        assert [c["candle_time"] for c in r.json()["candles"]] == [60]


async def test_accepted_connections_carry_tcp_keepalive(tmp_path):
    """Dead peers are dropped by TCP keepalive/user timeout set on the listening socket and
    inherited by every connection; `ss` shows the keepalive timer on the server's side."""
    ss = shutil.which("ss")
    if ss is None:
        pytest.skip("iproute2's ss is not installed")
    async with running_server(tmp_path) as server:
        stream = await trio.open_tcp_stream("127.0.0.1", server.port)
        async with stream:
            local_port = stream.socket.getsockname()[1]
            out = await trio.run_process(
                [ss, "-tno", "state", "established", f"( sport = :{server.port} )"],
                capture_stdout=True,
            )
        lines = [ln for ln in out.stdout.decode().splitlines() if f":{local_port}" in ln]
        assert lines and "keepalive" in lines[0], out.stdout.decode()
