"""The simulator's REST side on a real socket: Binance shapes, limits, errors, control endpoints."""

import httpx
import pytest
import trio

from .conftest import START_MS

MINUTE = 60_000


async def test_server_time_on_both_markets(sim, http):
    with trio.fail_after(10):
        base = sim.handle.base_url
        for path in ("/api/v3/time", "/fapi/v1/time", "/spot/api/v3/time", "/futures/fapi/v1/time"):
            response = await http.get(base + path)
            assert response.json() == {"serverTime": START_MS}
        # A market-named base only serves its own API family.
        assert (await http.get(base + "/spot/fapi/v1/time")).status_code == 404
        assert (await http.get(base + "/nope")).status_code == 404


async def test_klines_default_page_ends_with_the_forming_bucket(sim, http):
    with trio.fail_after(10):
        url = sim.handle.futures_rest_base + "/fapi/v1/klines"
        rows = (await http.get(url, params={"symbol": "BTCUSDT", "interval": "1m"})).json()
        assert len(rows) == 500
        forming_open = START_MS - START_MS % MINUTE
        assert rows[-1][0] == forming_open
        assert rows[-1][6] == forming_open + MINUTE - 1 >= START_MS
        assert [r[0] for r in rows] == list(
            range(forming_open - 499 * MINUTE, forming_open + 1, MINUTE)
        )
        assert all(len(r) == 12 and isinstance(r[1], str) for r in rows)


async def test_klines_range_and_limits(sim, http):
    with trio.fail_after(10):
        spot = sim.handle.spot_rest_base + "/api/v3/klines"
        futures = sim.handle.futures_rest_base + "/fapi/v1/klines"
        start = START_MS - START_MS % MINUTE - 3000 * MINUTE

        async def get(url, **params):
            return await http.get(url, params={"symbol": "BTCUSDT", "interval": "1m", **params})

        rows = (await get(spot, startTime=start + 1, endTime=start + 10 * MINUTE)).json()
        # startTime rounds up to the next open; endTime keeps buckets opening at or before it.
        assert [r[0] for r in rows] == [start + i * MINUTE for i in range(1, 11)]
        assert len((await get(spot, startTime=start, limit=1000)).json()) == 1000
        assert len((await get(futures, startTime=start, limit=1500)).json()) == 1500
        too_many = await get(spot, limit=1001)
        assert too_many.status_code == 400 and too_many.json()["code"] == -1130
        assert (await get(futures, limit=0)).status_code == 400
        future = (await get(spot, startTime=START_MS + 10 * MINUTE)).json()
        assert future == []
        assert (await get(spot, startTime=2, endTime=1)).json()["code"] == -1023
        assert (await get(spot, limit="ten")).json()["code"] == -1100


async def test_klines_errors_follow_binance(sim, http):
    with trio.fail_after(10):
        url = sim.handle.base_url + "/api/v3/klines"
        cases = [
            ({"interval": "1m"}, -1102),
            ({"symbol": "BTCUSDT"}, -1102),
            ({"symbol": "NOPEUSDT", "interval": "1m"}, -1121),
            ({"symbol": "BTCUSDT", "interval": "1w"}, -1120),
        ]
        for params, code in cases:
            response = await http.get(url, params=params)
            assert response.status_code == 400
            assert response.json()["code"] == code
        assert (await http.post(url)).status_code == 405


