"""Top markets (§2.10) and their SSE stream (§2.11) on a real server over the simulated exchange."""

from __future__ import annotations

import json
import time
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
import trio
from helpers import http_client, running_server

from canvas.markets import EXCHANGE_INFO, TICKERS, MarketDataCache
from canvas.simexchange import SimConfig, open_simexchange
from canvas.web.top_markets_state import TopMarketsStatistics

START_MS = 1_735_689_630_000  # 2025-01-01 00:00:30 UTC
LIST = "/api/market/top_markets"
STREAM = "/api/market/top_markets/stream"
PREFIX = {"spot": "/api/v3", "futures": "/fapi/v1"}


@pytest.fixture
async def sim():
    # Paused: tickers only change when a test advances the exchange clock.
    async with open_simexchange(SimConfig(start_ms=START_MS, speed=0)) as sim:
        yield sim


@asynccontextmanager
async def canvas(tmp_path, sim, *, ticker_ttl: float | None = None):
    """A server on the sim; `ticker_ttl` installs a top-markets cache with that tickers TTL."""
    h = sim.handle
    async with (
        running_server(
            tmp_path,
            BINANCE_SPOT_BASE_URL=h.spot_rest_base,
            BINANCE_FUTURES_BASE_URL=h.futures_rest_base,
        ) as server,
        http_client(server) as client,
    ):
        if ticker_ttl is not None:
            server.deps.top_markets.cache = MarketDataCache(
                trio.current_time, {EXCHANGE_INFO: 3600.0, TICKERS: ticker_ttl}
            )
        yield server, client


async def expected_items(sim, market: str, quote: str, limit: int) -> list[dict[str, Any]]:
    """The §2.10 items computed straight from the sim's raw documents (an independent oracle)."""
    base = sim.handle.spot_rest_base if market == "spot" else sim.handle.futures_rest_base
    async with httpx.AsyncClient(base_url=base + PREFIX[market], timeout=5) as raw:
        info = (await raw.get("/exchangeInfo")).json()
        tickers = (await raw.get("/ticker/24hr")).json()
    listed = {
        s["symbol"]: s
        for s in info["symbols"]
        if s["status"] == "TRADING"
        and s["quoteAsset"] == quote
        and (market == "spot" or s.get("contractType") in ("", "PERPETUAL"))
    }
    rows = sorted(
        (t for t in tickers if t["symbol"] in listed), key=lambda t: -float(t["quoteVolume"])
    )[:limit]
    out = []
    for t in rows:
        s = listed[t["symbol"]]
        symbol = f"{s['baseAsset']}/{s['quoteAsset']}"
        out.append(
            {
                "exchange": "binance",
                "market": market,
                "symbol": symbol,
                "symbol_id": f"binance:{market}:{symbol}",
                "base_asset": s["baseAsset"],
                "quote_asset": s["quoteAsset"],
                "last_price": float(t["lastPrice"]),
                "quote_volume": float(t["quoteVolume"]),
                "price_change_percent": float(t["priceChangePercent"]),
            }
        )
    return out


def parse_sse(text: str) -> list[dict[str, Any]]:
    """Frames as dicts: fields by name, `comment` for `:` lines; strict about the framing."""
    assert text.endswith("\n\n"), text[-80:]
    frames = []
    for block in text[:-2].split("\n\n"):
        frame: dict[str, Any] = {}
        for line in block.split("\n"):
            name, sep, value = line.partition(": ")
            assert sep, line
            frame["comment" if name == "" else name] = value
        frames.append(frame)
    return frames


async def read_stream(client: httpx.AsyncClient, **params: Any) -> tuple[httpx.Response, str]:
    """The whole body of a stream that ends by itself (max_events)."""
    with trio.fail_after(10):
        async with client.stream("GET", STREAM, params=params) as r:
            body = (await r.aread()).decode()
    return r, body


async def test_lists_are_filtered_sorted_and_limited(tmp_path, sim):
    async with canvas(tmp_path, sim) as (_, client):
        for market in ("spot", "futures"):
            r = await client.get(LIST, params={"market": market})
            assert r.status_code == 200, r.text
            body = r.json()
            assert {
                k: body[k] for k in ("exchange", "market", "quote_asset", "limit", "cached")
            } == {
                "exchange": "binance",
                "market": market,
                "quote_asset": "USDT",
                "limit": 20,
                "cached": False,
            }
            assert isinstance(body["generated_at_ms"], int)
            assert body["items"] == await expected_items(sim, market, "USDT", 20)
            # Six USDT perpetuals/pairs; the BREAK spot pair and the quarterly future are gone.
            symbols = [i["symbol"] for i in body["items"]]
            assert len(symbols) == 6 and "LUNA/USDT" not in symbols
            assert len({i["symbol_id"] for i in body["items"]}) == 6
        r = await client.get(LIST, params={"market": "spot", "quote_asset": "btc", "limit": 3})
        body = r.json()
        assert (body["quote_asset"], body["cached"]) == ("BTC", True)
        assert [i["symbol_id"] for i in body["items"]] == ["binance:spot:ETH/BTC"]
        r = await client.get(LIST, params={"market": "futures", "limit": 2})
        assert r.json()["items"] == await expected_items(sim, "futures", "USDT", 2)


