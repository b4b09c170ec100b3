"""Instruction ids and definitions exactly as §5 spells them: pivot markers and pen polylines."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import attrs

from canvas.factors.base import Json

MARKER = "marker"
POLYLINE = "polyline"
PEN_CONFIRMED = "pen.confirmed"
PEN_EXTENDING = "pen.extending"
PEN_CANDIDATE = "pen.candidate"
# Every polyline instruction there can be; markers are one per pivot event.
POLYLINE_IDS = (PEN_CONFIRMED, PEN_EXTENDING, PEN_CANDIDATE)

_MARKER_STYLE = {
    # (kind, direction) → (position, color, size)
    ("major", "resistance"): ("aboveBar", "#ef4444", 1.0),
    ("major", "support"): ("belowBar", "#22c55e", 1.0),
    ("minor", "resistance"): ("aboveBar", "rgba(239,68,68,0.6)", 0.5),
    ("minor", "support"): ("belowBar", "rgba(34,197,94,0.6)", 0.5),
}
PEN_COLOR = "#ffffff"
PEN_LINE_WIDTH = 2


@attrs.frozen(slots=True)
class OverlayVersion:
    """A new definition of one instruction, visible from `visible_time` (the catalog entry
    without its storage-assigned `version_id`)."""

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
        "points": [
            {"time": leg["start_time"], "value": leg["start_price"]},
            {"time": leg["end_time"], "value": leg["end_price"]},
        ],
        "color": PEN_COLOR,
        "lineWidth": PEN_LINE_WIDTH,
        "lineStyle": "dashed",
    }


def definition_times(definition: Json) -> Sequence[int]:
    """The times a definition is drawn at: a marker's time or a polyline's point times."""
    if definition["type"] == "marker":
        return (definition["time"],)
    return [p["time"] for p in definition["points"]]


def touches(definition: Json, lo: int, hi: int) -> bool:
    """Whether the marker's time or any polyline point lies in [lo, hi] (§5 active_ids)."""
    return any(lo <= t <= hi for t in definition_times(definition))
