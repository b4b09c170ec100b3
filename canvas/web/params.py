"""Strict parsing of query strings and JSON bodies into values or 422 problem lists."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any

from canvas.errors import ValidationFailed

_TRUE = {"true", "1"}
_FALSE = {"false", "0"}
_MISSING = object()
# Digits only; length is checked before int() (Python refuses over 4,300 digits).
_INT = re.compile(r"^[+-]?[0-9]+$")
# Integers outside the signed 64-bit range are 422 (CONTRACT conventions, rev 4).
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
_INT64_MSG = "value is outside the signed 64-bit integer range"


def _problem(loc: list[Any], msg: str, type_: str = "value_error") -> dict[str, Any]:
    return {"loc": loc, "msg": msg, "type": type_}


class Query:
    """Reads typed values from a query string, collecting every problem before raising."""

    def __init__(self, args: Mapping[str, str]) -> None:
        self.args = args
        self.problems: list[dict[str, Any]] = []

    def _raw(self, name: str, required: bool) -> Any:
        value = self.args.get(name)
        if value is None:
            if required:
                self.problems.append(_problem(["query", name], "field required", "missing"))
            return _MISSING
        return value

    def string(self, name: str, *, required: bool = True, default: str | None = None) -> Any:
        raw = self._raw(name, required)
        return default if raw is _MISSING else raw

    def integer(
        self,
        name: str,
        *,
        required: bool = False,
        default: int | None = None,
        lo: int | None = None,
        hi: int | None = None,
    ) -> Any:
        raw = self._raw(name, required)
        if raw is _MISSING:
            return default
        if not _INT.match(raw):
            self.problems.append(
                _problem(["query", name], "value is not a valid integer", "type_error")
            )
            return default
        value = int(raw) if len(raw) <= 20 else None
        if value is None or not INT64_MIN <= value <= INT64_MAX:
            self.problems.append(_problem(["query", name], _INT64_MSG))
            return default
        return self._check_range(name, value, lo, hi, default)

    def number(self, name: str, *, default: float, lo: float, hi: float) -> Any:
        raw = self._raw(name, False)
        if raw is _MISSING:
            return default
        try:
            value = float(raw)
            if not math.isfinite(value):
                raise ValueError
        except ValueError:
            self.problems.append(
                _problem(["query", name], "value is not a valid number", "type_error")
            )
            return default
        return self._check_range(name, value, lo, hi, default)

    def boolean(self, name: str, *, default: bool) -> Any:
        raw = self._raw(name, False)
        if raw is _MISSING:
            return default
        text = raw.strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        self.problems.append(
            _problem(["query", name], "value is not a valid boolean", "type_error")
        )
        return default

    def _check_range(self, name: str, value: Any, lo: Any, hi: Any, default: Any) -> Any:
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            self.problems.append(_problem(["query", name], _range_msg(lo, hi)))
            return default
        return value

    def done(self) -> None:
        """Raise ValidationFailed if any value was missing or malformed."""
        if self.problems:
            raise ValidationFailed(self.problems)


def _range_msg(lo: object, hi: object) -> str:
    if hi is None:
        return f"value must be >= {lo}"
    if lo is None:
        return f"value must be <= {hi}"
    return f"value must be between {lo} and {hi}"


def _reject_constant(token: str) -> Any:
    raise ValueError(f"{token} is not valid JSON")


def parse_json_body(data: bytes) -> Any:
    """Decode a JSON body strictly (no NaN/Infinity); malformed JSON is a 422."""
    try:
        return json.loads(data, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:
        raise ValidationFailed.one(["body"], f"invalid JSON: {exc}", "json_invalid") from None


class Body:
    """Reads typed fields from a decoded JSON object body, collecting problems."""

    def __init__(self, doc: Any) -> None:
        if not isinstance(doc, dict):
            raise ValidationFailed.one(["body"], "body must be a JSON object", "type_error")
        self.doc = doc
        self.problems: list[dict[str, Any]] = []

    def _get(self, name: str, required: bool) -> Any:
        if name not in self.doc:
            if required:
                self.problems.append(_problem(["body", name], "field required", "missing"))
            return _MISSING
        return self.doc[name]

    def string(self, name: str) -> Any:
        value = self._get(name, True)
        if value is _MISSING:
            return None
        if not isinstance(value, str):
            self.problems.append(_problem(["body", name], "value must be a string", "type_error"))
            return None
        return value

    def integer(
        self,
        name: str,
        *,
        default: int | None = None,
        lo: int | None = None,
        hi: int | None = None,
        nullable: bool = True,
    ) -> Any:
        value = self._get(name, False)
        if value is _MISSING or (value is None and nullable):
            return default
        if not isinstance(value, int) or isinstance(value, bool):
            self.problems.append(_problem(["body", name], "value must be an integer", "type_error"))
            return default
        if not INT64_MIN <= value <= INT64_MAX:
            self.problems.append(_problem(["body", name], _INT64_MSG))
            return default
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            self.problems.append(_problem(["body", name], _range_msg(lo, hi)))
            return default
        return value

    def boolean(self, name: str, *, default: bool) -> Any:
        value = self._get(name, False)
        if value is _MISSING or value is None:
            return default
        if not isinstance(value, bool):
            self.problems.append(_problem(["body", name], "value must be a boolean", "type_error"))
            return default
        return value

    def raw(self, name: str) -> Any:
        value = self._get(name, True)
        return None if value is _MISSING else value

    def done(self) -> None:
        if self.problems:
            raise ValidationFailed(self.problems)