async def test_cached_flag_and_force_limit(tmp_path, sim):
    async with canvas(tmp_path, sim) as (_, client):
        first = await client.get(LIST, params={"market": "spot"})
        again = await client.get(LIST, params={"market": "spot"})
        assert (first.json()["cached"], again.json()["cached"]) == (False, True)
        before = sim.statistics().rest_requests
        forced = await client.get(LIST, params={"market": "spot", "force": "TRUE"})
        assert (forced.status_code, forced.json()["cached"]) == (200, False)
        assert sim.statistics().rest_requests == before + 2  # both documents refetched
        refused = await client.get(LIST, params={"market": "spot", "force": "1"})
        assert (refused.status_code, refused.json()) == (429, {"detail": "rate_limited"})
        # The window is per market; unforced requests are never limited.
        other = await client.get(LIST, params={"market": "futures", "force": "true"})
        assert other.status_code == 200
        plain = await client.get(LIST, params={"market": "spot", "force": "false"})
        assert (plain.status_code, plain.json()["cached"]) == (200, True)


async def test_upstream_failure_serves_cached_copy_else_502(tmp_path, sim):
    # Tickers expire at once, so every request goes upstream and a failure must fall back.
    async with canvas(tmp_path, sim, ticker_ttl=0.0) as (_, client):
        sim.rate_limit(10, retry_after=0)
        r = await client.get(LIST, params={"market": "spot"})
        assert (r.status_code, r.json()) == (502, {"detail": "upstream_error:rate_limited"})
        sim.rate_limit(0)
        fresh = await client.get(LIST, params={"market": "spot"})
        assert (fresh.status_code, fresh.json()["cached"]) == (200, False)
        await sim.refuse_connections()
        stale = await client.get(LIST, params={"market": "spot"})
        assert (stale.status_code, stale.json()["cached"]) == (200, True)
        assert stale.json()["items"] == fresh.json()["items"]
        forced = await client.get(LIST, params={"market": "spot", "force": "true"})
        assert (forced.status_code, forced.json()["cached"]) == (200, False)
        assert forced.json()["items"] == fresh.json()["items"]
        r = await client.get(LIST, params={"market": "futures"})
        assert (r.status_code, r.json()) == (502, {"detail": "upstream_error:unreachable"})
        await sim.accept_connections()
        assert (await client.get(LIST, params={"market": "futures"})).status_code == 200


@pytest.mark.parametrize("path", [LIST, STREAM])
async def test_bad_queries(tmp_path, sim, path):
    async with canvas(tmp_path, sim) as (_, client):
        r = await client.get(path, params={"market": "spot", "exchange": "okx"})
        assert (r.status_code, r.json()) == (400, {"detail": "unsupported exchange"})
        r = await client.get(path)
        assert r.status_code == 422
        assert [p["loc"] for p in r.json()["detail"]] == [["query", "market"]]
        bad = {"market": "margin", "limit": "0", "quote_asset": "X" * 13, "force": "maybe"}
        r = await client.get(path, params=bad)
        assert r.status_code == 422
        assert sorted(p["loc"][1] for p in r.json()["detail"]) == sorted(bad)
        for params in ({"limit": "201"}, {"limit": "1.5"}, {"quote_asset": " "}):
            r = await client.get(path, params={"market": "spot", **params})
            assert r.status_code == 422, params
            assert r.json()["detail"][0]["loc"][0] == "query"
        # A malformed value is reported before the exchange is judged.
        r = await client.get(path, params={"market": "spot", "exchange": "okx", "limit": "x"})
        assert r.status_code == 422
    assert sim.statistics().rest_requests == 0


async def test_stream_only_bounds(tmp_path, sim):
    async with canvas(tmp_path, sim) as (_, client):
        for params in (
            {"interval_s": "0.1"},
            {"interval_s": "31"},
            {"interval_s": "nan"},
            {"max_events": "-1"},
            {"max_events": "1001"},
        ):
            r = await client.get(STREAM, params={"market": "spot", **params})
            assert r.status_code == 422, params
            assert r.json()["detail"][0]["loc"] == ["query", next(iter(params))]


