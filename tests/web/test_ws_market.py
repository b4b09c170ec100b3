"""End-to-end `/ws/market` (§3) with a real trio-websocket client against a real server."""

from __future__ import annotations

import json

import pytest
import trio
import trio_websocket
from helpers import (
    SID,
    assert_silent,
    candle,
    http_client,
    ingest,
    recv_json,
    running_server,
    ws_client,
)


def times(msg):
    if msg["type"] == "candles_batch":
        return [c["candle_time"] for c in msg["candles"]]
    return msg["candle"]["candle_time"]


async def subscribe(ws, series_id=SID, **fields):
    await ws.send_message(json.dumps({"type": "subscribe", "series_id": series_id, **fields}))


async def test_catchup_then_live(tmp_path):
    async with running_server(tmp_path) as server, http_client(server) as client:
        await ingest(client, SID, candle(120), candle(180), candle(240))
        async with ws_client(server) as ws:
            await subscribe(ws, since=120)
            m1, m2 = await recv_json(ws), await recv_json(ws)
            assert (m1["type"], times(m1), m2["type"], times(m2)) == (
                "candle_closed",
                180,
                "candle_closed",
                240,
            )
            assert m1["series_id"] == SID
            await ingest(client, SID, candle(300))
            m3 = await recv_json(ws)
            assert (m3["type"], times(m3)) == ("candle_closed", 300)


async def test_batch_catchup_then_live(tmp_path):
    async with running_server(tmp_path) as server, http_client(server) as client:
        await ingest(client, SID, candle(120), candle(180), candle(240))
        async with ws_client(server) as ws:
            await subscribe(ws, since=120, supports_batch=True)
            m = await recv_json(ws)
            assert (m["type"], times(m)) == ("candles_batch", [180, 240])
            await ingest(client, SID, candle(300))
            m = await recv_json(ws)
            assert (m["type"], times(m)) == ("candle_closed", 300)


async def test_gap_on_live(tmp_path):
    async with running_server(tmp_path) as server, http_client(server) as client:
        await ingest(client, SID, candle(120))
        async with ws_client(server) as ws:
            await subscribe(ws, since=120)
            await ingest(client, SID, candle(240))
            assert await recv_json(ws) == {
                "type": "gap",
                "series_id": SID,
                "expected_next_time": 180,
                "actual_time": 240,
            }
            m = await recv_json(ws)
            assert (m["type"], times(m)) == ("candle_closed", 240)


async def test_batch_split_at_gap(tmp_path):
    async with running_server(tmp_path) as server, http_client(server) as client:
        await ingest(client, SID, candle(60), candle(120), candle(240), candle(300))
        async with ws_client(server) as ws:
            await subscribe(ws, since=60, supports_batch=True)
            m = await recv_json(ws)
            assert (m["type"], times(m)) == ("candles_batch", [120])
            m = await recv_json(ws)
            assert (m["type"], m["expected_next_time"], m["actual_time"]) == ("gap", 180, 240)
            m = await recv_json(ws)
            assert (m["type"], times(m)) == ("candles_batch", [240, 300])


async def test_no_gap_before_first_candle_and_limit_gap(tmp_path):
    async with (
        running_server(tmp_path, MARKET_WS_CATCHUP_LIMIT=3) as server,
        http_client(server) as client,
    ):
        await ingest(client, SID, *[candle(t) for t in range(600, 1260, 60)])
        async with ws_client(server) as ws:
            await subscribe(ws, since=0, supports_batch=True)
            m = await recv_json(ws)
            assert (m["type"], times(m)) == ("candles_batch", [1080, 1140, 1200])
        async with ws_client(server) as ws:
            await subscribe(ws, since=600)
            m = await recv_json(ws)
            assert (m["type"], m["expected_next_time"], m["actual_time"]) == ("gap", 660, 1080)
            assert [times(await recv_json(ws)) for _ in range(3)] == [1080, 1140, 1200]


async def test_unpublished_batch_goes_before_newer(tmp_path):
    async with running_server(tmp_path) as server, http_client(server) as client:
        await ingest(client, SID, candle(60))
        async with ws_client(server) as ws:
            await subscribe(ws, since=60)
            await ingest(client, SID, candle(120), candle(180), publish=False)
            await ingest(client, SID, candle(240))
            assert [times(await recv_json(ws)) for _ in range(3)] == [120, 180, 240]


async def test_late_data_not_resent(tmp_path):
    async with running_server(tmp_path) as server, http_client(server) as client:
        await ingest(client, SID, candle(60), candle(180))
        async with ws_client(server) as ws:
            await subscribe(ws)
            assert times(await recv_json(ws)) == 60
            assert (await recv_json(ws))["type"] == "gap"
            assert times(await recv_json(ws)) == 180
            await ingest(client, SID, candle(120))
            await ingest(client, SID, candle(180, 2.0))
            await ingest(client, SID, candle(240))
            msgs = []
            while True:
                m = await recv_json(ws)
                msgs.append(m)
                if m["type"] == "candle_closed":
                    break
            assert times(msgs[-1]) == 240
            assert all(m["type"] == "system" for m in msgs[:-1])


