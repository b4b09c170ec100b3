"""The one request-schema layer: declared query and body fields, parsed into values or a 422 list.

Every route declares its parameters once, as a `Schema` of `Field`s; the same declarations
parse requests (here) and describe them in the OpenAPI document (`canvas.web.openapi`).
Problems are listed the way pydantic v2 words them (`{"loc","msg","type"}`, `Field required`
/ `missing`, `greater_than_equal` ...), the shape FastAPI clients of the seed API know, one
entry per problem, every problem of a request at once (CONTRACT conventions).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping
from typing import Any

import attrs
import msgspec

from canvas.errors import ValidationFailed

Problem = dict[str, Any]
# Integers outside the signed 64-bit range are 422 (CONTRACT conventions, rev 4).
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
_INT = re.compile(r"[+-]?[0-9]+")
_FLOAT = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_TRUE = frozenset({"true", "1"})
_FALSE = frozenset({"false", "0"})
_MISSING = object()


def problem(loc: list[Any], msg: str, type_: str) -> Problem:
    """One 422 entry."""
    return {"loc": loc, "msg": msg, "type": type_}


class Bad(Exception):
    """A value a field refuses: the entry's message and type (the field adds the loc)."""

    def __init__(self, msg: str, type_: str) -> None:
        super().__init__(msg)
        self.msg, self.type = msg, type_


def bounds_problem(value: Any, lo: Any, hi: Any) -> Bad | None:
    """The inclusive-range problem of `value`, or None when it lies in [lo, hi]."""
    if lo is not None and value < lo:
        return Bad(f"Input should be greater than or equal to {lo}", "greater_than_equal")
    if hi is not None and value > hi:
        return Bad(f"Input should be less than or equal to {hi}", "less_than_equal")
    return None


# ---- readers: one per (location, kind); each returns the value or raises Bad ----------------


def _query_int(raw: str) -> int:
    text = raw.strip()
    if not _INT.fullmatch(text):
        raise Bad("Input should be a valid integer, unable to parse string", "int_parsing")
    if len(text.lstrip("+-")) > 19:  # int() refuses over 4,300 digits; 20+ is past int64
        raise Bad(
            "Unable to parse input string as an integer, exceeded maximum size",
            "int_parsing_size",
        )
    return int(text)


def _query_float(raw: str) -> float:
    text = raw.strip()
    if not _FLOAT.fullmatch(text):
        raise Bad("Input should be a valid number, unable to parse string", "float_parsing")
    value = float(text)
    if not math.isfinite(value):
        raise Bad("Input should be a finite number", "finite_number")
    return value


def _query_bool(raw: str) -> bool:
    word = raw.strip().lower()
    if word in _TRUE:
        return True
    if word in _FALSE:
        return False
    raise Bad("Input should be a valid boolean, unable to interpret input", "bool_parsing")


def _body_string(value: Any) -> str:
    if not isinstance(value, str):
        raise Bad("Input should be a valid string", "string_type")
    return value


