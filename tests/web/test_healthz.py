"""`GET /healthz` (conventions, rev 4): always on, status, uptime and the package version."""

from __future__ import annotations

from importlib.metadata import version

from helpers import http_client, running_server


async def test_healthz_answers_with_status_uptime_and_version(tmp_path):
    # Every optional feature off: /healthz is not behind any of them.
    server_cm = running_server(tmp_path, ENABLE_DEBUG_API=False)
    async with server_cm as server, http_client(server) as client:
        r = await client.get("/healthz")
        assert r.status_code == 200
        assert r.headers["content-type"] == "application/json"
        body = r.json()
        assert set(body) == {"status", "uptime_s", "version"}
        assert body["status"] == "ok"
        assert isinstance(body["uptime_s"], int) and 0 <= body["uptime_s"] < 600
        assert body["version"] == version("canvas")
        assert body["version"].count(".") == 2
        r = await client.post("/healthz", json={})
        assert r.status_code == 405
