"""On-demand jobs under pressure (CONTRACT §8, issue 17): the outcome of each subscribe depends
only on the cap, which jobs are referenced and which are idle, however connections interleave."""

from __future__ import annotations

import contextlib
import json

import pytest
import trio
from helpers import eventually, http_client, recv_json, running_server, ws_client

from canvas.simexchange import SimConfig, open_simexchange

START_MS = 1_735_689_630_000
X = "binance:spot:ETH/USDT:1m"
X5 = "binance:spot:ETH/USDT:5m"  # derived: counts against X's job
Y = "binance:spot:BTC/USDT:1m"
Z = "binance:spot:SOL/USDT:1m"
ITERATIONS = 50


async def subscribe(ws, sid: str) -> None:
    # since in the far future: no catch-up, no live frame, so the next frame is an answer.
    await ws.send_message(json.dumps({"type": "subscribe", "series_id": sid, "since": 10**10}))


async def round_trip(ws) -> dict:
    """The next frame after every earlier frame of this socket was handled."""
    await ws.send_message(json.dumps({"type": "no_such_type"}))
    return await recv_json(ws)


UNKNOWN = {"type": "error", "code": "bad_request", "message": "unknown message type: no_such_type"}


async def refs(client) -> dict[str, int]:
    jobs = (await client.get("/api/market/debug/ingest_state")).json()["jobs"]
    return {j["series_id"]: j["refcount"] for j in jobs}


async def settle(client, want: dict[str, int]) -> None:
    """Wait until the server has seen every close (a disconnect has no reply to wait on)."""

    async def reached():
        return await refs(client) == want

    await eventually(reached)


async def one_iteration(server, client) -> None:
    async with contextlib.AsyncExitStack() as stack:
        a, b, c, d = [await stack.enter_async_context(ws_client(server)) for _ in range(4)]

        async def subscribe_ok(ws, sid: str) -> None:
            await subscribe(ws, sid)
            assert await round_trip(ws) == UNKNOWN

        async with trio.open_nursery() as nursery:  # two new jobs at once
            nursery.start_soon(subscribe_ok, a, X)
            nursery.start_soon(subscribe_ok, b, Y)
        # Both jobs referenced: one more series is refused with `capacity`, at once.
        await subscribe(c, Z)
        assert await recv_json(c) == {
            "type": "error",
            "code": "capacity",
            "message": "ondemand_ingest_capacity",
            "series_id": Z,
        }
        assert await round_trip(c) == UNKNOWN
        # d holds X twice (X and its derived X5); dropping X5 keeps X referenced by d.
        await subscribe(d, X)
        await subscribe(d, X5)
        await d.send_message(json.dumps({"type": "unsubscribe", "series_id": X5}))
        assert await round_trip(d) == UNKNOWN
        # a disconnects while c keeps talking: c's frames are answered meanwhile.
        async with trio.open_nursery() as nursery:
            nursery.start_soon(a.aclose)
            assert await round_trip(c) == UNKNOWN
        await settle(client, {X: 1, Y: 1})
        await subscribe(c, Z)
        assert (await recv_json(c))["code"] == "capacity"
        # Y becomes idle: the next new series evicts it and succeeds.
        await b.send_message(json.dumps({"type": "unsubscribe", "series_id": Y}))
        assert await round_trip(b) == UNKNOWN
        await subscribe_ok(c, Z)
        assert await refs(client) == {X: 1, Z: 1}
        async with trio.open_nursery() as nursery:
            for ws in (b, c, d):
                nursery.start_soon(ws.aclose)
    await settle(client, {X: 0, Z: 0})


@pytest.mark.slow
async def test_ondemand_outcomes_are_exact_under_churn(tmp_path):
    async with open_simexchange(SimConfig(start_ms=START_MS, speed=0)) as sim:
        h = sim.handle
        settings = {
            "ENABLE_INGEST": True,
            "ENABLE_DEBUG_API": True,
            "INGEST_BOOTSTRAP_CANDLES": 5,
            "ONDEMAND_MAX_JOBS": 2,
            "ONDEMAND_IDLE_TTL_S": 600,
            # Actors stop as soon as they may, so actor stop/start races with every step.
            "ACTOR_IDLE_TTL_S": 0.01,
            "BINANCE_SPOT_BASE_URL": h.spot_rest_base,
            "BINANCE_FUTURES_BASE_URL": h.futures_rest_base,
            "BINANCE_SPOT_WS_BASE_URL": h.spot_ws_base,
            "BINANCE_FUTURES_WS_BASE_URL": h.futures_ws_base,
        }
        async with running_server(tmp_path, **settings) as server, http_client(server) as client:
            for _ in range(ITERATIONS):
                await one_iteration(server, client)
