"""Parsing stream messages and REST rows into validated candles (CONTRACT §1.3, §8)."""

import json

import pytest

from canvas.candles import Candle
from canvas.exchange import KlineParseError, KlineRejected, parse_kline_message, parse_kline_row
from canvas.simexchange.streams import StreamRoute, malformed_messages

T = 1_735_689_600_000


def message(**k_fields):
    k = {"t": T, "T": T + 59_999, "s": "BTCUSDT", "i": "1m", "o": "100.5", "h": "101"}
    k |= {"l": "99.25", "c": "100", "v": "12.5", "x": False, "n": 3}
    k |= k_fields
    return {"e": "kline", "E": T + 1234, "s": "BTCUSDT", "k": k}


def test_forming_and_closed_messages():
    update = parse_kline_message(json.dumps(message()))
    assert update.candle == Candle(T // 1000, 100.5, 101.0, 99.25, 100.0, 12.5)
    assert (update.symbol, update.interval, update.closed, update.event_ms) == (
        "BTCUSDT",
        "1m",
        False,
        T + 1234,
    )
    closed = parse_kline_message(json.dumps(message(x=True)).encode(), symbol="BTCUSDT")
    assert closed.closed
    hourly = parse_kline_message(message(i="1h", T=T + 3_599_999), interval="1h")
    assert hourly.candle.candle_time == T // 1000


@pytest.mark.parametrize(
    "raw",
    [
        "not json",
        "[1, 2]",
        json.dumps({"e": "trade"}),
        json.dumps({"e": "kline", "E": 1}),
        json.dumps(message(x="false")),
        json.dumps(message(o="abc")),
        json.dumps(message(o="NaN")),
        json.dumps(message(h="Infinity")),
        json.dumps(message(v=True)),
        json.dumps(message(t="1735689600000")),
        json.dumps(message(i="1w")),
        json.dumps(message(s=7)),
    ],
)
def test_unparseable_messages(raw):
    with pytest.raises(KlineParseError):
        parse_kline_message(raw)


@pytest.mark.parametrize(
    "fields",
    [
        {"o": "0"},
        {"l": "-1"},
        {"l": "100.75"},  # above the open
        {"h": "100.25"},  # below the open
        {"v": "-0.5"},
        {"T": T + 60_000},  # not one interval long
        {"t": T + 1, "T": T + 60_000},  # not on a second
        {"t": T + 1000, "T": T + 60_999},  # not on the timeframe
    ],
)
def test_rejected_values(fields):
    with pytest.raises(KlineRejected):
        parse_kline_message(message(**fields))


def test_expected_symbol_and_interval():
    with pytest.raises(KlineParseError, match="symbol"):
        parse_kline_message(message(), symbol="ETHUSDT")
    with pytest.raises(KlineParseError, match="interval"):
        parse_kline_message(message(), interval="5m")


def test_every_simulated_malformed_message_is_refused():
    route = StreamRoute("futures", "BTCUSDT", "1m")
    for raw in malformed_messages(route, 7, T + 5000):
        with pytest.raises(KlineParseError):
            parse_kline_message(raw, symbol="BTCUSDT", interval="1m")


def test_rest_rows():
    row = [T, "100.5", "101", "99.25", "100", "12.5", T + 59_999, "1250", 3, "6", "600", "0"]
    assert parse_kline_row(row, 60) == (
        Candle(T // 1000, 100.5, 101.0, 99.25, 100.0, 12.5),
        T + 59_999,
    )
    with pytest.raises(KlineParseError):
        parse_kline_row(row[:6], 60)
    with pytest.raises(KlineParseError):
        parse_kline_row({"t": T}, 60)
    with pytest.raises(KlineRejected):
        parse_kline_row([T, "1", "1", "2", "1", "1", T + 59_999], 60)
