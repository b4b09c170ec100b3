"""The request-schema layer (canvas/schema.py): query and body fields, the 422 list."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from canvas.candles import candle_problems, candle_row
from canvas.errors import ValidationFailed
from canvas.schema import INT64_MAX, Field, Schema, decode_json

QUERY = Schema(
    "query",
    Field("series_id", "string", required=True),
    Field("since", "integer", lo=0),
    Field("limit", "integer", default=500, lo=1, hi=5000),
    Field("ratio", "number", default=1.0, lo=0.5, hi=2.0),
    Field("flag", "boolean", default=False),
)
BODY = Schema(
    "body",
    Field("series_id", "string", required=True),
    Field("to_time", "integer", lo=0, nullable=True),
    Field("items", "array", lo=1, hi=3),
    Field("publish", "boolean", default=True, nullable=True),
)


def problems(schema: Schema, source) -> list[dict]:
    with pytest.raises(ValidationFailed) as info:
        schema.parse(source)
    assert info.value.status == 422 and info.value.body() == {"detail": info.value.problems}
    return info.value.problems


def test_query_values_and_defaults() -> None:
    got = QUERY.parse({"series_id": " a ", "since": " 5", "ratio": "1e0", "flag": "TRUE"})
    # A string is used as given (series ids are never trimmed); numbers and booleans are.
    assert got == {"series_id": " a ", "since": 5, "limit": 500, "ratio": 1.0, "flag": True}


def test_every_query_problem_is_listed_in_field_order() -> None:
    args = {"since": "-1", "limit": "x", "ratio": "nan", "flag": "yes"}
    assert problems(QUERY, args) == [
        {"loc": ["query", "series_id"], "msg": "Field required", "type": "missing"},
        {
            "loc": ["query", "since"],
            "msg": "Input should be greater than or equal to 0",
            "type": "greater_than_equal",
        },
        {
            "loc": ["query", "limit"],
            "msg": "Input should be a valid integer, unable to parse string",
            "type": "int_parsing",
        },
        {
            "loc": ["query", "ratio"],
            "msg": "Input should be a valid number, unable to parse string",
            "type": "float_parsing",
        },
        {
            "loc": ["query", "flag"],
            "msg": "Input should be a valid boolean, unable to interpret input",
            "type": "bool_parsing",
        },
    ]


@pytest.mark.parametrize(
    ("value", "type_"),
    [
        (str(INT64_MAX + 1), "less_than_equal"),
        ("9" * 20, "int_parsing_size"),
        ("9" * 5000, "int_parsing_size"),
        ("1.5", "int_parsing"),
        ("", "int_parsing"),
    ],
)
def test_query_integers_stay_in_64_bits(value: str, type_: str) -> None:
    schema = Schema("query", Field("n", "integer"))
    assert [p["type"] for p in problems(schema, {"n": value})] == [type_]
    assert schema.parse({"n": str(INT64_MAX)}) == {"n": INT64_MAX}


def test_query_numbers_are_finite() -> None:
    assert [p["type"] for p in problems(QUERY, {"series_id": "a", "ratio": "1e999"})] == [
        "finite_number"
    ]


def test_body_values_defaults_and_nulls() -> None:
    data = b'{"series_id": "s", "to_time": null, "items": [1], "publish": null}'
    assert BODY.parse(data) == {"series_id": "s", "to_time": None, "items": [1], "publish": True}


@pytest.mark.parametrize(
    ("doc", "loc", "type_"),
    [
        ({"series_id": 1}, "series_id", "string_type"),
        ({"series_id": None}, "series_id", "string_type"),
        ({"series_id": "s", "to_time": 1.0}, "to_time", "int_type"),
        ({"series_id": "s", "to_time": "1"}, "to_time", "int_type"),
        ({"series_id": "s", "to_time": True}, "to_time", "int_type"),
        ({"series_id": "s", "to_time": 2**63}, "to_time", "less_than_equal"),
        ({"series_id": "s", "to_time": -1}, "to_time", "greater_than_equal"),
        ({"series_id": "s", "items": "x"}, "items", "list_type"),
        ({"series_id": "s", "items": []}, "items", "too_short"),
        ({"series_id": "s", "items": [1, 2, 3, 4]}, "items", "too_long"),
        ({"series_id": "s", "publish": "yes"}, "publish", "bool_type"),
        ({"series_id": "s", "publish": 1}, "publish", "bool_type"),
    ],
)
def test_body_problems(doc: dict, loc: str, type_: str) -> None:
    got = problems(BODY, json.dumps(doc).encode())
    assert [(p["loc"], p["type"]) for p in got] == [(["body", loc], type_)]


@pytest.mark.parametrize(
    ("data", "type_"),
    [
        (b"{", "json_invalid"),
        (b"", "json_invalid"),
        (b'{"x": NaN}', "json_invalid"),
        (b'{"x": Infinity}', "json_invalid"),
        (b"[" * 100_000, "json_invalid"),
        (b'{"x": 1e999}', "value_error"),
        (b"[]", "dict_type"),
        (b'"s"', "dict_type"),
    ],
)
def test_malformed_bodies(data: bytes, type_: str) -> None:
    assert [(p["loc"], p["type"]) for p in problems(BODY, data)] == [(["body"], type_)]


def test_huge_integers_decode_exactly() -> None:
    assert decode_json(b"[%d]" % 2**80) == [2**80]


def test_enum_and_length_fields_fold_first() -> None:
    schema = Schema(
        "query",
        Field("market", "string", required=True, choices=("spot", "futures"), fold="lower"),
        Field("quote", "string", default="USDT", fold="upper", max_length=3),
    )
    assert schema.parse({"market": " SPOT ", "quote": "usd"}) == {"market": "spot", "quote": "USD"}
    got = problems(schema, {"market": "margin", "quote": "usdt"})
    assert [(p["msg"], p["type"]) for p in got] == [
        ("Input should be 'spot' or 'futures'", "enum"),
        ("String should have at most 3 characters", "string_too_long"),
    ]


_NUMBER = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(-(2**70), 2**70),
    st.booleans(),
    st.text(max_size=2),
    st.none(),
)
_FIELDS = ("candle_time", "open", "high", "low", "close", "volume")


@given(
    st.one_of(
        st.integers(-120, 10**11 + 120).map(lambda t: t - t % 60),
        st.integers(-(2**65), 2**65),
        _NUMBER,
    ),
    st.lists(st.one_of(_NUMBER, st.floats(0.5, 2.0), st.integers(1, 3)), min_size=5, max_size=5),
    st.sets(st.sampled_from(_FIELDS), max_size=1),
)
def test_the_fast_candle_check_agrees_with_the_problem_list(t, values, dropped) -> None:
    raw = dict(zip(_FIELDS, [t, *values], strict=True))
    for name in dropped:
        del raw[name]
    row = candle_row(raw, 60)
    listed = candle_problems(raw, 60, ["c"])
    assert (row is None) == bool(listed), (raw, listed)
    if row is not None:
        assert row == (raw["candle_time"], *(float(raw[f]) for f in _FIELDS[1:]))
        assert all(math.isfinite(v) for v in row[1:])


def test_candle_problems_name_each_field_in_one_style() -> None:
    bad = {"candle_time": 61, "open": 0, "high": True, "low": 1, "close": 1, "volume": -1}
    assert candle_problems(bad, 60, ["body", "candle"]) == [
        {
            "loc": ["body", "candle", "candle_time"],
            "msg": "Input should be a multiple of 60",
            "type": "multiple_of",
        },
        {
            "loc": ["body", "candle", "open"],
            "msg": "Input should be greater than 0",
            "type": "greater_than",
        },
        {
            "loc": ["body", "candle", "high"],
            "msg": "Input should be a valid number",
            "type": "float_type",
        },
        {
            "loc": ["body", "candle", "volume"],
            "msg": "Input should be greater than or equal to 0",
            "type": "greater_than_equal",
        },
    ]
    crossed = {"candle_time": 60, "open": 2, "high": 2, "low": 3, "close": 4, "volume": 0}
    assert [(p["loc"][-1], p["type"]) for p in candle_problems(crossed, 60, [])] == [
        ("low", "value_error"),
        ("high", "value_error"),
    ]
    assert candle_problems([], 60, ["c"])[0]["type"] == "dict_type"