async def test_forming(tmp_path):
    async with (
        running_server(tmp_path, ENABLE_DEBUG_API=True) as server,
        http_client(server) as client,
    ):
        await ingest(client, SID, candle(60))
        async with ws_client(server) as ws:
            await subscribe(ws)
            assert times(await recv_json(ws)) == 60
            for t in (60, 120):
                r = await client.post(
                    "/api/market/ingest/candle_forming",
                    json={"series_id": SID, "candle": candle(t)},
                )
                assert r.status_code == 200
            m = await recv_json(ws)
            assert (m["type"], times(m)) == ("candle_forming", 120)
            await ingest(client, SID, candle(120))
            assert times(await recv_json(ws)) == 120


async def test_errors_keep_socket_open(tmp_path):
    async with running_server(tmp_path) as server, http_client(server) as client:
        async with ws_client(server) as ws:
            cases = [
                ("not json", "invalid message envelope"),
                ("[1,2]", "invalid message envelope"),
                ("{}", "missing message type"),
                ('{"type": "  "}', "missing message type"),
                ('{"type": "hello"}', "unknown message type: hello"),
                ('{"type": "subscribe"}', "missing series_id"),
                ('{"type": "subscribe", "series_id": 5}', "missing series_id"),
                ('{"type": "subscribe", "series_id": "x:y"}', "invalid series_id"),
                (json.dumps({"type": "subscribe", "series_id": SID, "since": -1}), "invalid since"),
                (
                    json.dumps({"type": "subscribe", "series_id": SID, "since": True}),
                    "invalid since",
                ),
                (
                    json.dumps({"type": "subscribe", "series_id": SID, "since": 1.5}),
                    "invalid since",
                ),
                (
                    json.dumps({"type": "subscribe", "series_id": "x", "since": -1}),
                    "invalid series_id",
                ),
                (
                    json.dumps({"type": "subscribe", "series_id": SID, "supports_batch": 1}),
                    "invalid supports_batch",
                ),
                ('{"type": "unsubscribe"}', "missing series_id"),
            ]
            for frame, message in cases:
                await ws.send_message(frame)
                assert await recv_json(ws) == {
                    "type": "error",
                    "code": "bad_request",
                    "message": message,
                }
            await ws.send_message(b"\x00binary")
            assert (await recv_json(ws))["message"] == "invalid message envelope"
            await ws.send_message('{"type": "unsubscribe", "series_id": "nothing"}')
            await ingest(client, SID, candle(60))
            await assert_silent(ws, 0.2)
            await subscribe(ws)
            assert times(await recv_json(ws)) == 60


async def test_oversized_frame_closes_1009(tmp_path):
    async with running_server(tmp_path) as server, ws_client(server) as ws:
        await ws.send_message("x" * (65 * 1024))
        with pytest.raises(trio_websocket.ConnectionClosed) as info:
            await recv_json(ws)
        assert info.value.reason.code == 1009


async def test_resubscribe_and_unsubscribe(tmp_path):
    async with running_server(tmp_path) as server, http_client(server) as client:
        await ingest(client, SID, candle(60), candle(120))
        async with ws_client(server) as ws:
            await subscribe(ws, supports_batch=True)
            assert times(await recv_json(ws)) == [60, 120]
            await subscribe(ws, since=60)
            assert times(await recv_json(ws)) == 120
            await ws.send_message(json.dumps({"type": "unsubscribe", "series_id": SID}))
            await ingest(client, SID, candle(180))
            await assert_silent(ws, 0.2)


async def test_origin_check(tmp_path):
    async with running_server(tmp_path) as server:
        async with ws_client(server, extra_headers=[("Origin", "http://localhost:5173")]) as ws:
            await ws.send_message("{}")
            assert (await recv_json(ws))["message"] == "missing message type"
        own = f"http://127.0.0.1:{server.port}"
        async with ws_client(server, extra_headers=[("Origin", own)]) as ws:
            await ws.send_message("{}")
            await recv_json(ws)
        # A raw upgrade request from a foreign browser origin is refused before the handshake.
        upgrade = {
            "Connection": "Upgrade",
            "Upgrade": "websocket",
            "Sec-WebSocket-Version": "13",
            "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
            "Origin": "http://evil.example",
        }
        async with http_client(server) as client:
            r = await client.get("/ws/market", headers=upgrade)
            assert r.status_code == 403


async def test_shutdown_closes_1001(tmp_path):
    async with running_server(tmp_path) as server, ws_client(server) as ws:
        await subscribe(ws)
        await ws.send_message("{}")  # answered after the subscribe: the socket is live
        await recv_json(ws)
        server.request_stop()
        with pytest.raises(trio_websocket.ConnectionClosed) as info:
            with trio.fail_after(10):
                while True:
                    await ws.get_message()
        assert info.value.reason.code == 1001
        assert info.value.reason.reason == "server_shutdown"


