"""Hypothesis strategies for hostile HTTP requests and WebSocket frames against Canvas."""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import quote

from hypothesis import strategies as st

SERIES = ("binance:futures:BTC/USDT:1m", "fuzz:spot:FZ/USDT:5m")
BAD_SERIES = (
    "",
    "BTCUSDT",
    "binance:moon:BTC/USDT:1m",
    "binance:spot:BTC/USDT:7x",
    "binance:spot:BTC USDT:1m",
    "fuzz:spot:FZ\ud800X/USDT:1m",
    "a:spot:B/C:" + "9" * 400 + "m",
    "x" * 5000,
)
HUGE_INTS = (2**63, -(2**63) - 1, 10**309, -(10**400), 2**64 + 1)
PARAMS = (
    "series_id",
    "since",
    "before",
    "limit",
    "at_time",
    "window_candles",
    "cursor_version_id",
    "job_id",
    "target_idx",
    "include_preload",
    "market",
    "exchange",
    "quote_asset",
    "force",
    "interval_s",
    "max_events",
    "max_recent_gaps",
    "recent_base_buckets",
    "now_time",
    "access_token",
)
CONTENT_TYPES = (
    None,
    "application/json",
    "application/json; charset=utf-8",
    "text/plain",
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=x",
    "application/json\x7f",
)
ORIGINS = (None, "http://evil.test", "http://localhost:5173", "null", "http://127.0.0.1:1")

numbers_text = st.one_of(
    st.integers().map(str),
    st.sampled_from(HUGE_INTS).map(str),
    st.just("9" * 5000),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(["nan", "inf", "-inf", "1e999", "+1", " 5 ", "0x10", "", "true"]),
)
query_value = st.one_of(
    numbers_text, st.sampled_from(SERIES), st.sampled_from(BAD_SERIES), st.text(max_size=30)
)

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.sampled_from(HUGE_INTS),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
    st.sampled_from(SERIES + BAD_SERIES),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