def _body_int(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise Bad("Input should be a valid integer", "int_type")
    return value


def _body_bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise Bad("Input should be a valid boolean", "bool_type")
    return value


def _body_array(value: Any) -> list[Any]:
    if not isinstance(value, list):
        raise Bad("Input should be a valid list", "list_type")
    return value


_READERS: dict[tuple[str, str], Callable[[Any], Any]] = {
    ("query", "string"): lambda raw: raw,
    ("query", "integer"): _query_int,
    ("query", "number"): _query_float,
    ("query", "boolean"): _query_bool,
    ("body", "string"): _body_string,
    ("body", "integer"): _body_int,
    ("body", "boolean"): _body_bool,
    ("body", "array"): _body_array,
    ("body", "object"): lambda value: value,
}


@attrs.frozen
class Field:
    """One declared parameter or body field.

    `lo`/`hi` bound numbers (inclusive) or, for arrays, the item count; integers are always
    held to the signed 64-bit range. `choices` makes a string an enum (`fold` applied first);
    `fold` is `"lower"` or `"upper"`, applied after trimming, for fields that are normalised.
    A body field with `nullable` takes JSON null as "use the default".
    """

    name: str
    kind: str
    required: bool = False
    default: Any = None
    lo: Any = None
    hi: Any = None
    nullable: bool = False
    choices: tuple[str, ...] = ()
    fold: str | None = None
    max_length: int | None = None
    description: str = ""
    # For the OpenAPI document: the component schema an object (or each array item) follows.
    ref: str | None = None

    def read(self, location: str, raw: Any) -> Any:
        """The field's value from `raw`; raises Bad."""
        value = _READERS[location, self.kind](raw)
        if self.fold is not None:
            value = getattr(value.strip(), self.fold)()
        if self.choices and value not in self.choices:
            quoted = " or ".join(f"'{c}'" for c in self.choices)
            raise Bad(f"Input should be {quoted}", "enum")
        if self.max_length is not None:
            self._check_length(value)
        if self.kind == "integer":
            lo = INT64_MIN if self.lo is None else self.lo
            hi = INT64_MAX if self.hi is None else self.hi
            bad = bounds_problem(value, lo, hi)
        elif self.kind == "array":
            bad = self._count_problem(len(value))
        else:
            bad = bounds_problem(value, self.lo, self.hi)
        if bad is not None:
            raise bad
        return value

    def _check_length(self, value: str) -> None:
        if not value:
            raise Bad("String should have at least 1 character", "string_too_short")
        if self.max_length is not None and len(value) > self.max_length:
            raise Bad(f"String should have at most {self.max_length} characters", "string_too_long")

    def _count_problem(self, count: int) -> Bad | None:
        if self.lo is not None and count < self.lo:
            return Bad(
                f"List should have at least {self.lo} item after validation, not {count}",
                "too_short",
            )
        if self.hi is not None and count > self.hi:
            return Bad(
                f"List should have at most {self.hi} items after validation, not {count}",
                "too_long",
            )
        return None


@attrs.frozen
class Schema:
    """The declared fields of one request's query string or JSON body."""

    location: str  # "query" or "body"
    fields: tuple[Field, ...]

    def __init__(self, location: str, *fields: Field) -> None:
        self.__attrs_init__(location, fields)

    def parse(self, source: Mapping[str, Any] | bytes) -> dict[str, Any]:
        """Every declared field's value by name (defaults filled in).

        `source` is the query-string mapping, or for a body its raw bytes. Raises
        ValidationFailed listing every problem.
        """
        doc = decode_json_object(source) if self.location == "body" else source
        values: dict[str, Any] = {}
        problems: list[Problem] = []
        for field in self.fields:
            raw = doc.get(field.name, _MISSING)  # type: ignore[union-attr]
            if raw is _MISSING or (raw is None and field.nullable):
                if field.required:
                    loc = [self.location, field.name]
                    problems.append(problem(loc, "Field required", "missing"))
                values[field.name] = field.default
                continue
            try:
                values[field.name] = field.read(self.location, raw)
            except Bad as bad:
                problems.append(problem([self.location, field.name], bad.msg, bad.type))
                values[field.name] = field.default
        if problems:
            raise ValidationFailed(problems)
        return values


# The field nearly every route takes; the route parses it (SeriesId.parse: 400 when invalid).
SERIES_ID = Field("series_id", "string", required=True, description="§1.1 series_id")

_JSON = msgspec.json.Decoder()


def _reject_constant(token: str) -> Any:
    raise ValueError(f"{token} is not valid JSON")


def decode_json(data: bytes) -> Any:
    """Decode a JSON body strictly: NaN/Infinity tokens are malformed, overflowing numbers 422.

    msgspec's decoder is strict JSON and about four times as fast as `json.loads` on candle
    batches (tests/bench/bench_schema.py); integers of any size come back as Python ints, so
    the 64-bit rule is the fields' to apply. msgspec also refuses a lone surrogate escape
    (`"\\ud800"`), which is valid JSON whose string the field rules judge (CONTRACT §1.1 makes
    such a series_id a 400), so a body msgspec refuses is decoded again by the standard library
    (with NaN/Infinity still refused) before it is called malformed.
    """
    try:
        return _JSON.decode(data)
    except msgspec.ValidationError as exc:  # a number past the float range, e.g. 1e999
        raise ValidationFailed.one(["body"], f"Value error, {exc}", "value_error") from None
    except (msgspec.DecodeError, RecursionError):
        pass
    try:
        return json.loads(data, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:
        raise ValidationFailed.one(["body"], f"Invalid JSON: {exc}", "json_invalid") from None


def decode_json_object(data: bytes) -> dict[str, Any]:
    """`decode_json`, refusing any body that is not a JSON object."""
    doc = decode_json(data)
    if not isinstance(doc, dict):
        raise ValidationFailed.one(["body"], "Input should be a valid dictionary", "dict_type")
    return doc
