"""Factor slices, draw delta, frames, rebuild and the logic-hash gate on a real server."""

from __future__ import annotations

import json

import pytest
import trio
from helpers import candle, http_client, ingest, recv_json, running_server, ws_client

SID = "binance:futures:BTC/USDT:1m"


def flat(t, p):
    return candle(t, p, p, p, p)


async def test_pivot_vector_and_slices(tmp_path):
    async with (
        running_server(tmp_path, PIVOT_WINDOW_MAJOR=2) as server,
        http_client(server) as client,
    ):
        for t, p in zip(range(60, 360, 60), (1, 2, 5, 2, 1)):
            await ingest(client, SID, flat(t, p))
        r = await client.get("/api/factor/slices", params={"series_id": SID, "at_time": 240})
        assert r.json()["factors"] == [] and r.json()["at_time"] == 240
        r = await client.get("/api/factor/slices", params={"series_id": SID, "at_time": 330})
        body = r.json()
        assert body["at_time"] == 300 and body["candle_id"] == f"{SID}:300"
        assert body["factors"] == ["pivot"]
        assert body["snapshots"]["pivot"]["history"]["major"] == [
            {
                "pivot_time": 180,
                "pivot_price": 5.0,
                "direction": "resistance",
                "visible_time": 300,
                "window": 2,
            }
        ]
        r = await client.get("/api/factor/slices", params={"series_id": SID, "at_time": 30})
        assert r.json() == {
            "schema_version": 1,
            "series_id": SID,
            "at_time": 30,
            "candle_id": None,
            "factors": [],
            "snapshots": {},
        }
        for params in (
            {"series_id": SID},
            {"series_id": SID, "at_time": -1},
            {"series_id": SID, "at_time": 60, "window_candles": 0},
            {"series_id": SID, "at_time": 60, "window_candles": 5001},
        ):
            assert (await client.get("/api/factor/slices", params=params)).status_code == 422


async def test_draw_delta_and_frames(tmp_path):
    async with (
        running_server(tmp_path, PIVOT_WINDOW_MAJOR=1) as server,
        http_client(server) as client,
    ):
        r = await client.get("/api/draw/delta", params={"series_id": SID})
        assert r.json()["to_candle_id"] is None and r.json()["next_cursor"]["version_id"] == 0
        assert (await client.get("/api/frame/live", params={"series_id": SID})).status_code == 404
        for t, p in zip(range(60, 420, 60), (2, 4, 1, 5, 2, 3)):
            await ingest(client, SID, flat(t, p))
        d = (await client.get("/api/draw/delta", params={"series_id": SID})).json()
        assert d["to_candle_time"] == 360 and d["instruction_catalog_patch"]
        ids = {p["instruction_id"] for p in d["instruction_catalog_patch"]}
        assert "pen.confirmed" in ids and "pen.extending" in ids
        again = (
            await client.get(
                "/api/draw/delta",
                params={"series_id": SID, "cursor_version_id": d["next_cursor"]["version_id"]},
            )
        ).json()
        assert again["instruction_catalog_patch"] == []
        assert again["next_cursor"] == d["next_cursor"]
        f = (
            await client.get("/api/frame/at_time", params={"series_id": SID, "at_time": 377})
        ).json()
        assert f["time"] == {"at_time": 377, "aligned_time": 360, "candle_id": f"{SID}:360"}
        assert f["factor_slices"]["factors"] == ["pivot", "pen", "anchor"]
        live = (await client.get("/api/frame/live", params={"series_id": SID})).json()
        assert live["time"]["aligned_time"] == 360


@pytest.mark.slow
async def test_logic_change_gates_reads_until_rebuild(tmp_path):
    async with (
        running_server(tmp_path, PIVOT_WINDOW_MAJOR=1) as server,
        http_client(server) as client,
    ):
        for t, p in zip(range(60, 420, 60), (2, 4, 1, 5, 2, 3)):
            await ingest(client, SID, flat(t, p))
        r = await client.post("/api/factor/rebuild", json={"series_id": SID})
        assert (r.status_code, r.json()) == (404, {"detail": "not_found"})
    async with (
        running_server(
            tmp_path, PIVOT_WINDOW_MAJOR=1, FACTOR_LOGIC_VERSION="v2", ENABLE_FACTOR_REBUILD=True
        ) as server,
        http_client(server) as client,
    ):
        r = await client.get("/api/factor/slices", params={"series_id": SID, "at_time": 360})
        assert r.status_code == 409
        assert r.json()["detail"].startswith("stale_factor_logic_hash:mismatch:")
        for path in ("/api/draw/delta", "/api/frame/live"):
            assert (await client.get(path, params={"series_id": SID})).status_code == 409
        await ingest(client, SID, flat(420, 4))  # stored, but the stale ledger is not extended
        async with ws_client(server) as ws:
            await ws.send_message(json.dumps({"type": "subscribe", "series_id": SID, "since": 420}))
            r = await client.post("/api/factor/rebuild", json={"series_id": SID})
            body = r.json()
            assert body["ok"] is True and body["rebuilt_to_time"] == 420
            assert len(body["factor_logic_hash"]) == 64 and body["include_overlay"] is True
            m = await recv_json(ws)
            assert m["type"] == "system" and m["event"] == "factor.rebuild"
        r = await client.get("/api/factor/slices", params={"series_id": SID, "at_time": 420})
        assert r.status_code == 200 and r.json()["factors"] == ["pivot", "pen", "anchor"]
        r = await client.post("/api/factor/rebuild", json={"series_id": "binance:spot:NO/USDT:1m"})
        assert (r.status_code, r.json()) == (404, {"detail": "no_data"})
        candles = (await client.get("/api/market/candles", params={"series_id": SID})).json()
        assert len(candles["candles"]) == 7


async def test_late_data_rewinds_subscribers(tmp_path):
    async with (
        running_server(tmp_path, PIVOT_WINDOW_MAJOR=1) as server,
        http_client(server) as client,
    ):
        for t, p in zip(range(60, 420, 60), (2, 4, 1, 5, 2, 3)):
            await ingest(client, SID, flat(t, p))
        async with ws_client(server) as ws:
            await ws.send_message(json.dumps({"type": "subscribe", "series_id": SID, "since": 360}))
            await ingest(client, SID, flat(180, 0.5))  # a corrected candle changes pivots
            m = await recv_json(ws)
            assert m["type"] == "system" and m["event"] == "factor.rewind"
            assert m["data"]["from_time"] <= 360
            await ingest(client, SID, flat(180, 0.5))  # identical: nothing changes, nothing sent
            await ingest(client, SID, flat(420, 3))
            m = await recv_json(ws)
            assert m["type"] == "candle_closed" and m["candle"]["candle_time"] == 420
        with trio.fail_after(5):
            r = await client.get("/api/factor/slices", params={"series_id": SID, "at_time": 420})
        assert r.status_code == 200
