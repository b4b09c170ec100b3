"""The closed-candle value and its strict validation at the trust boundary (CONTRACT §1.3)."""

from __future__ import annotations

import math
from typing import Any

import attrs

MAX_CANDLE_TIME = 10**11
# JSON integers outside the signed 64-bit range are refused (CONTRACT conventions, rev 4).
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
PRICE_FIELDS = ("open", "high", "low", "close")
# A candle as the ledgers, roll-ups, actors and frames carry it (the one row type):
# (candle_time, open, high, low, close, volume).
Row = tuple[int, float, float, float, float, float]


@attrs.frozen(slots=True)
class Candle:
    """One OHLCV bucket; `candle_time` is the bucket's open time in Unix seconds."""

    candle_time: int
    open: float
    high: float
    low: float
    close: float
    volume: float

    def as_json(self) -> dict[str, Any]:
        return {
            "candle_time": self.candle_time,
            "open": self.open,
            "high": self.high,
            "low": self.low,
            "close": self.close,
            "volume": self.volume,
        }

    def as_row(self) -> Row:
        return (self.candle_time, self.open, self.high, self.low, self.close, self.volume)

    @classmethod
    def from_row(cls, row: tuple[Any, ...]) -> Candle:
        return cls(row[0], row[1], row[2], row[3], row[4], row[5])


def _is_int(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v: object) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _value_problem(field: str, v: object) -> tuple[str, str] | None:
    """The (msg, type) of a price or volume that breaks its own rule, or None."""
    if not _is_number(v):
        return "Input should be a valid number", "float_type"
    if isinstance(v, int) and not INT64_MIN <= v <= INT64_MAX:
        # Checked before isfinite, which raises OverflowError on an int this large.
        if v < 0:
            return f"Input should be greater than or equal to {INT64_MIN}", "greater_than_equal"
        return f"Input should be less than or equal to {INT64_MAX}", "less_than_equal"
    if not math.isfinite(v):  # type: ignore[arg-type]
        return "Input should be a finite number", "finite_number"
    if field == "volume" and v < 0:  # type: ignore[operator]
        return "Input should be greater than or equal to 0", "greater_than_equal"
    if field != "volume" and v <= 0:  # type: ignore[operator]
        return "Input should be greater than 0", "greater_than"
    return None


def _time_problem(t: object, tf: int) -> tuple[str, str] | None:
    if not _is_int(t):
        return "Input should be a valid integer", "int_type"
    if t < 0:  # type: ignore[operator]
        return "Input should be greater than or equal to 0", "greater_than_equal"
    if t >= MAX_CANDLE_TIME:  # type: ignore[operator]
        return f"Input should be less than {MAX_CANDLE_TIME}", "less_than"
    if t % tf:  # type: ignore[operator]
        return f"Input should be a multiple of {tf}", "multiple_of"
    return None


def _cross(loc: list[Any], field: str, rule: str) -> dict[str, Any]:
    return {"loc": [*loc, field], "msg": f"Value error, {rule}", "type": "value_error"}


def candle_problems(raw: object, tf: int, loc: list[Any]) -> list[dict[str, Any]]:
    """Every rule a candle breaks, as 422 problem entries (empty when valid).

    Worded like the rest of the request-schema layer (`canvas.schema`); `tf` is the series'
    timeframe in seconds, of which candle_time must be a multiple.
    """
    if not isinstance(raw, dict):
        return [{"loc": loc, "msg": "Input should be a valid dictionary", "type": "dict_type"}]
    problems: list[dict[str, Any]] = []
    for field in ("candle_time", *PRICE_FIELDS, "volume"):
        if field not in raw:
            found: tuple[str, str] | None = ("Field required", "missing")
        elif field == "candle_time":
            found = _time_problem(raw[field], tf)
        else:
            found = _value_problem(field, raw[field])
        if found is not None:
            problems.append({"loc": [*loc, field], "msg": found[0], "type": found[1]})
    if not any(p["loc"][-1] in PRICE_FIELDS for p in problems):
        o, h, lo, c = (float(raw[f]) for f in PRICE_FIELDS)
        if lo > min(o, c):
            problems.append(_cross(loc, "low", "low must be <= min(open, close)"))
        if h < max(o, c):
            problems.append(_cross(loc, "high", "high must be >= max(open, close)"))
    return problems


_INF = math.inf


def candle_row(raw: Any, tf: int) -> tuple[int, float, float, float, float, float] | None:
    """The stored row of a valid candle, or None when it breaks any rule of `candle_problems`.

    The batch path's fast check (a tests/core property holds it to `candle_problems`): exact
    JSON types only, so `bool` (a subclass of int) fails `type(x) is int`.
    """
    try:
        t, o, h, lo, c = raw["candle_time"], raw["open"], raw["high"], raw["low"], raw["close"]
        v = raw["volume"]
    except (KeyError, TypeError):
        return None
    if type(t) is not int or not 0 <= t < MAX_CANDLE_TIME or t % tf:
        return None
    for x in (o, h, lo, c, v):
        if type(x) is not float and (type(x) is not int or not INT64_MIN <= x <= INT64_MAX):
            return None
    o, h, lo, c, v = float(o), float(h), float(lo), float(c), float(v)
    # Written as what must hold, so a NaN (false in every comparison) fails it.
    if not (0 < lo <= o <= h < _INF and lo <= c <= h and 0 <= v < _INF):
        return None
    return (t, o, h, lo, c, v)


def candle_from_json(raw: dict[str, Any]) -> Candle:
    """Build a candle from an already validated JSON object."""
    return Candle(
        raw["candle_time"],
        float(raw["open"]),
        float(raw["high"]),
        float(raw["low"]),
        float(raw["close"]),
        float(raw["volume"]),
    )
