"""The REST client against the simulator: paging, closed-row filtering, retries, typed errors."""

import json
import socket

import httpx
import pytest
import trio

from canvas.candles import Candle
from canvas.exchange import (
    BinanceEndpoints,
    BinanceRest,
    ExchangeMalformed,
    ExchangeRateLimited,
    ExchangeStatusError,
    ExchangeUnavailable,
)
from canvas.series_id import SeriesId
from canvas.simexchange.wire import Formats

from .conftest import START_MS

FUTURES_1M = SeriesId.parse("binance:futures:BTC/USDT:USDT:1m")
SPOT_1M = SeriesId.parse("binance:spot:ETH/USDT:1m")
MINUTE = 60
LAST_CLOSED = (START_MS // 60_000 - 1) * 60  # the minute before the forming one, in seconds


def truth(sim, series, candle_time):
    """What the simulator says the candle is, through its wire format."""
    listing = sim.routes.listings.find(series.market, series.exchange_symbol)
    bar = sim.market.candle(listing.spec, series.market, series.timeframe, candle_time * 1000)
    fmt = Formats(listing.spec, series.market)
    return Candle(
        candle_time,
        float(fmt.price(bar.open)),
        float(fmt.price(bar.high)),
        float(fmt.price(bar.low)),
        float(fmt.price(bar.close)),
        float(fmt.volume(bar.volume)),
    )


async def test_server_time(sim, rest):
    with trio.fail_after(10):
        assert await rest.server_time("spot") == START_MS
        assert await rest.server_time("futures") == START_MS


async def test_futures_range_pages_by_1500(sim, rest):
    with trio.fail_after(10):
        start = LAST_CLOSED - 3999 * MINUTE
        before = sim.statistics().rest_requests
        result = await rest.fetch_closed_range(FUTURES_1M, start, LAST_CLOSED)
        times = [c.candle_time for c in result.candles]
        assert times == list(range(start, LAST_CLOSED + 1, MINUTE))
        # 1500 + 1500 + 1000 (short page ends it), plus the serverTime read.
        assert result.pages == 3
        assert sim.statistics().rest_requests - before == 4
        assert result.server_time_ms == START_MS
        assert result.delivered == 4000 and result.rejected == 0
        for candle in (result.candles[0], result.candles[1777], result.candles[-1]):
            assert candle == truth(sim, FUTURES_1M, candle.candle_time)


async def test_spot_range_pages_by_1000_and_stops_at_the_exchange_clock(sim, rest):
    with trio.fail_after(10):
        start = LAST_CLOSED - 2499 * MINUTE
        # Asking past "now" still yields only closed candles: the forming minute is left out.
        result = await rest.fetch_closed_range(SPOT_1M, start, LAST_CLOSED + 10 * MINUTE)
        times = [c.candle_time for c in result.candles]
        assert times == list(range(start, LAST_CLOSED + 1, MINUTE))
        assert result.pages == 3
        open_ended = await rest.fetch_closed_range(SPOT_1M, LAST_CLOSED - 5 * MINUTE)
        assert open_ended.candles[-1].candle_time == LAST_CLOSED
        assert len(open_ended.candles) == 6


async def test_pages_go_to_the_callback(sim, rest):
    with trio.fail_after(10):
        pages = []

        async def store(page):
            pages.append(page)

        start = LAST_CLOSED - 3199 * MINUTE
        result = await rest.fetch_closed_range(FUTURES_1M, start, LAST_CLOSED, on_page=store)
        assert result.candles == ()
        assert [len(p) for p in pages] == [1500, 1500, 200]
        assert result.delivered == 3200


async def test_latest_closed_bootstrap(sim, rest):
    with trio.fail_after(10):
        sim.clock.advance(61_000)
        result = await rest.fetch_latest_closed(SeriesId.parse("binance:futures:SOL/USDT:5m"), 20)
        times = [c.candle_time for c in result.candles]
        server_s = (START_MS + 61_000) // 1000
        assert len(times) == 20 and times[-1] + 300 <= server_s < times[-1] + 600
        assert times == sorted(times) and times[1] - times[0] == 300


async def test_rows_not_closed_by_server_time_are_dropped_and_bad_rows_skipped():
    # An exchange that ignores endTime and sends the forming bucket anyway, plus a bad row.
    t0 = 1_735_689_600_000
    rows = [
        [t0 + i * 60_000, "10", "11", "9", "10.5", "1", t0 + i * 60_000 + 59_999] for i in range(4)
    ]
    rows[1] = [t0 + 60_000, "10", "9", "11", "10", "1", t0 + 119_999]  # high below low

    def answer(request):
        if request.url.path.endswith("/time"):
            return httpx.Response(200, json={"serverTime": t0 + 3 * 60_000 + 5})
        return httpx.Response(200, json=rows)

    with trio.fail_after(10):
        async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as client:
            rest = BinanceRest(client, BinanceEndpoints("http://exchange.test"))
            result = await rest.fetch_closed_range(SPOT_1M, t0 // 1000, t0 // 1000 + 600)
    assert [c.candle_time for c in result.candles] == [t0 // 1000, t0 // 1000 + 120]
    assert (result.dropped_unclosed, result.rejected) == (1, 1)


async def test_malformed_bodies_raise():
    bodies = {"/api/v3/time": b"{}", "/api/v3/klines": b"[[1, 2]]", "/api/v3/exchangeInfo": b"<"}

    def answer(request):
        return httpx.Response(200, content=bodies.get(request.url.path, b"[]"))

    with trio.fail_after(10):
        async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as client:
            rest = BinanceRest(client, BinanceEndpoints("http://exchange.test"))
            with pytest.raises(ExchangeMalformed, match="serverTime"):
                await rest.server_time("spot")
            with pytest.raises(ExchangeMalformed, match="klines row"):
                await rest._fetch(SPOT_1M, 10**12, 0, None, None)
            with pytest.raises(ExchangeMalformed, match="not JSON") as raised:
                await rest.exchange_info("spot")
            assert raised.value.detail == "upstream_error:malformed_response"
            assert raised.value.status == 502


async def test_retry_after_is_honoured(sim, rest):
    with trio.fail_after(10):
        sim.rate_limit(2, status=429, retry_after=0.2)
        start = trio.current_time()
        assert await rest.server_time("futures") == START_MS
        assert trio.current_time() - start >= 0.4
        assert sim.statistics().rest_requests == 3
        sim.rate_limit(1, status=418, retry_after=0.1)
        assert await rest.server_time("spot") == START_MS


async def test_rate_limit_gives_up_after_the_allowed_retries(sim, rest):
    with trio.fail_after(10):
        sim.rate_limit(10, retry_after=0.05)
        with pytest.raises(ExchangeRateLimited) as raised:
            await rest.server_time("spot")
        assert raised.value.status_code == 429 and raised.value.retry_after == 0.05
        assert raised.value.detail == "upstream_error:rate_limited"
        assert sim.statistics().rest_requests == 4  # the first try and three retries
        # A ban longer than we are willing to wait is not slept through.
        sim.rate_limit(1, status=418, retry_after=3600)
        start = trio.current_time()
        with pytest.raises(ExchangeRateLimited):
            await rest.server_time("spot")
        assert trio.current_time() - start < 1


async def test_bad_status_carries_binance_code(sim, rest):
    with trio.fail_after(10):
        with pytest.raises(ExchangeStatusError) as raised:
            await rest.klines("spot", "NOPE/USDT", "1m")
        assert (raised.value.status_code, raised.value.code) == (400, -1121)
        assert raised.value.detail == "upstream_error:http_400"


async def test_refused_connections_raise_unavailable(sim, rest):
    with trio.fail_after(10):
        await sim.refuse_connections()
        with pytest.raises(ExchangeUnavailable) as raised:
            await rest.fetch_closed_range(FUTURES_1M, LAST_CLOSED - 600, LAST_CLOSED)
        assert raised.value.detail == "upstream_error:unreachable"
        assert "ConnectError" in str(raised.value)
        await sim.accept_connections()
        assert await rest.server_time("spot") == START_MS


async def test_nothing_listening_raises_unavailable():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with trio.fail_after(10):
        async with BinanceRest.open(BinanceEndpoints(f"http://127.0.0.1:{port}")) as rest:
            with pytest.raises(ExchangeUnavailable):
                await rest.server_time("spot")


async def test_market_lists(sim, rest):
    with trio.fail_after(10):
        info = await rest.exchange_info("futures")
        tickers = await rest.tickers_24hr("futures")
        perpetual = {s["symbol"] for s in info["symbols"] if s["contractType"] == "PERPETUAL"}
        assert "BTCUSDT" in perpetual and "BTCUSDT_260626" not in perpetual
        assert {t["symbol"] for t in tickers} >= perpetual
        assert all(float(t["quoteVolume"]) > 0 for t in tickers)
        json.dumps(info)  # plain JSON all the way down
