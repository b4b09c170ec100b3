"""Writes from browsers, the access token and the order of checks, on a real server."""

from __future__ import annotations

import json

import pytest
import trio
import trio_websocket
from helpers import SID, candle, http_client, running_server
from rawhttp import RawHttp

from canvas.settings import Settings
from canvas.web.guard import exposure_warning

TOKEN = "tok-3f9a-1"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
INGEST = "/api/market/ingest/candle_closed"
BODY = {"series_id": SID, "candle": candle(60)}
JSON = {"Content-Type": "application/json"}


def _raw(body: object) -> bytes:
    return json.dumps(body).encode()


async def test_post_needs_json_content_type(tmp_path):
    async with running_server(tmp_path) as server, http_client(server) as client:
        for headers in ({"Content-Type": "text/plain"}, {}, {"Content-Type": "application/jsonx"}):
            r = await client.post(INGEST, content=_raw(BODY), headers=headers)
            assert (r.status_code, r.json()) == (415, {"detail": "unsupported_media_type"})
        r = await client.post(
            INGEST, content=_raw(BODY), headers={"Content-Type": "application/json; charset=utf-8"}
        )
        assert r.status_code == 200
        # Nothing was stored by the refused posts (only the last, accepted one).
        r = await client.get("/api/market/candles", params={"series_id": SID})
        assert len(r.json()["candles"]) == 1


async def test_post_from_a_foreign_origin_is_refused(tmp_path):
    async with (
        running_server(tmp_path, CORS_ORIGINS="http://chart.test") as server,
        http_client(server) as client,
    ):
        own = f"http://127.0.0.1:{server.port}"
        for origin, status in (
            ("http://evil.test", 403),
            (f"http://127.0.0.1:{server.port + 1}", 403),
            ("null", 403),
            ("http://chart.test", 200),
            (own, 200),
        ):
            r = await client.post(INGEST, json=BODY, headers={"Origin": origin})
            assert r.status_code == status, origin
            if status == 403:
                assert r.json() == {"detail": "origin_not_allowed"}
        # A read from a foreign origin is still answered (it just gets no CORS headers).
        r = await client.get("/api/market/whitelist", headers={"Origin": "http://evil.test"})
        assert r.status_code == 200 and "access-control-allow-origin" not in r.headers


async def test_order_of_checks(tmp_path):
    evil = {"Origin": "http://evil.test"}
    async with (
        running_server(tmp_path, API_TOKEN=TOKEN) as server,
        http_client(server) as client,
    ):
        # Routing first: unknown 404, wrong method 405, whatever else is wrong.
        r = await client.post("/api/nope", content=b"x", headers=evil)
        assert r.status_code == 404
        r = await client.put(INGEST, content=b"x", headers=evil)
        assert (r.status_code, r.json()) == (405, {"detail": "method_not_allowed"})
        # A route disabled by its flag is 404 before origin and token are looked at.
        r = await client.post("/api/market/ingest/candle_forming", content=b"x", headers=evil)
        assert (r.status_code, r.json()) == (404, {"detail": "not_found"})
        r = await client.get("/api/market/debug/ingest_state", headers=AUTH)
        assert r.status_code == 404
        # Then origin, token, content type, size, validation.
        r = await client.post(INGEST, content=b"x", headers=evil)
        assert r.status_code == 403
        r = await client.post(INGEST, content=b"x", headers={"Content-Type": "text/plain"})
        assert r.status_code == 401
        r = await client.post(INGEST, content=b"x", headers={"Content-Type": "text/plain", **AUTH})
        assert r.status_code == 415
        # (Over 8 MiB: a raw socket, as the server answers without reading the body.)
        conn = await RawHttp.connect(server.port)
        try:
            with trio.fail_after(10):
                size = {"Content-Length": str(9 * 1024 * 1024)}
                await conn.send(conn.head("POST", INGEST, {**JSON, **AUTH, **size}) + b"[")
                status, _, body = await conn.response()
                assert (status, body) == (413, {"detail": "payload_too_large"})
        finally:
            await conn.aclose()
        r = await client.post(INGEST, content=b"{", headers={**JSON, **AUTH})
        assert r.status_code == 422
        r = await client.post(INGEST, json=BODY, headers=AUTH)
        assert r.status_code == 200


