"""End-to-end market HTTP (§2.1–2.5) and the contract's conventions, on a real server."""

from __future__ import annotations

import trio
from helpers import SID, candle, http_client, ingest, running_server


async def test_candles_vectors(tmp_path):
    async with running_server(tmp_path) as server, http_client(server) as client:
        r = await client.get("/api/market/candles", params={"series_id": SID})
        assert r.json() == {"series_id": SID, "server_head_time": None, "candles": []}
        await ingest(client, SID, candle(120))
        await ingest(client, SID, candle(180), candle(240))
        r = await client.get("/api/market/candles", params={"series_id": SID, "limit": 2})
        body = r.json()
        assert [c["candle_time"] for c in body["candles"]] == [180, 240]
        assert body["server_head_time"] == 240
        r = await client.get("/api/market/candles", params={"series_id": SID, "since": 180})
        assert [c["candle_time"] for c in r.json()["candles"]] == [240]
        assert r.json()["candles"][0] == candle(240) | {"open": 1.0}


async def test_candles_before_vectors(tmp_path):
    """§2.1 rev 4: `before` pages back into history; the head stays the series head."""
    async with running_server(tmp_path) as server, http_client(server) as client:
        await ingest(client, SID, candle(120), candle(180), candle(240), candle(300))

        async def times(**params):
            r = await client.get("/api/market/candles", params={"series_id": SID, **params})
            assert r.status_code == 200, r.text
            assert r.json()["server_head_time"] == 300
            return [c["candle_time"] for c in r.json()["candles"]]

        assert await times(before=300, limit=2) == [180, 240]
        assert await times(since=120, before=300) == [180, 240]
        assert await times(since=120, before=300, limit=1) == [180]
        assert await times(before=120) == []
        assert await times(before=0) == []
        assert await times(before=10**17) == [120, 180, 240, 300]
        for bad in (-1, "1.5", "x"):
            r = await client.get("/api/market/candles", params={"series_id": SID, "before": bad})
            assert r.status_code == 422
            assert r.json()["detail"][0]["loc"] == ["query", "before"]


async def test_upsert_overwrites_and_batch_dedupes(tmp_path):
    async with running_server(tmp_path) as server, http_client(server) as client:
        await ingest(client, SID, candle(60, 1.0))
        await ingest(client, SID, candle(60, 2.0))
        r = await client.post(
            "/api/market/ingest/candles_closed_batch",
            json={"series_id": SID, "candles": [candle(180, 5.0), candle(120), candle(180, 6.0)]},
        )
        assert r.json() == {
            "ok": True,
            "series_id": SID,
            "count": 2,
            "first_candle_time": 120,
            "last_candle_time": 180,
        }
        r = await client.get("/api/market/candles", params={"series_id": SID})
        closes = [(c["candle_time"], c["close"]) for c in r.json()["candles"]]
        assert closes == [(60, 2.0), (120, 1.0), (180, 6.0)]


async def test_validation_errors_change_nothing(tmp_path):
    async with running_server(tmp_path) as server, http_client(server) as client:
        post = "/api/market/ingest/candle_closed"
        bad_candles = [
            ({**candle(61)}, "candle_time"),
            ({**candle(60), "candle_time": 60.0}, "candle_time"),
            ({**candle(60), "candle_time": "60"}, "candle_time"),
            ({**candle(60), "candle_time": True}, "candle_time"),
            ({**candle(60), "candle_time": -60}, "candle_time"),
            ({**candle(60), "candle_time": 10**11}, "candle_time"),
            ({**candle(60), "open": "1"}, "open"),
            ({**candle(60), "open": 0}, "open"),
            ({**candle(60), "high": True}, "high"),
            ({**candle(60), "low": 2.0}, "low"),
            ({**candle(60, 2.0), "high": 1.5}, "high"),
            ({**candle(60), "volume": -1}, "volume"),
            ({k: v for k, v in candle(60).items() if k != "close"}, "close"),
        ]
        for bad, field in bad_candles:
            r = await client.post(post, json={"series_id": SID, "candle": bad})
            assert r.status_code == 422, (bad, r.text)
            assert any(p["loc"][-1] == field for p in r.json()["detail"]), (bad, r.text)
        for raw in [
            b"{",
            b"[]",
            b'{"series_id": 1, "candle": {}}',
            b'{"candle": {}}',
            b'{"series_id":"' + SID.encode() + b'","candle":{"candle_time":60,'
            b'"open":NaN,"high":1,"low":1,"close":1,"volume":1}}',
        ]:
            r = await client.post(post, content=raw, headers={"content-type": "application/json"})
            assert r.status_code == 422, (raw, r.text)
            assert isinstance(r.json()["detail"], list)
        r = await client.post(
            post, json={"series_id": "binance:moon:BTC/USDT:1m", "candle": candle(60)}
        )
        assert r.status_code == 400
        assert r.json()["detail"].startswith("invalid series_id: ")
        r = await client.post(
            "/api/market/ingest/candles_closed_batch",
            json={
                "series_id": SID,
                "candles": [candle(60), candle(120), {**candle(180), "low": 9}],
            },
        )
        assert r.status_code == 422
        assert r.json()["detail"][0]["loc"][:3] == ["body", "candles", 2]
        for candles in ([], "x", [candle(60)] * 20001):
            r = await client.post(
                "/api/market/ingest/candles_closed_batch",
                json={"series_id": SID, "candles": candles},
            )
            assert r.status_code == 422
        r = await client.post(
            "/api/market/ingest/candles_closed_batch",
            json={"series_id": SID, "candles": [candle(60)], "publish_ws": "yes"},
        )
        assert r.status_code == 422
        r = await client.get("/api/market/candles", params={"series_id": SID})
        assert r.json()["candles"] == []


