"""Derived timeframes (§1.5): roll-up rules, fill on first use, updates from the base."""

from __future__ import annotations

import json

from helpers import candle, eventually, http_client, ingest, recv_json, running_server, ws_client
from hypothesis import given
from hypothesis import strategies as st

from canvas.rollup import rollup

B1 = "binance:spot:ETH/USDT:1m"
B5 = "binance:spot:ETH/USDT:5m"


def row(t, o, h, low, c, v):
    return (t, o, h, low, c, v)


def test_rollup_vector():
    base = [
        row(300, 1, 2, 0.5, 1.5, 1),
        row(360, 1.5, 3, 1, 2, 2),
        row(420, 2, 2.5, 0.2, 1, 3),
        row(480, 1, 1, 1, 1, 4),
        row(540, 1, 4, 1, 3, 5),
        row(600, 3, 3, 3, 3, 1),
    ]
    assert list(rollup(base, 300)) == [(300, 1, 4, 0.2, 3, 15)]


@given(st.sets(st.integers(0, 200)))
def test_only_complete_buckets(minutes):
    base = [row(60 * m, 1, 1, 1, 1, 1) for m in sorted(minutes)]
    got = [r[0] for r in rollup(base, 300)]
    want = [b for b in range(0, 201 * 60, 300) if all((b // 60 + k) in minutes for k in range(5))]
    assert got == want


async def test_fill_on_first_use_then_follow_the_base(tmp_path):
    async with running_server(tmp_path) as server, http_client(server) as client:
        await ingest(client, B1, *[candle(t, 1.0 + t / 6000) for t in range(0, 900, 60)])
        r = await client.get("/api/market/candles", params={"series_id": B5})
        assert [c["candle_time"] for c in r.json()["candles"]] == [0, 300, 600]
        async with ws_client(server) as ws:
            await ws.send_message(json.dumps({"type": "subscribe", "series_id": B5, "since": 600}))
            await ingest(client, B1, *[candle(t, 2.0) for t in range(900, 1140, 60)])
            await ingest(client, B1, candle(1140, 2.0, h=9.0))  # completes the 900 bucket
            m = await recv_json(ws)
            assert m["type"] == "candle_closed" and m["candle"]["candle_time"] == 900
            assert m["candle"]["high"] == 9.0 and m["candle"]["volume"] == 5.0
        # A changed base minute changes its derived bucket (late data for the derived series).
        await ingest(client, B1, candle(0, 1.0, h=50.0))

        async def bucket_follows_base():
            params = {"series_id": B5, "limit": 5000}
            first = (await client.get("/api/market/candles", params=params)).json()["candles"][0]
            return first["high"] == 50.0

        await eventually(bucket_follows_base, timeout=5)