async def test_token_on_control_routes(tmp_path):
    async with (
        running_server(
            tmp_path, API_TOKEN=TOKEN, ENABLE_RUNTIME_METRICS=True, ENABLE_DEBUG_API=True
        ) as server,
        http_client(server) as client,
    ):
        control = [
            ("POST", INGEST),
            ("POST", "/api/market/ingest/candles_closed_batch"),
            ("POST", "/api/market/ingest/candle_forming"),
            ("POST", "/api/replay/ensure_coverage"),
            ("GET", "/api/market/debug/ingest_state"),
            ("GET", "/api/market/debug/metrics"),
            ("GET", "/metrics"),
        ]
        for method, path in control:
            for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}):
                r = await client.request(method, path, json={}, headers=headers)
                assert (r.status_code, r.json()) == (401, {"detail": "unauthorized"}), path
                assert r.headers["www-authenticate"] == "Bearer"
            r = await client.request(method, path, json={}, headers=AUTH)
            assert r.status_code != 401, path
        # Scope `control`: reads and the other writes need no token.
        assert (await client.get("/api/market/candles", params={"series_id": SID})).is_success
        r = await client.post("/api/replay/prepare", json={"series_id": SID})
        assert r.status_code == 404  # no_data: past the guard
        # A query-string token is for streams only.
        r = await client.get("/api/market/debug/ingest_state", params={"access_token": TOKEN})
        assert r.status_code == 401


async def test_scope_all(tmp_path):
    async with (
        running_server(tmp_path, API_TOKEN=TOKEN, API_TOKEN_SCOPE="all") as server,
        http_client(server) as client,
    ):
        r = await client.get("/api/market/candles", params={"series_id": SID})
        assert r.status_code == 401
        r = await client.get("/api/market/candles", params={"series_id": SID}, headers=AUTH)
        assert r.status_code == 200
        # The exemptions: liveness, the page's files, CORS preflights.
        for path in ("/healthz", "/", "/static/app.js"):
            assert (await client.get(path)).status_code != 401, path
        r = await client.options(
            "/api/market/candles",
            headers={"Origin": "http://localhost:5173", "Access-Control-Request-Method": "GET"},
        )
        assert r.status_code == 204
        # SSE streams take `access_token` (a bad market is 422: the guard let it through).
        stream = "/api/market/top_markets/stream"
        assert (await client.get(stream, params={"market": "x"})).status_code == 401
        r = await client.get(stream, params={"market": "x", "access_token": TOKEN})
        assert r.status_code == 422
        await _websocket_needs_the_token(server.port)


