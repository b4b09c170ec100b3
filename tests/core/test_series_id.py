"""Series ids, timeframes and alignment (§1.1, §1.2, §1.4)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from canvas.errors import InvalidSeriesId
from canvas.series_id import SeriesId, candle_id, expected_latest_closed_time, timeframe_seconds


def test_parse_parts():
    s = SeriesId.parse("binance:futures:BTC/USDT:USDT:1h")
    assert (s.exchange, s.market, s.symbol, s.timeframe, s.tf) == (
        "binance",
        "futures",
        "BTC/USDT:USDT",
        "1h",
        3600,
    )
    assert str(s) == "binance:futures:BTC/USDT:USDT:1h"
    assert s.exchange_symbol == "BTCUSDT"
    assert (s.base_asset, s.quote_asset) == ("BTC", "USDT")
    assert SeriesId.parse("okx:spot:ETH/BTC:1d").tf == 86400
    assert candle_id("binance:spot:ETH/USDT:1m", 60) == "binance:spot:ETH/USDT:1m:60"


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "binance:futures:BTC/USDT",
        "binance:margin:BTC/USDT:1m",
        "binance:futures:BTCUSDT:1m",
        "binance:futures:BTC/:1m",
        "binance:futures:/USDT:1m",
        "binance:futures:A/B/C:1m",
        "binance:futures:BTC/USDT:0m",
        "binance:futures:BTC/USDT:1w",
        "binance:futures:BTC/USDT:m",
        "binance:futures:BTC/USDT:01m",
        " binance:futures:BTC/USDT:1m",
        "binance:futures:BTC/USDT:1m ",
        "bin ance:futures:BTC/USDT:1m",
        "binance:futures:BTC/USDT:\x011m",
        ":futures:BTC/USDT:1m",
        "binance:futures:BTC/USDT::1m",
        "binance:Futures:BTC/USDT:1m",
        None,
        5,
    ],
)
def test_invalid(raw):
    with pytest.raises(InvalidSeriesId) as info:
        SeriesId.parse(raw)
    assert info.value.status == 400
    assert info.value.detail.startswith("invalid series_id: ")


def test_timeframes():
    assert [timeframe_seconds(t) for t in ("1m", "5m", "15m", "1h", "4h", "1d", "90m")] == [
        60,
        300,
        900,
        3600,
        14400,
        86400,
        5400,
    ]


def test_latest_closed_vectors():
    assert expected_latest_closed_time(1735689665, 60) == 1735689600
    assert expected_latest_closed_time(1700000100, 300) == 1699999800
    assert expected_latest_closed_time(1200, 3600) == 0


@given(st.integers(0, 10**11), st.sampled_from([60, 300, 900, 3600, 14400, 86400]))
def test_latest_closed_is_the_last_full_bucket(now, tf):
    t = expected_latest_closed_time(now, tf)
    assert t % tf == 0
    if now >= 2 * tf:
        assert t + tf <= now < t + 2 * tf