async def test_exchange_info_and_tickers(sim, http):
    with trio.fail_after(10):
        spot_info = (await http.get(sim.handle.spot_rest_base + "/api/v3/exchangeInfo")).json()
        futures_info = (
            await http.get(sim.handle.futures_rest_base + "/fapi/v1/exchangeInfo")
        ).json()
        spot_rows = {s["symbol"]: s for s in spot_info["symbols"]}
        futures_rows = {s["symbol"]: s for s in futures_info["symbols"]}
        assert spot_rows["BTCUSDT"]["status"] == "TRADING"
        assert spot_rows["BTCUSDT"]["quoteAsset"] == "USDT"
        assert "contractType" not in spot_rows["BTCUSDT"]
        assert futures_rows["BTCUSDT"]["contractType"] == "PERPETUAL"
        assert futures_rows["BTCUSDT_260626"]["contractType"] == "CURRENT_QUARTER"

        tickers = (await http.get(sim.handle.base_url + "/fapi/v1/ticker/24hr")).json()
        assert {t["symbol"] for t in tickers} == set(futures_rows)
        for ticker in tickers:
            assert float(ticker["quoteVolume"]) > 0
            float(ticker["lastPrice"]), float(ticker["priceChangePercent"])
        one = await http.get(sim.handle.base_url + "/fapi/v1/ticker/24hr?symbol=ETHUSDT")
        assert one.json()["symbol"] == "ETHUSDT"
        # The last price is the close of the forming minute.
        minute = (
            await http.get(
                sim.handle.base_url + "/fapi/v1/klines",
                params={"symbol": "ETHUSDT", "interval": "1m", "limit": 1},
            )
        ).json()[0]
        assert one.json()["lastPrice"] == minute[4]


async def test_rate_limit_answers_n_requests_with_retry_after(sim, http):
    with trio.fail_after(10):
        url = sim.handle.base_url + "/api/v3/time"
        sim.rate_limit(2, status=418, retry_after=7)
        for _ in range(2):
            response = await http.get(url)
            assert response.status_code == 418
            assert response.headers["Retry-After"] == "7"
        assert (await http.get(url)).status_code == 200
        with pytest.raises(ValueError):
            sim.rate_limit(1, status=500)


async def test_control_endpoints_drive_the_sim(sim, http):
    with trio.fail_after(10):
        control = sim.handle.control_base
        state = (await http.get(control + "/_sim/state")).json()
        assert state["now_ms"] == START_MS and state["speed"] == 0
        assert (await http.post(control + "/_sim/clock?advance_ms=60000")).json()["now_ms"] == (
            START_MS + MINUTE
        )
        assert sim.clock.now_ms() == START_MS + MINUTE
        response = await http.post(control + "/_sim/rate_limit?count=1&status=429&retry_after=0.5")
        assert response.status_code == 200
        limited = await http.get(sim.handle.base_url + "/api/v3/time")
        assert limited.status_code == 429 and limited.headers["Retry-After"] == "0.5"
        await http.post(control + "/_sim/silence?seconds=30")
        assert sim.statistics().silent
        await http.post(control + "/_sim/resume")
        assert not sim.statistics().silent
        assert (await http.post(control + "/_sim/rate_limit?count=x")).status_code == 400
        assert (await http.post(control + "/_sim/nope")).status_code == 404
        assert (await http.get(control + "/_sim/drop")).status_code == 405
        # The control port serves control only; the market port serves both.
        assert (await http.get(control + "/api/v3/time")).status_code == 404
        assert (await http.get(sim.handle.base_url + "/_sim/state")).status_code == 200


async def test_refuse_connections_until_told(sim, http):
    with trio.fail_after(10):
        url = sim.handle.base_url + "/api/v3/time"
        assert (await http.get(url)).status_code == 200
        await sim.refuse_connections()
        # The pooled keep-alive connection was cut too, so this is a fresh, refused connect.
        with pytest.raises(httpx.ConnectError):
            await http.get(url)
        assert (await http.get(sim.handle.control_base + "/_sim/state")).json()["refusing"]
        await sim.accept_connections()
        assert (await http.get(url)).status_code == 200


async def test_refuse_over_http_for_a_while(sim, http):
    with trio.fail_after(10):
        url = sim.handle.base_url + "/api/v3/time"
        # Asked on the market port itself: the answer still arrives, then the port closes.
        response = await http.post(sim.handle.base_url + "/_sim/refuse?seconds=0.3")
        assert response.json() == {"refusing": True}
        with pytest.raises(httpx.ConnectError):
            await http.get(url)
        while sim.statistics().refusing:
            await trio.sleep(0.05)
        assert (await http.get(url)).status_code == 200
