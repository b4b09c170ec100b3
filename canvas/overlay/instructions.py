"""Instruction ids and definitions exactly as §5 (pivot markers, pen polylines) and
ZHONGSHU-ANCHOR §3 (zhongshu boxes, anchor markers and polylines) spell them."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from json.encoder import encode_basestring_ascii
from typing import NamedTuple

import attrs

from canvas.factors.base import Json, dumps

MARKER = "marker"
POLYLINE = "polyline"
PEN_CONFIRMED = "pen.confirmed"
PEN_EXTENDING = "pen.extending"
PEN_CANDIDATE = "pen.candidate"
ZHONGSHU_ALIVE_TOP = "zhongshu.alive:top"
ZHONGSHU_ALIVE_BOTTOM = "zhongshu.alive:bottom"
ANCHOR_CURRENT = "anchor.current"
# The polylines with fixed ids; the others (`zhongshu.dead:*`, `anchor.history:*`) are one
# per factor event and exist only while that event is in the derivation window. Markers
# are one per pivot or anchor switch event.
POLYLINE_IDS = (
    PEN_CONFIRMED,
    PEN_EXTENDING,
    PEN_CANDIDATE,
    ZHONGSHU_ALIVE_TOP,
    ZHONGSHU_ALIVE_BOTTOM,
    ANCHOR_CURRENT,
)
ANCHOR_COLOR = "#f59e0b"
HISTORY_COLOR = "rgba(59,130,246,0.55)"
_ZHONGSHU_COLORS = {
    # (feature, entry direction >= 0) → colour
    ("zhongshu.alive", True): "rgba(22,163,74,0.72)",
    ("zhongshu.alive", False): "rgba(220,38,38,0.72)",
    ("zhongshu.dead", True): "rgba(74,222,128,0.58)",
    ("zhongshu.dead", False): "rgba(248,113,113,0.58)",
}

_MARKER_STYLE = {
    # (kind, direction) → (position, color, size)
    ("major", "resistance"): ("aboveBar", "#ef4444", 1.0),
    ("major", "support"): ("belowBar", "#22c55e", 1.0),
    ("minor", "resistance"): ("aboveBar", "rgba(239,68,68,0.6)", 0.5),
    ("minor", "support"): ("belowBar", "rgba(34,197,94,0.6)", 0.5),
}
PEN_COLOR = "#ffffff"
PEN_LINE_WIDTH = 2


class OverlayVersion(NamedTuple):
    """A new definition of one instruction, visible from `visible_time` (the catalog entry
    without its storage-assigned `version_id`). A named tuple: an alive zhongshu makes two
    of these on every candle, so construction cost matters."""

    instruction_id: str
    kind: str
    visible_time: int
    definition: Json

    def as_patch(self, version_id: int) -> Json:
        return {
            "version_id": version_id,
            "instruction_id": self.instruction_id,
            "kind": self.kind,
            "visible_time": self.visible_time,
            "definition": self.definition,
        }


@attrs.frozen(slots=True)
class Presence:
    """An instruction starts (`present`) or stops existing at `visible_time`.

    Only polylines get these: a marker exists from its one version on, forever.
    """

    instruction_id: str
    visible_time: int
    present: bool


def marker_id(kind: str, pivot_time: int, direction: str, window: int) -> str:
    return f"pivot.{kind}:{pivot_time}:{direction}:{window}"


def marker(kind: str, payload: Json) -> tuple[str, Json]:
    """The id and definition of a pivot event's marker (`kind` is major or minor)."""
    direction = payload["direction"]
    position, color, size = _MARKER_STYLE[(kind, direction)]
    pivot_time = payload["pivot_time"]
    definition = {
        "type": "marker",
        "feature": f"pivot.{kind}",
        "time": pivot_time,
        "position": position,
        "color": color,
        "shape": "circle",
        "text": "",
        "size": size,
    }
    return marker_id(kind, pivot_time, direction, payload["window"]), definition


def confirmed_polyline(pens: Iterable[Json]) -> Json | None:
    """`pen.confirmed` over chained pens (oldest first); None below two points."""
    points: list[Json] = []
    for pen in pens:
        if not points:
            points.append({"time": pen["start_time"], "value": pen["start_price"]})
        points.append({"time": pen["end_time"], "value": pen["end_price"]})
    if len(points) < 2:
        return None
    return {
        "type": "polyline",
        "feature": PEN_CONFIRMED,
        "points": points,
        "color": PEN_COLOR,
        "lineWidth": PEN_LINE_WIDTH,
    }


def head_polyline(feature: str, leg: Json | None) -> Json | None:
    """`pen.extending` / `pen.candidate` from a pen head leg; None when the leg is absent."""
    if leg is None:
        return None
    return {
        "type": "polyline",
        "feature": feature,
        "points": leg_points(leg),
        "color": PEN_COLOR,
        "lineWidth": PEN_LINE_WIDTH,
        "lineStyle": "dashed",
    }