@pytest.mark.slow
async def test_slow_client_does_not_delay_others_and_is_closed(tmp_path):
    async with (
        running_server(tmp_path, WS_SLOW_CONSUMER_TIMEOUT_S=1.0, WS_OUTBOX_FRAMES=8) as server,
        http_client(server) as client,
    ):
        async with (
            ws_client(server, message_queue_size=1, max_message_size=2**24) as slow,
            ws_client(server) as fast,
        ):
            await subscribe(slow, supports_batch=True)
            await subscribe(fast, supports_batch=True)
            # The slow client never reads: kernel buffers, then its outbox, fill up; the fast
            # client still gets every candle, in order, with no gap.
            per_batch, batches = 5_000, 24
            expected = 60
            for k in range(batches):
                span = range(60 * (1 + per_batch * k), 60 * (1 + per_batch * (k + 1)), 60)
                await ingest(client, SID, *[candle(t, v=987654.321) for t in span])
                while expected <= span[-1]:
                    got = await recv_json(fast)
                    assert got["type"] == "candles_batch"
                    got_times = [c["candle_time"] for c in got["candles"]]
                    assert got_times == list(range(expected, expected + 60 * len(got_times), 60))
                    expected += 60 * len(got_times)
            # The slow client is closed with 1013 once it has been stuck past the deadline.
            with trio.fail_after(30):
                closed = None
                while closed is None:
                    try:
                        await slow.get_message()
                    except trio_websocket.ConnectionClosed as exc:
                        closed = exc
            assert closed.reason.code == 1013
            assert closed.reason.reason == "slow_consumer"


async def test_subscriptions_per_socket_are_capped(tmp_path, monkeypatch):
    from canvas.web import ws as ws_route

    monkeypatch.setattr(ws_route, "MAX_SUBSCRIPTIONS", 2)
    async with running_server(tmp_path) as server, http_client(server) as client:
        await ingest(client, "binance:spot:C/USDT:1m", candle(60))
        async with ws_client(server) as ws:
            await subscribe(ws, "binance:spot:A/USDT:1m")
            await subscribe(ws, "binance:spot:B/USDT:1m")
            await subscribe(ws, "binance:spot:A/USDT:1m", since=0)  # a re-subscribe is fine
            await subscribe(ws, "binance:spot:C/USDT:1m")
            assert await recv_json(ws) == {
                "type": "error",
                "code": "bad_request",
                "message": "too many subscriptions",
            }
            await ws.send_message(
                json.dumps({"type": "unsubscribe", "series_id": "binance:spot:B/USDT:1m"})
            )
            await subscribe(ws, "binance:spot:C/USDT:1m")
            assert times(await recv_json(ws)) == 60


async def test_deeply_nested_frame_is_an_envelope_error(tmp_path):
    async with running_server(tmp_path) as server:
        async with ws_client(server) as ws:
            await ws.send_message("[" * 30_000 + "]" * 30_000)
            assert (await recv_json(ws))["message"] == "invalid message envelope"
            await ws.send_message("{}")
            assert (await recv_json(ws))["message"] == "missing message type"


async def test_huge_since_and_long_series_id(tmp_path):
    async with running_server(tmp_path) as server, http_client(server) as client:
        await ingest(client, SID, candle(60))
        async with ws_client(server) as ws:
            await subscribe(ws, since=10**30)
            await subscribe(ws, "binance:spot:" + "A" * 200 + "/USDT:1m")
            assert (await recv_json(ws))["message"] == "invalid series_id"
            await ingest(client, SID, candle(120))
            await assert_silent(ws, 0.2)
            await subscribe(ws, since=60)
            assert times(await recv_json(ws)) == 120
        r = await client.get(
            "/api/market/candles", params={"series_id": "binance:spot:" + "A" * 200 + "/USDT:1m"}
        )
        assert r.status_code == 400


@pytest.mark.slow
async def test_subscribe_during_concurrent_ingest_is_exactly_once(tmp_path):
    """§3.4 #5: candles stored while subscribes are in flight arrive once, after the catch-up."""
    async with running_server(tmp_path) as server, http_client(server) as client:
        await ingest(client, SID, *[candle(t) for t in range(60, 60 * 101, 60)])
        last = 60 * 400

        async def feed():
            for t in range(60 * 101, last + 60, 60):
                await ingest(client, SID, candle(t))

        async with trio.open_nursery() as nursery:
            nursery.start_soon(feed)
            sockets = []
            for k in range(6):
                ws_cm = ws_client(server)
                ws = await nursery.start(_hold, ws_cm)
                await subscribe(ws, supports_batch=bool(k % 2))
                sockets.append(ws)
                await trio.sleep(0.01 * k)
            for ws in sockets:
                got: list[int] = []
                with trio.fail_after(20):
                    while not got or got[-1] != last:
                        m = await recv_json(ws)
                        assert m["type"] in ("candle_closed", "candles_batch"), m
                        got.extend([times(m)] if m["type"] == "candle_closed" else times(m))
                assert got == list(range(60, last + 60, 60))
            nursery.cancel_scope.cancel()


async def _hold(ws_cm, *, task_status):
    async with ws_cm as ws:
        task_status.started(ws)
        await trio.sleep_forever()
