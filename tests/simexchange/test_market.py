"""The candle generator: determinism, exact roll-ups, valid candles, forming convergence."""

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from canvas.simexchange.listings import build_listings, split_symbol, symbol_spec
from canvas.simexchange.market import DAY_MS, INTERVALS_MS, MINUTE_MS, SimMarket, rollup
from canvas.simexchange.wire import Formats, decimal_string, kline_row

DAY = 1_735_689_600_000  # 2025-01-01 00:00 UTC
BTC = symbol_spec("BTC", "USDT")
DOGE = symbol_spec("DOGE", "USDT")


def minutes(market: SimMarket, open_ms: int, count: int, spec=BTC, where="futures"):
    return [market.candle(spec, where, "1m", open_ms + i * MINUTE_MS) for i in range(count)]


def test_same_seed_same_candles_other_seed_other_candles():
    a, b, c = SimMarket(7), SimMarket(7), SimMarket(8)
    assert minutes(a, DAY, 30) == minutes(b, DAY, 30)
    assert minutes(a, DAY, 30) != minutes(c, DAY, 30)
    assert minutes(a, DAY, 30, where="spot") != minutes(a, DAY, 30, where="futures")


@pytest.mark.parametrize("interval", [i for i in INTERVALS_MS if i not in ("1m", "3d")])
def test_every_interval_rolls_up_exactly_from_1m(interval):
    market = SimMarket(1)
    size = INTERVALS_MS[interval]
    for k in range(2):
        open_ms = DAY + k * size
        bar = market.candle(BTC, "spot", interval, open_ms)
        assert bar == rollup(minutes(market, open_ms, size // MINUTE_MS, where="spot"))


def test_3d_rolls_up_from_days():
    market = SimMarket(1)
    open_ms = DAY - DAY % INTERVALS_MS["3d"]
    days = [market.candle(BTC, "spot", "1d", open_ms + i * DAY_MS) for i in range(3)]
    assert market.candle(BTC, "spot", "3d", open_ms) == rollup(days)


def test_consecutive_candles_are_continuous():
    bars = minutes(SimMarket(2), DAY - 90 * MINUTE_MS, 180)
    assert all(a.close == b.open for a, b in itertools.pairwise(bars))


@settings(max_examples=60, deadline=None)
@given(
    st.sampled_from(sorted(INTERVALS_MS)),
    st.integers(min_value=0, max_value=20_000),
    st.sampled_from([BTC, DOGE]),
)
def test_candles_are_valid(interval, index, spec):
    size = INTERVALS_MS[interval]
    open_ms = max(0, DAY - DAY % size - index * size)
    bar = SimMarket(3).candle(spec, "futures", interval, open_ms)
    assert 0 < bar.low <= min(bar.open, bar.close)
    assert bar.high >= max(bar.open, bar.close)
    assert bar.volume >= 0


@pytest.mark.parametrize("interval", ["1m", "3m", "1h", "1d"])
def test_forming_grows_monotonically_into_the_closed_candle(interval):
    market = SimMarket(4)
    size = INTERVALS_MS[interval]
    closed = market.candle(BTC, "spot", interval, DAY)
    previous = None
    for step in range(0, size, size // 40):
        forming = market.candle_at(BTC, "spot", interval, DAY, DAY + step)
        assert forming.open == closed.open
        assert closed.low <= forming.low and forming.high <= closed.high
        if previous is not None:
            assert forming.high >= previous.high and forming.low <= previous.low
            assert forming.volume >= previous.volume
        previous = forming
    # Every 1 s leaf has opened one millisecond before the end: nothing is left to add.
    assert market.candle_at(BTC, "spot", interval, DAY, DAY + size - 1) == closed
    assert market.candle_at(BTC, "spot", interval, DAY, DAY + size) == closed


def test_bad_buckets_are_refused():
    market = SimMarket()
    with pytest.raises(ValueError, match="unknown interval"):
        market.candle(BTC, "spot", "1w", DAY)
    with pytest.raises(ValueError, match="not the open"):
        market.candle(BTC, "spot", "1m", DAY + 1)
    with pytest.raises(ValueError, match="has not opened"):
        market.candle_at(BTC, "spot", "1m", DAY, DAY - 1)


def test_decimal_strings_are_exact():
    assert decimal_string(6_212_810, 2, 2) == "62128.10"
    assert decimal_string(6_212_810, 2, 8) == "62128.10000000"
    assert decimal_string(5, 4, 8) == "0.00050000"
    assert decimal_string(123_456, 7, 5) == "0.01234"
    assert decimal_string(-150, 2, 2) == "-1.50"
    assert decimal_string(42, 0, 0) == "42"


def test_kline_rows_use_binance_shapes():
    bar = SimMarket().candle(BTC, "futures", "1m", DAY)
    futures = kline_row(bar, MINUTE_MS, Formats(BTC, "futures"))
    spot = kline_row(bar, MINUTE_MS, Formats(BTC, "spot"))
    assert futures[0] == DAY and futures[6] == DAY + MINUTE_MS - 1
    assert all(isinstance(v, str) for v in futures[1:6] + futures[9:])
    assert isinstance(futures[8], int)
    assert len(futures[1].split(".")[1]) == BTC.price_decimals
    assert len(spot[1].split(".")[1]) == 8 and float(spot[1]) == float(futures[1])


def test_symbols_and_listings():
    assert split_symbol("btc/usdt") == ("BTC", "USDT")
    assert split_symbol("ETHBTC") == ("ETH", "BTC")
    with pytest.raises(ValueError):
        split_symbol("FOOBAR")
    listings = build_listings(["BTCUSDT", "PEPE/USDT"])
    assert listings.symbols("spot") == ("BTCUSDT", "PEPEUSDT", "ETHBTC", "LUNAUSDT")
    assert listings.find("spot", "LUNAUSDT").status == "BREAK"
    quarterly = listings.find("futures", "BTCUSDT_260626")
    assert quarterly.contract_type == "CURRENT_QUARTER"
    assert build_listings(["BTCUSDT"], extras=False).symbols("futures") == ("BTCUSDT",)
    with pytest.raises(ValueError, match="twice"):
        build_listings(["BTCUSDT", "BTC/USDT"])