def switch_marker(payload: Json) -> tuple[str, Json]:
    """The id and definition of an `anchor.switch` event's marker."""
    t = payload["switch_time"]
    d = payload["new_anchor"]["direction"]
    up = d >= 0
    definition = {
        "type": "marker",
        "feature": "anchor.switch",
        "time": t,
        "position": "belowBar" if up else "aboveBar",
        "color": ANCHOR_COLOR,
        "shape": "arrowUp" if up else "arrowDown",
        "text": "A",
        "size": 1.0,
    }
    return f"anchor.switch:{t}:{d}:{payload['reason']}", definition


def zhongshu_color(feature: str, entry_direction: int) -> str:
    return _ZHONGSHU_COLORS[(feature, entry_direction >= 0)]


def box_line(
    feature: str, color: str, start: int, end: int, value: float, direction: int
) -> Json:
    """One edge (top at zg, bottom at zd) of a zhongshu box."""
    return {
        "type": "polyline",
        "feature": feature,
        "points": [{"time": start, "value": value}, {"time": end, "value": value}],
        "color": color,
        "lineWidth": 2,
        "entryDirection": direction,
    }


def zhongshu_pair(feature: str, prefix: str, z: Json) -> list[tuple[str, Json]]:
    """The top and bottom polylines of a zhongshu box (`z` has start/end times, zg, zd and
    entry_direction), ids `{prefix}:top` and `{prefix}:bottom`."""
    direction = z["entry_direction"]
    color = zhongshu_color(feature, direction)
    start, end = z["start_time"], z["end_time"]
    return [
        (f"{prefix}:top", box_line(feature, color, start, end, z["zg"], direction)),
        (f"{prefix}:bottom", box_line(feature, color, start, end, z["zd"], direction)),
    ]


def dead_prefix(p: Json) -> str:
    return f"zhongshu.dead:{p['start_time']}:{p['end_time']}:{p['zg']:.6f}:{p['zd']:.6f}"


def history_id(switch: Json) -> str:
    a = switch["new_anchor"]
    t = switch["switch_time"]
    return f"anchor.history:{t}:{a['start_time']}:{a['end_time']}:{a['direction']}"


def anchor_polyline(feature: str, points: list[Json], dashed: bool) -> Json:
    """`anchor.current` (dashed or solid) or `anchor.history` over resolved points."""
    if feature == ANCHOR_CURRENT:
        definition = {
            "type": "polyline",
            "feature": feature,
            "points": points,
            "color": ANCHOR_COLOR,
            "lineWidth": 2,
        }
        if dashed:
            definition["lineStyle"] = "dashed"
        return definition
    return {
        "type": "polyline",
        "feature": feature,
        "points": points,
        "color": HISTORY_COLOR,
        "lineWidth": 1,
    }


def leg_points(leg: Json) -> list[Json]:
    return [
        {"time": leg["start_time"], "value": leg["start_price"]},
        {"time": leg["end_time"], "value": leg["end_price"]},
    ]


def definition_times(definition: Json) -> Sequence[int]:
    """The times a definition is drawn at: a marker's time or a polyline's point times."""
    if definition["type"] == "marker":
        return (definition["time"],)
    return [p["time"] for p in definition["points"]]


def touches(definition: Json, lo: int, hi: int) -> bool:
    """Whether the marker's time or any polyline point lies in [lo, hi] (§5 active_ids)."""
    return any(lo <= t <= hi for t in definition_times(definition))


_BOX_KEYS = ("type", "feature", "points", "color", "lineWidth", "entryDirection")
_POINT_KEYS = ("time", "value")


def definition_json(definition: Json) -> str:
    """The stored text of a definition: exactly `dumps(definition)`. A zhongshu box edge (two
    new versions every candle while a zhongshu is alive) with int times and direction and
    finite float values is written from a template, at a fraction of the general encoder's
    cost (the encoder writes such ints and floats as their `repr` and strings as
    `encode_basestring_ascii` does); any other shape or type goes to the encoder."""
    d = definition
    if len(d) != 6 or tuple(d) != _BOX_KEYS:
        return dumps(d)
    points = d["points"]
    if type(points) is not list or len(points) != 2:
        return dumps(d)
    a, b = points
    if type(a) is not dict or type(b) is not dict:
        return dumps(d)
    if tuple(a) != _POINT_KEYS or tuple(b) != _POINT_KEYS:
        return dumps(d)
    t0, v0, t1, v1 = a["time"], a["value"], b["time"], b["value"]
    kind, feature, color, width, direction = (
        d["type"], d["feature"], d["color"], d["lineWidth"], d["entryDirection"]
    )
    if not (
        type(t0) is int
        and type(t1) is int
        and type(width) is int
        and type(direction) is int
        and type(v0) is float
        and type(v1) is float
        and v0 - v0 == 0.0  # finite
        and v1 - v1 == 0.0
        and type(kind) is str
        and type(feature) is str
        and type(color) is str
    ):
        return dumps(d)
    s = encode_basestring_ascii
    return (
        f'{{"type":{s(kind)},"feature":{s(feature)},'
        f'"points":[{{"time":{t0},"value":{v0!r}}},{{"time":{t1},"value":{v1!r}}}],'
        f'"color":{s(color)},"lineWidth":{width},"entryDirection":{direction}}}'
    )