async def _upgrade_status(port: int, target: str) -> int:
    """The HTTP status a WebSocket upgrade gets (101 when accepted)."""
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    try:
        await stream.send_all(
            (
                f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
                "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                "Sec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )
        data = b""
        while b"\r\n" not in data:
            chunk = await stream.receive_some(4096)
            assert chunk, "closed before a status line"
            data += chunk
        return int(data.split(b" ", 2)[1])
    finally:
        await trio.aclose_forcefully(stream)


async def _websocket_needs_the_token(port: int) -> None:
    with trio.fail_after(10):
        assert await _upgrade_status(port, "/ws/market") == 401
        assert await _upgrade_status(port, "/ws/market?access_token=nope") == 401
        assert await _upgrade_status(port, f"/ws/market?access_token={TOKEN}") == 101


async def test_websocket_token_with_trio_websocket(tmp_path):
    async with running_server(tmp_path, API_TOKEN="abc", API_TOKEN_SCOPE="all") as server:
        stream = await trio.open_tcp_stream("127.0.0.1", server.port)
        try:
            with trio.fail_after(10):
                async with trio.open_nursery() as nursery:
                    ws = await trio_websocket.wrap_client_stream(
                        nursery, stream, f"127.0.0.1:{server.port}", "/ws/market?access_token=abc"
                    )
                    await ws.send_message(json.dumps({"type": "nope"}))
                    assert json.loads(await ws.get_message())["type"] == "error"
                    nursery.cancel_scope.cancel()
        finally:
            await trio.aclose_forcefully(stream)


async def test_metrics_need_only_the_runtime_flag(tmp_path):
    async with (
        running_server(tmp_path, ENABLE_RUNTIME_METRICS=True) as server,
        http_client(server) as client,
    ):
        r = await client.get("/metrics")
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
        assert "# TYPE process_cpu_seconds_total counter" in r.text
        # The debug routes stay closed.
        assert (await client.get("/api/market/debug/metrics")).status_code == 404
        assert (await client.get("/api/market/debug/ingest_state")).status_code == 404


def test_exposure_warning_names_the_open_routes(tmp_path):
    def settings(**kw):
        return Settings.load(environ={}, WHITELIST_PATH="", **kw)

    assert exposure_warning(settings(HOST="127.0.0.1")) is None
    assert exposure_warning(settings(HOST="::1")) is None
    assert exposure_warning(settings(HOST="localhost")) is None
    assert exposure_warning(settings(HOST="0.0.0.0", API_TOKEN="x")) is None
    text = exposure_warning(settings(HOST="0.0.0.0", ENABLE_RUNTIME_METRICS=True))
    assert text is not None
    assert "POST /api/market/ingest/*" in text and "GET /metrics" in text
    assert "/api/market/debug/" not in text  # off by its flag


async def test_huge_numbers_are_422_never_500(tmp_path):
    async with (
        running_server(tmp_path, ENABLE_DEBUG_API=True) as server,
        http_client(server) as client,
    ):
        huge = 10**309
        for field in ("open", "high", "volume"):
            c = {**candle(60), field: huge}
            for path, body in (
                (INGEST, {"series_id": SID, "candle": c}),
                ("/api/market/ingest/candle_forming", {"series_id": SID, "candle": c}),
                ("/api/market/ingest/candles_closed_batch", {"series_id": SID, "candles": [c]}),
            ):
                r = await client.post(path, content=_raw(body), headers=JSON)
                assert r.status_code == 422, (path, field, r.text)
        r = await client.post(
            INGEST,
            content=_raw({"series_id": SID, "candle": {**candle(60), "low": 2**63}}),
            headers=JSON,
        )
        assert r.status_code == 422
        many = "9" * 5000
        for path, name in (
            ("/api/market/top_markets", "limit"),
            ("/api/market/top_markets/stream", "limit"),
            ("/api/market/top_markets/stream", "max_events"),
        ):
            r = await client.get(f"{path}?market=spot&{name}={many}")
            assert r.status_code == 422, (path, name)
        for value in (str(2**63), many, "-" + many):
            r = await client.get(f"/api/market/candles?series_id={SID}&since={value}")
            assert r.status_code == 422
        r = await client.post(
            "/api/replay/ensure_coverage",
            content=b'{"series_id":"%s","to_time":%s}' % (SID.encode(), str(2**70).encode()),
            headers=JSON,
        )
        assert r.status_code == 422


async def test_lone_surrogate_series_id_is_400(tmp_path):
    async with running_server(tmp_path) as server, http_client(server) as client:
        bad = b'"fuzz:spot:FZ\\ud800X/USDT:1m"'
        body = b'{"series_id":' + bad + b',"candle":' + _raw(candle(60)) + b"}"
        r = await client.post(INGEST, content=body, headers=JSON)
        assert r.status_code == 400
        assert r.json()["detail"].startswith("invalid series_id: ")
        r = await client.get("/api/market/candles", params={"series_id": SID})
        assert r.status_code == 200


@pytest.mark.parametrize("scope", ["control", "all"])
async def test_preflight_never_needs_the_token(tmp_path, scope):
    async with (
        running_server(tmp_path, API_TOKEN=TOKEN, API_TOKEN_SCOPE=scope) as server,
        http_client(server) as client,
    ):
        r = await client.options(
            INGEST,
            headers={
                "Origin": "http://localhost:5173",
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization, content-type",
            },
        )
        assert r.status_code == 204
        assert r.headers["access-control-allow-headers"] == "authorization, content-type"