async def test_query_validation_and_routing(tmp_path):
    async with running_server(tmp_path) as server, http_client(server) as client:
        for params in (
            {},
            {"series_id": SID, "limit": 0},
            {"series_id": SID, "limit": 5001},
            {"series_id": SID, "since": -1},
            {"series_id": SID, "since": "1.5"},
            {"series_id": SID, "limit": "abc"},
        ):
            r = await client.get("/api/market/candles", params=params)
            assert r.status_code == 422, params
            assert r.json()["detail"][0]["loc"][0] == "query"
        for bad in (
            "x",
            "binance:futures:BTCUSDT:1m",
            "binance:futures:BTC/USDT:1w",
            "binance:futures:BTC/USDT:0m",
            "binance::BTC/USDT:1m",
            "binance:futures:BTC /USDT:1m",
        ):
            r = await client.get("/api/market/candles", params={"series_id": bad})
            assert r.status_code == 400, bad
        r = await client.get("/api/nope")
        assert (r.status_code, r.json()) == (404, {"detail": "not_found"})
        r = await client.delete("/api/market/whitelist")
        assert (r.status_code, r.json()) == (405, {"detail": "method_not_allowed"})
        r = await client.post(
            "/api/market/ingest/candle_forming", json={"series_id": SID, "candle": candle(60)}
        )
        assert (r.status_code, r.json()) == (404, {"detail": "not_found"})
        r = await client.get("/api/market/whitelist")
        assert r.json() == {"series_ids": []}


async def test_body_limit(tmp_path):
    async with running_server(tmp_path) as server:
        # Announce a body over the limit and send none of it: the answer must not wait for it.
        stream = await trio.open_tcp_stream("127.0.0.1", server.port)
        async with stream:
            await stream.send_all(
                b"POST /api/market/ingest/candles_closed_batch HTTP/1.1\r\nHost: x\r\n"
                b"Content-Type: application/json\r\nContent-Length: 8388609\r\n\r\n"
            )
            data = b""
            with trio.fail_after(10):
                while b"payload_too_large" not in data:
                    chunk = await stream.receive_some()
                    assert chunk, data
                    data += chunk
        assert data.startswith(b"HTTP/1.1 413")


async def test_cors(tmp_path):
    async with running_server(tmp_path) as server, http_client(server) as client:
        ok = "http://localhost:5173"
        r = await client.options(
            "/api/market/candles",
            headers={
                "Origin": ok,
                "Access-Control-Request-Method": "GET",
                "Access-Control-Request-Headers": "content-type,x-test",
            },
        )
        assert r.status_code == 204
        assert r.headers["access-control-allow-origin"] == ok
        assert r.headers["access-control-allow-headers"] == "content-type,x-test"
        assert "GET" in r.headers["access-control-allow-methods"]
        assert "access-control-max-age" in r.headers
        r = await client.get("/api/market/whitelist", headers={"Origin": ok})
        assert r.headers["access-control-allow-origin"] == ok
        assert "Origin" in r.headers["vary"]
        r = await client.get("/api/market/whitelist", headers={"Origin": "http://evil.example"})
        assert "access-control-allow-origin" not in r.headers
        r = await client.options("/api/nope", headers={"Origin": ok})
        assert r.status_code == 404


async def test_cors_star_and_whitelist_file(tmp_path):
    (tmp_path / "whitelist.json").write_text(
        '{"series_ids": [" binance:spot:ETH/USDT:1m ", "", "binance:spot:ETH/USDT:1m", "'
        + SID
        + '"]}'
    )
    async with running_server(tmp_path, CORS_ORIGINS="*") as server, http_client(server) as client:
        r = await client.get("/api/market/whitelist", headers={"Origin": "http://any.example"})
        assert r.headers["access-control-allow-origin"] == "http://any.example"
        assert r.json() == {"series_ids": ["binance:spot:ETH/USDT:1m", SID]}


async def test_forming_debug_endpoint(tmp_path):
    async with (
        running_server(tmp_path, ENABLE_DEBUG_API=True) as server,
        http_client(server) as client,
    ):
        r = await client.post(
            "/api/market/ingest/candle_forming", json={"series_id": SID, "candle": candle(60)}
        )
        assert r.json() == {"ok": True, "series_id": SID, "candle_time": 60}
        r = await client.get("/api/market/candles", params={"series_id": SID})
        assert r.json()["candles"] == []


async def test_concurrent_series_ingest(tmp_path):
    async with running_server(tmp_path) as server, http_client(server) as client:
        sids = [f"binance:spot:C{i}/USDT:1m" for i in range(5)]

        async def feed(sid):
            for t in range(60, 60 * 21, 60):
                await ingest(client, sid, candle(t))

        async with trio.open_nursery() as n:
            for sid in sids:
                n.start_soon(feed, sid)
        for sid in sids:
            r = await client.get("/api/market/candles", params={"series_id": sid})
            assert len(r.json()["candles"]) == 20


async def test_pathological_json_is_a_422_not_a_500(tmp_path):
    async with running_server(tmp_path) as server, http_client(server) as client:
        deep = b"[" * 200_000 + b"]" * 200_000
        for raw in (deep, b"\xff\xfe", b'{"series_id": "\\ud800"}'):
            r = await client.post(
                "/api/market/ingest/candle_closed",
                content=raw,
                headers={"content-type": "application/json"},
            )
            assert r.status_code in (400, 422), (raw[:20], r.status_code, r.text[:200])