async def test_stream_frames_and_max_events(tmp_path, sim):
    async with canvas(tmp_path, sim) as (server, client):
        r, text = await read_stream(client, market="futures", limit=3, interval_s=0.2, max_events=1)
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        assert r.headers["cache-control"] == "no-cache"
        assert r.headers["x-accel-buffering"] == "no"
        assert text.startswith("id: ") and "\nevent: top_markets\ndata: {" in text
        [frame] = parse_sse(text)
        data = json.loads(frame["data"])
        assert frame["id"] == str(data["generated_at_ms"]) and frame["event"] == "top_markets"
        assert (data["market"], data["limit"], data["cached"]) == ("futures", 3, False)
        assert data["items"] == await expected_items(sim, "futures", "USDT", 3)
        # The stream shares the list's cache.
        listed = (await client.get(LIST, params={"market": "futures", "limit": 3})).json()
        assert (listed["cached"], listed["items"]) == (True, data["items"])
        assert server.deps.top_markets.statistics().open_streams == 0


async def test_stream_errors_count_toward_max_events(tmp_path, sim):
    async with canvas(tmp_path, sim) as (_, client):
        await sim.refuse_connections()
        t0 = trio.current_time()
        r, text = await read_stream(client, market="spot", interval_s=0.2, max_events=3)
        elapsed = trio.current_time() - t0
        assert r.status_code == 200  # failures after the headers are frames, not statuses
        frames = parse_sse(text)
        assert [("comment" in f, f.get("event")) for f in frames] == [
            (False, "error"),
            (True, None),
            (False, "error"),
            (True, None),
            (False, "error"),
        ]
        for f in frames[::2]:
            assert set(f) == {"event", "data"}
            data = json.loads(f["data"])
            assert set(data) == {"type", "message", "at_ms"}
            assert (data["type"], data["message"]) == ("error", "upstream_error:unreachable")
            assert abs(data["at_ms"] / 1000 - time.time()) < 10
        pings = [f["comment"] for f in frames[1::2]]
        assert all(p.startswith("ping ") and p[5:].isdigit() for p in pings)
        assert 0.4 <= elapsed < 5  # two intervals between three events


@pytest.mark.slow
async def test_stream_sends_data_only_on_change(tmp_path, sim):
    # Tickers refetched every pass: identical items are not resent, changed ones are.
    async with canvas(tmp_path, sim, ticker_ttl=0.0) as (_, client):
        frames = []
        with trio.fail_after(10):
            async with client.stream(
                "GET", STREAM, params={"market": "spot", "interval_s": 0.2, "max_events": 2}
            ) as r:
                buffer = ""
                async for chunk in r.aiter_text():
                    buffer += chunk
                    while "\n\n" in buffer:
                        block, buffer = buffer.split("\n\n", 1)
                        frames.extend(parse_sse(block + "\n\n"))
                        # Two pings without a resend, then move the exchange a minute on.
                        if sum("comment" in f for f in frames) == 2:
                            sim.clock.advance(60_000)
        events = [f for f in frames if "event" in f]
        assert [f["event"] for f in events] == ["top_markets", "top_markets"]
        assert "comment" in frames[1] and "comment" in frames[2]
        first, second = (json.loads(f["data"]) for f in events)
        assert first["items"] != second["items"]
        assert int(events[0]["id"]) < int(events[1]["id"])


async def open_raw_stream(server, query: str) -> tuple[trio.SocketStream, bytearray]:
    """A stream request on a raw socket, read until the first data event and one ping."""
    sock = await trio.open_tcp_stream("127.0.0.1", server.port)
    await sock.send_all(
        f"GET {STREAM}?{query} HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n\r\n".encode()
    )
    received = bytearray()
    with trio.fail_after(10):
        while b"event: top_markets" not in received or b": ping " not in received:
            chunk = await sock.receive_some()
            assert chunk, bytes(received)
            received += chunk
    assert received.startswith(b"HTTP/1.1 200")
    return sock, received


async def test_client_disconnect_ends_the_stream(tmp_path, sim):
    async with canvas(tmp_path, sim) as (server, _):
        service = server.deps.top_markets
        sock, _ = await open_raw_stream(server, "market=spot&interval_s=0.2")
        assert service.statistics().open_streams == 1
        await sock.aclose()
        # Without the disconnect noticed this stream would run (and ping) forever.
        with trio.fail_after(2):
            await service.wait_streams_closed()
        assert service.statistics() == TopMarketsStatistics(open_streams=0, streams_started=1)


async def test_open_stream_ends_promptly_on_shutdown(tmp_path, sim):
    async with canvas(tmp_path, sim) as (server, _):
        sock, received = await open_raw_stream(server, "market=spot&interval_s=30")
        try:
            t0 = trio.current_time()
            server.request_stop()
            with trio.fail_after(2):  # well inside the 5 s graceful budget
                while not received.endswith(b"0\r\n\r\n"):
                    chunk = await sock.receive_some()
                    if not chunk:
                        break
                    received += chunk
            # The body was ended properly (last chunk), not cut.
            assert received.endswith(b"0\r\n\r\n")
        finally:
            await sock.aclose()
    # The whole server, its ingest client included, is down soon after.
    assert trio.current_time() - t0 < 2
    assert server.deps.top_markets.statistics().open_streams == 0
