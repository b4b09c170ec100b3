"""Top-markets cores: parsing, the TTL cache, the force limiter, SSE framing, query checks."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from canvas.errors import CanvasError, RateLimited, UpstreamError, ValidationFailed
from canvas.markets import (
    EXCHANGE_INFO,
    TICKERS,
    ForceLimiter,
    MarketDataCache,
    MarketItem,
    Ticker,
    parse_exchange_info,
    parse_tickers,
    parse_top_markets_query,
    parse_top_markets_stream_query,
    to_float,
    top_items,
    top_markets_response,
)
from canvas.sse import sse_error, sse_event, sse_ping


class FakeClock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def symbol(name: str, base: str, quote: str, status: str = "TRADING", **extra: Any) -> dict:
    return {"symbol": name, "status": status, "baseAsset": base, "quoteAsset": quote, **extra}


def ticker(name: str, volume: object, last: object = "1.5", change: object = "-2.25") -> dict:
    return {
        "symbol": name,
        "lastPrice": last,
        "quoteVolume": volume,
        "priceChangePercent": change,
    }


SPOT_INFO = {
    "timezone": "UTC",
    "symbols": [
        symbol("BTCUSDT", "BTC", "USDT"),
        symbol("ETHUSDT", "ETH", "USDT"),
        symbol("SOLUSDT", "SOL", "USDT"),
        symbol("DOGEUSDT", "DOGE", "USDT"),
        symbol("OLDUSDT", "OLD", "USDT", status="BREAK"),
        symbol("ETHBTC", "ETH", "BTC"),
        "not an object",
        {"symbol": "NOBASE", "status": "TRADING", "quoteAsset": "USDT"},
    ],
}
SPOT_TICKERS = [
    ticker("ETHUSDT", "5000.5", last="3000.25", change="1.5"),
    ticker("BTCUSDT", "90000", last="65000.1", change="-0.5"),
    ticker("SOLUSDT", "nope"),
    ticker("DOGEUSDT", 700, last="garbage", change=None),
    ticker("OLDUSDT", "999999"),
    ticker("ETHBTC", "123"),
    ticker("NOBASE", "1"),
    {"quoteVolume": "1"},
    42,
]


def test_spot_items_are_filtered_sorted_and_shaped() -> None:
    items = top_items(
        parse_exchange_info(SPOT_INFO, "spot"),
        parse_tickers(SPOT_TICKERS),
        exchange="binance",
        market="spot",
        quote_asset="USDT",
        limit=20,
    )
    assert [i.as_json() for i in items] == [
        {
            "exchange": "binance",
            "market": "spot",
            "symbol": "BTC/USDT",
            "symbol_id": "binance:spot:BTC/USDT",
            "base_asset": "BTC",
            "quote_asset": "USDT",
            "last_price": 65000.1,
            "quote_volume": 90000.0,
            "price_change_percent": -0.5,
        },
        {
            "exchange": "binance",
            "market": "spot",
            "symbol": "ETH/USDT",
            "symbol_id": "binance:spot:ETH/USDT",
            "base_asset": "ETH",
            "quote_asset": "USDT",
            "last_price": 3000.25,
            "quote_volume": 5000.5,
            "price_change_percent": 1.5,
        },
        {
            "exchange": "binance",
            "market": "spot",
            "symbol": "DOGE/USDT",
            "symbol_id": "binance:spot:DOGE/USDT",
            "base_asset": "DOGE",
            "quote_asset": "USDT",
            "last_price": None,
            "quote_volume": 700.0,
            "price_change_percent": None,
        },
    ]


def test_limit_quote_and_tie_break() -> None:
    info = parse_exchange_info(
        {"symbols": [symbol(f"{b}USDT", b, "USDT") for b in ("B", "A", "C")]}, "spot"
    )
    tickers = parse_tickers([ticker("BUSDT", "10"), ticker("AUSDT", "10"), ticker("CUSDT", "9")])
    kw: dict[str, Any] = {"exchange": "binance", "market": "spot", "quote_asset": "USDT"}
    assert [i.symbol for i in top_items(info, tickers, limit=2, **kw)] == ["A/USDT", "B/USDT"]
    assert (
        top_items(info, tickers, exchange="binance", market="spot", quote_asset="BTC", limit=5)
        == []
    )


def test_futures_keep_perpetual_and_empty_contract_type_only() -> None:
    info = {
        "symbols": [
            symbol("BTCUSDT", "BTC", "USDT", contractType="PERPETUAL"),
            symbol("ETHUSDT", "ETH", "USDT", contractType=""),
            symbol("XRPUSDT", "XRP", "USDT"),
            symbol("BTCUSDT_250328", "BTC", "USDT", contractType="CURRENT_QUARTER"),
            symbol("LTCUSDT", "LTC", "USDT", status="SETTLING", contractType="PERPETUAL"),
        ]
    }
    assert sorted(parse_exchange_info(info, "futures")) == ["BTCUSDT", "ETHUSDT", "XRPUSDT"]
    # Spot has no contract types: the field is ignored there.
    assert "BTCUSDT_250328" in parse_exchange_info(info, "spot")
    items = top_items(
        parse_exchange_info(info, "futures"),
        parse_tickers([ticker("BTCUSDT", "5"), ticker("BTCUSDT_250328", "50")]),
        exchange="binance",
        market="futures",
        quote_asset="USDT",
        limit=20,
    )
    assert [(i.symbol, i.symbol_id) for i in items] == [("BTC/USDT", "binance:futures:BTC/USDT")]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("1.25", 1.25),
        (3, 3.0),
        (2.5, 2.5),
        ("1e3", 1000.0),
        ("", None),
        ("abc", None),
        ("NaN", None),
        ("Infinity", None),
        (True, None),
        (None, None),
        ([1], None),
    ],
)
def test_to_float(raw: object, expected: float | None) -> None:
    assert to_float(raw) == expected


def test_tickers_without_numeric_quote_volume_are_dropped() -> None:
    kept = parse_tickers(
        [ticker("A", "nan"), ticker("B", None), ticker("C", True), ticker("D", "0")]
    )
    assert kept == (Ticker("D", 1.5, 0.0, -2.25),)


@pytest.mark.parametrize("body", [None, [], {"symbols": "x"}, "text"])
def test_malformed_exchange_info_is_an_upstream_error(body: object) -> None:
    with pytest.raises(UpstreamError) as info:
        parse_exchange_info(body, "spot")
    assert info.value.status == 502
    assert info.value.detail == "upstream_error:bad_exchange_info"


def test_malformed_tickers_are_an_upstream_error() -> None:
    with pytest.raises(UpstreamError, match="bad_ticker"):
        parse_tickers({"symbol": "BTCUSDT"})


# ---- cache ----------------------------------------------------------------------------------


def run_fetch(
    cache: MarketDataCache, market: str, *, force: bool = False, fail: frozenset[str] = frozenset()
) -> tuple[tuple[str, ...], Any]:
    """Drive a fetch the way the web layer will; `fail` kinds raise UpstreamError."""
    fetch = cache.begin(market, force=force)
    for kind in fetch.due:
        try:
            if kind in fail:
                raise UpstreamError("timeout")
            value = (
                parse_exchange_info(SPOT_INFO, market)
                if kind == EXCHANGE_INFO
                else (parse_tickers(SPOT_TICKERS))
            )
            fetch.fetched(kind, value)
        except UpstreamError:
            if not fetch.fall_back(kind):
                raise
    return fetch.due, fetch.result()


def test_cache_ttls_and_cached_flag() -> None:
    clock = FakeClock()
    cache = MarketDataCache(clock)
    due, data = run_fetch(cache, "spot")
    assert due == (EXCHANGE_INFO, TICKERS)
    assert data.cached is False
    assert "BTCUSDT" in data.symbols

    clock.now += 9.9
    due, data = run_fetch(cache, "spot")
    assert (due, data.cached) == ((), True)

    clock.now += 0.1
    due, data = run_fetch(cache, "spot")
    assert (due, data.cached) == ((TICKERS,), False)

    clock.now += 3600
    due, _ = run_fetch(cache, "spot")
    assert due == (EXCHANGE_INFO, TICKERS)

    due, data = run_fetch(cache, "spot", force=True)
    assert (due, data.cached) == ((EXCHANGE_INFO, TICKERS), False)


def test_markets_are_cached_separately() -> None:
    cache = MarketDataCache(FakeClock())
    run_fetch(cache, "spot")
    assert cache.begin("futures").due == (EXCHANGE_INFO, TICKERS)
    assert cache.begin("spot").due == ()


def test_upstream_failure_serves_the_stale_copy() -> None:
    clock = FakeClock()
    cache = MarketDataCache(clock)
    run_fetch(cache, "spot")
    clock.now += 60
    due, data = run_fetch(cache, "spot", fail=frozenset({TICKERS}))
    assert due == (TICKERS,)
    # Nothing was fetched for this request: it was served wholly from cache.
    assert data.cached is True
    assert data.tickers == parse_tickers(SPOT_TICKERS)

    due, data = run_fetch(cache, "spot", force=True, fail=frozenset({TICKERS}))
    assert data.cached is False


def test_upstream_failure_with_nothing_cached_raises() -> None:
    cache = MarketDataCache(FakeClock())
    with pytest.raises(UpstreamError) as info:
        run_fetch(cache, "spot", fail=frozenset({EXCHANGE_INFO}))
    assert info.value.body() == {"detail": "upstream_error:timeout"}
    fetch = cache.begin("spot")
    assert fetch.fall_back(EXCHANGE_INFO) is False
    with pytest.raises(UpstreamError, match="no_data"):
        fetch.result()


# ---- force limiter ----------------------------------------------------------------------------


def test_force_at_most_once_per_two_seconds_per_ip_and_market() -> None:
    clock = FakeClock()
    limiter = ForceLimiter(clock)
    assert limiter.allow("1.2.3.4", "spot")
    assert not limiter.allow("1.2.3.4", "spot")
    assert limiter.allow("1.2.3.4", "futures")
    assert limiter.allow("5.6.7.8", "spot")
    clock.now += 1.9
    # A refusal does not restart the window.
    assert not limiter.allow("1.2.3.4", "spot")
    clock.now += 0.1
    assert limiter.allow("1.2.3.4", "spot")
    with pytest.raises(RateLimited) as info:
        limiter.check("1.2.3.4", "spot")
    assert (info.value.status, info.value.body()) == (429, {"detail": "rate_limited"})


def test_force_limiter_memory_is_bounded() -> None:
    clock = FakeClock()
    limiter = ForceLimiter(clock, max_keys=100)
    for i in range(1000):
        assert limiter.allow(f"10.0.{i // 256}.{i % 256}", "spot")
        clock.now += 0.001
    assert len(limiter) == 100
    clock.now += 2
    limiter.allow("1.1.1.1", "spot")
    # Every expired key is gone once anyone calls again.
    assert len(limiter) == 1


@settings(max_examples=100, deadline=None, database=None)
@given(st.lists(st.tuples(st.sampled_from("abc"), st.floats(0, 3)), max_size=60))
def test_force_limiter_matches_a_naive_model(calls: list[tuple[str, float]]) -> None:
    clock = FakeClock(0.0)
    limiter = ForceLimiter(clock)
    last: dict[str, float] = {}
    for ip, step in calls:
        clock.now += step
        expected = ip not in last or clock.now - last[ip] >= 2.0
        if expected:
            last[ip] = clock.now
        assert limiter.allow(ip, "spot") is expected


# ---- SSE and responses -------------------------------------------------------------------------


def test_sse_framing() -> None:
    assert sse_event(1700000000123, "top_markets", {"a": [1, 2], "b": "é"}) == (
        'id: 1700000000123\nevent: top_markets\ndata: {"a":[1,2],"b":"é"}\n\n'
    )
    assert sse_error("boom\nline two", 1700000000123) == (
        'event: error\ndata: {"type":"error","message":"boom\\nline two","at_ms":1700000000123}\n\n'
    )
    assert sse_ping(1700000000) == ": ping 1700000000\n\n"
    with pytest.raises(ValueError, match="CR, LF or NUL"):
        sse_event("1\n2", "top_markets", {})


def test_response_shape_round_trips_as_one_data_line() -> None:
    query = parse_top_markets_query({"market": "spot"})
    item = MarketItem("binance", "spot", "BTC", "USDT", 1.0, 2.0, None)
    body = top_markets_response(query, [item], generated_at_ms=5, cached=True)
    assert body == {
        "exchange": "binance",
        "market": "spot",
        "quote_asset": "USDT",
        "limit": 20,
        "generated_at_ms": 5,
        "cached": True,
        "items": [item.as_json()],
    }
    frame = sse_event(5, "top_markets", body)
    lines = frame.split("\n")
    assert lines[:2] == ["id: 5", "event: top_markets"]
    assert json.loads(lines[2].removeprefix("data: ")) == body
    assert lines[3:] == ["", ""]


# ---- query validation ---------------------------------------------------------------------------


def problems_of(args: dict[str, str], *, stream: bool = False) -> list[dict[str, Any]]:
    with pytest.raises(ValidationFailed) as info:
        (parse_top_markets_stream_query if stream else parse_top_markets_query)(args)
    assert info.value.status == 422
    return info.value.problems


def test_query_defaults_and_normalisation() -> None:
    q = parse_top_markets_query({"market": "futures"})
    assert (q.exchange, q.market, q.quote_asset, q.limit, q.force) == (
        "binance",
        "futures",
        "USDT",
        20,
        False,
    )
    q = parse_top_markets_query(
        {
            "exchange": "binance",
            "market": "spot",
            "quote_asset": "fdusd",
            "limit": "200",
            "force": "TRUE",
        }
    )
    assert (q.quote_asset, q.limit, q.force) == ("FDUSD", 200, True)
    assert parse_top_markets_query({"market": "spot", "force": "0"}).force is False


def test_market_is_required_and_checked() -> None:
    assert problems_of({}) == [
        {"loc": ["query", "market"], "msg": "Field required", "type": "missing"}
    ]
    assert [p["type"] for p in problems_of({"market": "margin"})] == ["enum"]


@pytest.mark.parametrize(
    ("args", "loc", "type_"),
    [
        ({"quote_asset": ""}, "quote_asset", "string_too_short"),
        ({"quote_asset": "ABCDEFGHIJKLM"}, "quote_asset", "string_too_long"),
        ({"limit": "0"}, "limit", "greater_than_equal"),
        ({"limit": "201"}, "limit", "less_than_equal"),
        ({"limit": "2.5"}, "limit", "int_parsing"),
        ({"limit": ""}, "limit", "int_parsing"),
        ({"force": "yes"}, "force", "bool_parsing"),
    ],
)
def test_query_problems(args: dict[str, str], loc: str, type_: str) -> None:
    problems = problems_of({"market": "spot", **args})
    assert [(p["loc"], p["type"]) for p in problems] == [(["query", loc], type_)]
    assert all(isinstance(p["msg"], str) and p["msg"] for p in problems)


def test_every_problem_is_listed_and_422_comes_before_the_exchange_check() -> None:
    problems = problems_of({"exchange": "kraken", "limit": "0", "quote_asset": ""})
    assert [p["loc"][1] for p in problems] == ["market", "quote_asset", "limit"]


def test_other_exchanges_are_unsupported() -> None:
    with pytest.raises(CanvasError) as info:
        parse_top_markets_query({"exchange": "kraken", "market": "spot"})
    assert not isinstance(info.value, ValidationFailed)
    assert (info.value.status, info.value.body()) == (400, {"detail": "unsupported exchange"})


def test_stream_query() -> None:
    s = parse_top_markets_stream_query({"market": "spot"})
    assert (s.interval_s, s.max_events, s.query.market) == (2.0, 0, "spot")
    s = parse_top_markets_stream_query(
        {"market": "spot", "interval_s": "0.2", "max_events": "1000"}
    )
    assert (s.interval_s, s.max_events) == (0.2, 1000)
    assert parse_top_markets_stream_query({"market": "spot", "interval_s": "30"}).interval_s == 30


@pytest.mark.parametrize(
    ("args", "type_"),
    [
        ({"interval_s": "0.1"}, "greater_than_equal"),
        ({"interval_s": "30.5"}, "less_than_equal"),
        ({"interval_s": "nan"}, "float_parsing"),
        ({"interval_s": "1e999"}, "finite_number"),
        ({"interval_s": "fast"}, "float_parsing"),
        ({"max_events": "-1"}, "greater_than_equal"),
        ({"max_events": "1001"}, "less_than_equal"),
        ({"max_events": "many"}, "int_parsing"),
    ],
)
def test_stream_query_problems(args: dict[str, str], type_: str) -> None:
    problems = problems_of({"market": "spot", **args}, stream=True)
    assert [p["type"] for p in problems] == [type_]
