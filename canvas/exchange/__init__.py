"""Binance clients: endpoints, kline parsing, REST backfill and market lists, kline streams."""

from canvas.exchange.binance import (
    KLINE_INTERVALS,
    KLINES_MAX_LIMIT,
    BinanceEndpoints,
    rest_symbol,
    stream_symbol,
)
from canvas.exchange.errors import (
    ExchangeError,
    ExchangeMalformed,
    ExchangeRateLimited,
    ExchangeStatusError,
    ExchangeUnavailable,
    KlineParseError,
    KlineRejected,
    StreamClosed,
    StreamError,
    StreamStalled,
    StreamUnavailable,
)
from canvas.exchange.kline_parse import KlineUpdate, parse_kline_message, parse_kline_row
from canvas.exchange.rest import BinanceRest, ClosedRange
from canvas.exchange.stream import KlineStream, KlineStreamStatistics

__all__ = [
    "KLINES_MAX_LIMIT",
    "KLINE_INTERVALS",
    "BinanceEndpoints",
    "BinanceRest",
    "ClosedRange",
    "ExchangeError",
    "ExchangeMalformed",
    "ExchangeRateLimited",
    "ExchangeStatusError",
    "ExchangeUnavailable",
    "KlineParseError",
    "KlineRejected",
    "KlineStream",
    "KlineStreamStatistics",
    "KlineUpdate",
    "StreamClosed",
    "StreamError",
    "StreamStalled",
    "StreamUnavailable",
    "parse_kline_message",
    "parse_kline_row",
    "rest_symbol",
    "stream_symbol",
]
