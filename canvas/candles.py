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


def candle_problems(raw: object, tf: int, loc: list[Any]) -> list[dict[str, Any]]:
    """Every rule a candle breaks, as 422 problem entries (empty when valid)."""
    if not isinstance(raw, dict):
        return [{"loc": loc, "msg": "candle must be an object", "type": "type_error"}]
    problems: list[dict[str, Any]] = []

    def bad(field: str, msg: str, type_: str = "value_error") -> None:
        problems.append({"loc": [*loc, field], "msg": msg, "type": type_})

    t = raw.get("candle_time")
    if "candle_time" not in raw:
        bad("candle_time", "field required", "missing")
    elif not _is_int(t):
        bad("candle_time", "candle_time must be an integer", "type_error")
    elif t < 0 or t >= MAX_CANDLE_TIME:
        bad("candle_time", f"candle_time must be in [0, {MAX_CANDLE_TIME})")
    elif t % tf != 0:
        bad("candle_time", f"candle_time must be a multiple of the timeframe ({tf} s)")

    values: dict[str, float] = {}
    for field in (*PRICE_FIELDS, "volume"):
        v = raw.get(field)
        if field not in raw:
            bad(field, "field required", "missing")
        elif not _is_number(v):
            bad(field, f"{field} must be a number", "type_error")
        elif isinstance(v, int) and not INT64_MIN <= v <= INT64_MAX:
            # Checked before isfinite, which raises OverflowError on an int this large.
            bad(field, f"{field} is outside the signed 64-bit integer range")
        elif not math.isfinite(v):
            bad(field, f"{field} must be finite")
        elif field == "volume" and v < 0:
            bad(field, "volume must be >= 0")
        elif field != "volume" and v <= 0:
            bad(field, f"{field} must be > 0")
        else:
            values[field] = float(v)
    if all(f in values for f in PRICE_FIELDS):
        if values["low"] > min(values["open"], values["close"]):
            bad("low", "low must be <= min(open, close)")
        if values["high"] < max(values["open"], values["close"]):
            bad("high", "high must be >= max(open, close)")
    return problems


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
