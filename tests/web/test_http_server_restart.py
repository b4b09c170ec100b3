"""The HTTP server task is supervised: if hypercorn's serve raises, it serves again."""

from __future__ import annotations

import httpx
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
        assert calls[1] == [f"127.0.0.1:{server.port}"]
        with trio.fail_after(10):
            while True:
                try:
                    async with http_client(server) as client:
                        r = await client.get("/api/market/candles", params={"series_id": SID})
                        break
                except httpx.TransportError:  # between the two serves
                    await trio.sleep(0.05)
        assert [c["candle_time"] for c in r.json()["candles"]] == [60]
