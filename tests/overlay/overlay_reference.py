"""A brute-force §5 derivation: rebuild every instruction from scratch at every candle."""

from __future__ import annotations

from typing import Any

from canvas.factors.base import FactorEvent

Json = dict[str, Any]
STYLE = {
    ("major", "resistance"): ("aboveBar", "#ef4444", 1.0),
    ("major", "support"): ("belowBar", "#22c55e", 1.0),
    ("minor", "resistance"): ("aboveBar", "rgba(239,68,68,0.6)", 0.5),
    ("minor", "support"): ("belowBar", "rgba(34,197,94,0.6)", 0.5),
}


def instructions_at(
    t: int, events: list[FactorEvent], head: Json, tf: int, window: int
) -> dict[str, Json]:
    """Every instruction that exists at `t`, with its definition, by the §5 rules."""
    out: dict[str, Json] = {}
    for e in events:
        if e.visible_time > t or e.factor != "pivot":
            continue
        p = e.payload
        position, color, size = STYLE[(e.kind, p["direction"])]
        iid = f"pivot.{e.kind}:{p['pivot_time']}:{p['direction']}:{p['window']}"
        out[iid] = {
            "type": "marker",
            "feature": f"pivot.{e.kind}",
            "time": p["pivot_time"],
            "position": position,
            "color": color,
            "shape": "circle",
            "text": "",
            "size": size,
        }
    pens = [
        e.payload
        for e in events
        if e.factor == "pen" and e.visible_time <= t and e.payload["end_time"] >= t - window * tf
    ]
    pens.sort(key=lambda p: (p["visible_time"], p["start_time"]))
    if pens:
        points = [{"time": pens[0]["start_time"], "value": pens[0]["start_price"]}]
        points += [{"time": p["end_time"], "value": p["end_price"]} for p in pens]
        out["pen.confirmed"] = {
            "type": "polyline",
            "feature": "pen.confirmed",
            "points": points,
            "color": "#ffffff",
            "lineWidth": 2,
        }
    for leg in ("extending", "candidate"):
        if leg in head:
            g = head[leg]
            out[f"pen.{leg}"] = {
                "type": "polyline",
                "feature": f"pen.{leg}",
                "points": [
                    {"time": g["start_time"], "value": g["start_price"]},
                    {"time": g["end_time"], "value": g["end_price"]},
                ],
                "color": "#ffffff",
                "lineWidth": 2,
                "lineStyle": "dashed",
            }
    return out


def _order(iid: str) -> tuple:
    if iid.startswith("pivot."):
        kind, rest = iid[len("pivot.") :].split(":", 1)
        time, direction, _ = rest.split(":")
        return (0, kind != "major", int(time), direction)
    return (1, ["pen.confirmed", "pen.extending", "pen.candidate"].index(iid))


def ref_catalog(
    times: list[int], events: list[FactorEvent], heads: dict[int, Json], tf: int, window: int
) -> tuple[list[tuple[str, str, int, Json]], set[tuple[str, int, bool]], dict[int, set[str]]]:
    """Versions (id, kind, visible_time, definition) in order, polyline presence changes,
    and the set of existing instructions at each candle."""
    versions = []
    presence = set()
    existing: dict[int, set[str]] = {}
    latest: dict[str, Json] = {}
    before: set[str] = set()
    head: Json = {}
    for t in times:
        head = heads.get(t, head)
        now = instructions_at(t, events, head, tf, window)
        for iid in sorted(now, key=_order):
            if latest.get(iid) != now[iid]:
                latest[iid] = now[iid]
                kind = "marker" if iid.startswith("pivot.") else "polyline"
                versions.append((iid, kind, t, now[iid]))
        for iid in ("pen.confirmed", "pen.extending", "pen.candidate"):
            if (iid in now) != (iid in before):
                presence.add((iid, t, iid in now))
        before = set(now)
        existing[t] = before
    return versions, presence, existing
