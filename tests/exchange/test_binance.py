"""Binance URL building and symbol mapping (CONTRACT §8)."""

import pytest

from canvas.exchange import BinanceEndpoints, rest_symbol, stream_symbol
from canvas.series_id import SeriesId


def test_default_urls_are_binance():
    endpoints = BinanceEndpoints()
    assert endpoints.rest_url("spot", "klines") == "https://api.binance.com/api/v3/klines"
    assert endpoints.rest_url("futures", "time") == "https://fapi.binance.com/fapi/v1/time"
    assert (
        endpoints.kline_stream_url("futures", "BTC/USDT", "1m")
        == "wss://fstream.binance.com/ws/btcusdt@kline_1m"
    )
    assert (
        endpoints.kline_stream_url("spot", "ETHUSDT", "4h")
        == "wss://stream.binance.com:9443/ws/ethusdt@kline_4h"
    )


def test_configured_bases_lose_trailing_slashes():
    endpoints = BinanceEndpoints("http://127.0.0.1:9/spot/", futures_ws="ws://127.0.0.1:9/f/")
    assert (
        endpoints.rest_url("spot", "/ticker/24hr") == "http://127.0.0.1:9/spot/api/v3/ticker/24hr"
    )
    assert endpoints.kline_stream_url("futures", "BTCUSDT", "1d").startswith(
        "ws://127.0.0.1:9/f/ws/"
    )


def test_symbol_mapping():
    assert rest_symbol("BTC/USDT:USDT") == "BTCUSDT"
    assert rest_symbol("BTC/USDT") == "BTCUSDT"
    assert stream_symbol("BTC/USDT:USDT") == "btcusdt"
    series = SeriesId.parse("binance:futures:BTC/USDT:USDT:15m")
    assert (
        BinanceEndpoints().series_stream_url(series)
        == "wss://fstream.binance.com/ws/btcusdt@kline_15m"
    )


def test_limits_and_refusals():
    assert BinanceEndpoints.klines_limit("spot") == 1000
    assert BinanceEndpoints.klines_limit("futures") == 1500
    with pytest.raises(ValueError, match="unknown market"):
        BinanceEndpoints().rest_url("margin", "time")
    with pytest.raises(ValueError, match="not a Binance kline interval"):
        BinanceEndpoints().kline_stream_url("spot", "BTCUSDT", "7m")
