"""The stored text of a definition is exactly the general encoder's, whatever its shape."""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from canvas.factors.base import dumps
from canvas.overlay.instructions import box_line, definition_json

SCALARS = st.one_of(
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.none(),
    st.text(max_size=8),
)
FLOATS = st.floats(allow_nan=True, allow_infinity=True)
POINT_KEYS = st.sampled_from([("time", "value"), ("value", "time"), ("time", "value", "x")])


@st.composite
def box_shaped(draw) -> dict:
    """A zhongshu box edge as the deriver builds it, or one that differs in a type, a key,
    the key order or the number of points."""
    value = draw(st.one_of(FLOATS, st.integers(), SCALARS))
    d = box_line(
        draw(st.sampled_from(["zhongshu.alive", "zhongshu.dead", 'q"\\é'])),
        draw(st.one_of(st.sampled_from(["rgba(22,163,74,0.72)", "#fff"]), SCALARS)),
        draw(st.one_of(st.integers(), SCALARS)),
        draw(st.one_of(st.integers(), SCALARS)),
        value,
        draw(st.one_of(st.sampled_from([1, -1]), SCALARS)),
    )
    keys = draw(POINT_KEYS)
    if keys != ("time", "value"):
        d["points"][1] = {k: d["points"][1].get(k, 0) for k in keys}
    change = draw(st.sampled_from(["none", "none", "extra", "order", "points", "width"]))
    if change == "extra":
        d["lineStyle"] = "dashed"
    elif change == "order":
        d = dict(reversed(d.items()))
    elif change == "points":
        d["points"].append({"time": 1, "value": 2.0})
    elif change == "width":
        d["lineWidth"] = draw(SCALARS)
    return d


@given(box_shaped())
def test_definition_json_equals_the_encoder(d):
    assert definition_json(d) == dumps(d)


def test_box_edges_take_the_template_exactly():
    for value in (0.0, -0.0, 1e-7, 123456789.123, 5e300, -2.5, 30123.4, math.pi):
        for direction in (1, -1):
            d = box_line("zhongshu.alive", "#fff", 60, 1_600_000_020, value, direction)
            assert definition_json(d) == dumps(d)
