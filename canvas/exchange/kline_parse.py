"""Pure parsing of Binance klines (stream messages and REST rows) into validated candles."""

from __future__ import annotations

import json
import re
from typing import Any

import attrs

from canvas.candles import Candle, candle_problems
from canvas.errors import InvalidSeriesId
from canvas.exchange.errors import KlineParseError, KlineRejected
from canvas.series_id import timeframe_seconds

# Binance writes decimals as plain strings; "NaN", "inf", "1_0" and the like are not decimals.
_DECIMAL = re.compile(r"^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$")


@attrs.frozen
class KlineUpdate:
    """One parsed stream message: the bucket's candle and whether it is final (`x`)."""

    symbol: str
    interval: str
    candle: Candle
    closed: bool
    event_ms: int


def _int(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise KlineParseError(f"{name} must be an integer")
    return value


def _decimal(value: object, name: str) -> float:
    if isinstance(value, str) and _DECIMAL.match(value):
        return float(value)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    raise KlineParseError(f"{name} is not a decimal: {value!r}")


def _tf(interval: object) -> int:
    if not isinstance(interval, str):
        raise KlineParseError("interval must be a string")
    try:
        return timeframe_seconds(interval)
    except InvalidSeriesId:
        raise KlineParseError(f"unsupported interval {interval!r}") from None


def _candle(open_ms: int, close_ms: int, values: list[object], tf: int) -> Candle:
    """Build and validate one candle from `[o, h, l, c, v]` and its bucket bounds."""
    if open_ms % 1000 or close_ms != open_ms + tf * 1000 - 1:
        raise KlineRejected(f"bucket [{open_ms}, {close_ms}] is not one {tf} s interval")
    names = ("open", "high", "low", "close", "volume")
    prices = [_decimal(value, name) for value, name in zip(values, names, strict=True)]
    candle = Candle(open_ms // 1000, *prices)
    problems = candle_problems(candle.as_json(), tf, [])
    if problems:
        first = problems[0]
        raise KlineRejected(f"{first['loc'][-1]}: {first['msg']}")
    return candle


def parse_kline_message(
    raw: str | bytes | dict[str, Any],
    *,
    symbol: str | None = None,
    interval: str | None = None,
) -> KlineUpdate:
    """Parse a `<sym>@kline_<interval>` message; `symbol`/`interval`, when given, must match.

    Raises KlineParseError (KlineRejected for values that break CONTRACT §1.3).
    """
    if isinstance(raw, (str, bytes)):
        try:
            raw = json.loads(raw)
        except ValueError:
            raise KlineParseError("not JSON") from None
    if not isinstance(raw, dict):
        raise KlineParseError("message is not an object")
    if raw.get("e") != "kline":
        raise KlineParseError(f"not a kline event: {raw.get('e')!r}")
    k = raw.get("k")
    if not isinstance(k, dict):
        raise KlineParseError("missing kline object 'k'")
    got_symbol, got_interval, closed = k.get("s"), k.get("i"), k.get("x")
    if not isinstance(got_symbol, str):
        raise KlineParseError("symbol must be a string")
    if symbol is not None and got_symbol != symbol:
        raise KlineParseError(f"symbol {got_symbol!r}, expected {symbol!r}")
    if interval is not None and got_interval != interval:
        raise KlineParseError(f"interval {got_interval!r}, expected {interval!r}")
    if not isinstance(closed, bool):
        raise KlineParseError("'x' must be a boolean")
    tf = _tf(got_interval)
    event_ms = _int(raw.get("E"), "E")
    open_ms, close_ms = _int(k.get("t"), "t"), _int(k.get("T"), "T")
    values = [k.get(name) for name in ("o", "h", "l", "c", "v")]
    candle = _candle(open_ms, close_ms, values, tf)
    assert isinstance(got_interval, str)
    return KlineUpdate(got_symbol, got_interval, candle, closed, event_ms)


def parse_kline_row(row: object, tf: int) -> tuple[Candle, int]:
    """A REST row `[open_ms, o, h, l, c, v, close_ms, ...]` → (candle, close_ms).

    Raises KlineParseError for a row of the wrong shape, KlineRejected for invalid values.
    """
    if not isinstance(row, list) or len(row) < 7:
        raise KlineParseError("kline row must be a list of at least 7 items")
    open_ms, close_ms = _int(row[0], "open time"), _int(row[6], "close time")
    return _candle(open_ms, close_ms, row[1:6], tf), close_ms