def _often(likely: Any, other: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """`likely` about four times in five, else something from `other`."""
    return st.sampled_from((True, True, True, True, False)).flatmap(
        lambda keep: st.just(likely) if keep else other
    )


@st.composite
def candle_like(draw: Any) -> dict[str, Any]:
    """A valid-looking candle with some fields swapped for hostile values."""
    t = draw(st.sampled_from([0, 300, 600, 900]))
    t = draw(_often(t, st.sampled_from([61, -60, 10**11, 2**63, 1.5, "300", True])))
    price = draw(st.sampled_from([1.0, 2.0, 0.5]))
    c = {
        "candle_time": t,
        "open": price,
        "high": price,
        "low": price,
        "close": price,
        "volume": 1.0,
    }
    for field in draw(_often([], st.lists(st.sampled_from(sorted(c)), min_size=1, max_size=3))):
        c[field] = draw(st.one_of(st.sampled_from(HUGE_INTS), json_scalars))
    return c


@st.composite
def json_body(draw: Any, path: str = "") -> bytes:
    """A JSON body, shaped for `path` most of the time (a candle for candle_closed...)."""
    fitting = {"candle_closed": "candle", "candle_forming": "candle", "batch": "batch"}
    kind = next((k for key, k in fitting.items() if key in path), "series")
    kind = draw(_often(kind, st.sampled_from(["candle", "batch", "series", "any"])))
    sid = draw(_often(draw(st.sampled_from(SERIES)), st.sampled_from(BAD_SERIES)))
    if kind == "candle":
        doc: Any = {"series_id": sid, "candle": draw(candle_like())}
    elif kind == "batch":
        doc = {
            "series_id": sid,
            "candles": draw(st.lists(candle_like(), min_size=1, max_size=4)),
            "publish_ws": draw(_often(False, json_scalars)),
        }
    elif kind == "series":
        doc = {
            "series_id": sid,
            **draw(
                st.dictionaries(
                    st.sampled_from(
                        [
                            "to_time",
                            "window_candles",
                            "window_size",
                            "snapshot_interval",
                            "target_candles",
                            "include_overlay",
                        ]
                    ),
                    json_scalars,
                    max_size=3,
                )
            ),
        }
    else:
        doc = draw(json_values)
    # Python's encoder writes NaN/Infinity tokens for floats we never draw; ints stay exact.
    return json.dumps(doc).encode("utf-8", "surrogatepass")


ODD_BODIES = st.one_of(
    st.binary(max_size=200),
    st.sampled_from(
        [
            b"",
            b"[" * 100_000,
            b'{"a":' * 50_000,
            b"\xff\xfe{}",
            b'{"series_id": "\xc3\x28"}',
            b'{"x": NaN}',
            b'{"x": Infinity}',
            b'{"x": 1' + b"0" * 5000 + b"}",
        ]
    ),
)


def _as_path(text: str) -> str:
    return "/" + quote(text.encode("utf-8", "surrogatepass"), safe="/")


@st.composite
def http_request(draw: Any, routes: dict[str, list[str]]) -> dict[str, Any]:
    """One request: mostly a real route with one of its methods and a JSON content type,
    sometimes anything (unknown paths, wrong methods, content types, foreign origins)."""
    # The write routes three times over: they are where invalid data could get stored.
    weighted = sorted(routes) + [p for p in sorted(routes) if "/ingest/" in p] * 2
    path = draw(st.sampled_from(weighted))
    path = draw(_often(path, st.text(max_size=20).map(_as_path)))
    methods = routes.get(path, ["GET"])
    method = draw(st.sampled_from(methods))
    method = draw(
        _often(method, st.sampled_from(["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]))
    )
    query = draw(st.dictionaries(st.sampled_from(PARAMS), query_value, max_size=4))
    if "series_id" not in query:
        query["series_id"] = draw(_often(draw(st.sampled_from(SERIES)), query_value))
    if path.endswith("/stream") and re.fullmatch(r"\s*[+-]?0*\s*", query.get("max_events", "")):
        query["max_events"] = "1"  # an endless stream is correct, but not a fuzz case
    headers = {}
    if (ctype := draw(_often("application/json", st.sampled_from(CONTENT_TYPES)))) is not None:
        headers["Content-Type"] = ctype
    if (origin := draw(_often(None, st.sampled_from(ORIGINS)))) is not None:
        headers["Origin"] = origin
    body = b""
    if method in ("POST", "PUT", "PATCH"):
        body = draw(_often(draw(json_body(path)), ODD_BODIES))
    return {"method": method, "path": path, "query": query, "headers": headers, "body": body}


INGEST_PATHS = (
    "/api/market/ingest/candle_closed",
    "/api/market/ingest/candles_closed_batch",
    "/api/market/ingest/candle_forming",
)


@st.composite
def ingest_request(draw: Any) -> dict[str, Any]:
    """A well-formed write whose candles carry hostile values (huge ints, wrong types...)."""
    path = draw(st.sampled_from(INGEST_PATHS))
    return {
        "method": "POST",
        "path": path,
        "query": {},
        "headers": {"Content-Type": "application/json"},
        "body": draw(json_body(path)),
    }


ws_text = st.one_of(
    json_values.map(json.dumps),
    st.builds(
        lambda kind, sid, extra: json.dumps({"type": kind, "series_id": sid, **extra}),
        st.sampled_from(["subscribe", "unsubscribe", "nope", ""]),
        st.sampled_from(SERIES + BAD_SERIES),
        st.dictionaries(st.sampled_from(["since", "supports_batch"]), json_scalars, max_size=2),
    ),
    st.text(max_size=50),
    st.sampled_from(["[" * 20_000, '{"type": NaN}', "x" * 70_000, "é" * 40_000]),
)
ws_frames = st.lists(
    st.one_of(
        ws_text.map(lambda t: ("text", t)), st.binary(max_size=300).map(lambda b: ("bytes", b))
    ),
    min_size=1,
    max_size=4,
)
