"""A brute-force §5 derivation: rebuild every instruction from scratch at every candle."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from canvas.factors.base import FactorEvent

# The factor reference's literal zhongshu replay, shared rather than written twice.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "factors"))
from factor_reference import ref_zhongshu  # noqa: E402

Json = dict[str, Any]
STYLE = {
    ("major", "resistance"): ("aboveBar", "#ef4444", 1.0),
    ("major", "support"): ("belowBar", "#22c55e", 1.0),
    ("minor", "resistance"): ("aboveBar", "rgba(239,68,68,0.6)", 0.5),
    ("minor", "support"): ("belowBar", "rgba(34,197,94,0.6)", 0.5),
}


def _pivot_markers(t: int, events: list[FactorEvent]) -> list[tuple[tuple, str, Json]]:
    out = []
    for e in events:
        if e.visible_time > t or e.factor != "pivot":
            continue
        p = e.payload
        position, color, size = STYLE[(e.kind, p["direction"])]
        iid = f"pivot.{e.kind}:{p['pivot_time']}:{p['direction']}:{p['window']}"
        order = (e.kind != "major", p["pivot_time"], p["direction"])
        out.append((order, iid, {
            "type": "marker",
            "feature": f"pivot.{e.kind}",
            "time": p["pivot_time"],
            "position": position,
            "color": color,
            "shape": "circle",
            "text": "",
            "size": size,
        }))
    return out


def _switches(events: list[FactorEvent], lo: int, hi: int) -> list[Json]:
    """Switch payloads visible in [lo, hi], zhongshu_entry before strong_pen on a candle."""
    found = [e.payload for e in events if e.factor == "anchor" and lo <= e.visible_time <= hi]
    return sorted(found, key=lambda p: (p["visible_time"], p["reason"] != "zhongshu_entry"))


def _switch_markers(t: int, events: list[FactorEvent]) -> dict[str, Json]:
    out = {}
    for p in _switches(events, 0, t):
        d = p["new_anchor"]["direction"]
        out[f"anchor.switch:{p['switch_time']}:{d}:{p['reason']}"] = {
            "type": "marker",
            "feature": "anchor.switch",
            "time": p["switch_time"],
            "position": "belowBar" if d >= 0 else "aboveBar",
            "color": "#f59e0b",
            "shape": "arrowUp" if d >= 0 else "arrowDown",
            "text": "A",
            "size": 1.0,
        }
    return out


def _line(feature: str, points: list[Json], color: str, width: int, **extra: Any) -> Json:
    return {"type": "polyline", "feature": feature, "points": points, "color": color,
            "lineWidth": width, **extra}


def _two(leg: Json) -> list[Json]:
    return [{"time": leg["start_time"], "value": leg["start_price"]},
            {"time": leg["end_time"], "value": leg["end_price"]}]


def _box(feature: str, prefix: str, z: Json, colors: tuple[str, str]) -> dict[str, Json]:
    color = colors[0] if z["entry_direction"] >= 0 else colors[1]
    return {
        f"{prefix}:{side}": _line(
            feature,
            [{"time": z["start_time"], "value": v}, {"time": z["end_time"], "value": v}],
            color, 2, entryDirection=z["entry_direction"],
        )
        for side, v in (("top", z["zg"]), ("bottom", z["zd"]))
    }


def _zhongshu(t: int, events: list[FactorEvent], bars: list, cutoff: int) -> dict[str, Json]:
    out: dict[str, Json] = {}
    deads = [e.payload for e in events if e.factor == "zhongshu" and cutoff <= e.visible_time <= t]
    for p in sorted(deads, key=lambda p: p["visible_time"]):
        if p["start_time"] > 0 and p["end_time"] >= max(cutoff, 1) and p["start_time"] <= t:
            prefix = f"zhongshu.dead:{p['start_time']}:{p['end_time']}:{p['zg']:.6f}:{p['zd']:.6f}"
            out.update(_box("zhongshu.dead", prefix, p,
                            ("rgba(74,222,128,0.58)", "rgba(248,113,113,0.58)")))
    window = [b for b in bars if cutoff <= b[0] <= t]
    pens = _window_pens(events, cutoff, t)
    pens.sort(key=lambda p: (p["visible_time"], p["start_time"], p["end_time"]))
    alive = ref_zhongshu(window, pens)[2].get(t) if window else None
    if alive is not None:
        out.update(_box("zhongshu.alive", "zhongshu.alive", alive,
                        ("rgba(22,163,74,0.72)", "rgba(220,38,38,0.72)")))
    return out


def _window_pens(events: list[FactorEvent], lo: int, hi: int) -> list[Json]:
    return [e.payload for e in events if e.factor == "pen" and lo <= e.visible_time <= hi]


def _matches(a: Json, leg: Json | None) -> bool:
    return leg is not None and all(a[k] == leg[k] for k in ("start_time", "end_time", "direction"))


def _points(anchor: Json, head: Json, pens: list[Json]) -> tuple[list[Json], bool] | None:
    if anchor["kind"] == "candidate":
        for leg in (head.get("candidate"), head.get("extending")):
            if _matches(anchor, leg):
                return _two(leg), True
    for pen in pens:
        if _matches(anchor, pen):
            return _two(pen), False
    same = [p for p in pens if (p["start_time"], p["direction"]) ==
            (anchor["start_time"], anchor["direction"])]
    if same:
        return _two(max(same, key=lambda p: (p["visible_time"], p["end_time"]))), False
    return None


def _anchor(t: int, events: list[FactorEvent], head: Json, cutoff: int) -> dict[str, Json]:
    pens = _window_pens(events, cutoff, t)
    kept: dict[int, Json] = {}
    for p in _switches(events, cutoff, t):
        kept[p["switch_time"]] = p
    history, starts = [], set()
    for p in kept.values():
        if p["new_anchor"]["start_time"] not in starts:
            starts.add(p["new_anchor"]["start_time"])
            history.append(p)
    current = None
    if history:
        current = history[-1]["new_anchor"]
    elif pens:
        last = max(pens, key=lambda p: (p["visible_time"], p["start_time"]))
        current = {"kind": "confirmed", "start_time": last["start_time"],
                   "end_time": last["end_time"], "direction": last["direction"]}
    leg = head.get("candidate", head.get("extending"))
    if leg is not None:
        strength = -1.0
        for cand in (head.get("extending"), head.get("candidate")):
            if current is not None and _matches(current, cand):
                strength = abs(cand["end_price"] - cand["start_price"])
                break
        else:
            same = [p for p in pens if current is not None and
                    (p["start_time"], p["direction"]) ==
                    (current["start_time"], current["direction"])]
            if same:
                p = max(same, key=lambda p: p["end_time"])
                strength = abs(p["end_price"] - p["start_price"])
        if (current is None or leg["start_time"] == current["start_time"]
                or abs(leg["end_price"] - leg["start_price"]) > strength):
            current = {"kind": "candidate", "start_time": leg["start_time"],
                       "end_time": leg["end_time"], "direction": leg["direction"]}
    out: dict[str, Json] = {}
    found = None if current is None else _points(current, head, pens)
    if found is not None:
        extra = {"lineStyle": "dashed"} if found[1] else {}
        out["anchor.current"] = _line("anchor.current", found[0], "#f59e0b", 2, **extra)
    for p in history:
        a = p["new_anchor"]
        if current is not None and a["start_time"] == current["start_time"]:
            continue
        found = _points(a, head, pens)
        if found is not None:
            iid = (f"anchor.history:{p['switch_time']}:{a['start_time']}:{a['end_time']}:"
                   f"{a['direction']}")
            out[iid] = _line("anchor.history", found[0], "rgba(59,130,246,0.55)", 1)
    return out


def instructions_at(
    t: int, events: list[FactorEvent], head: Json, tf: int, window: int, bars: list
) -> dict[str, Json]:
    """Every instruction that exists at `t`, with its definition, in write order (§5 and
    ZHONGSHU-ANCHOR §3): markers, pen.confirmed, zhongshu boxes, anchor polylines, then the
    pen head legs."""
    out: dict[str, Json] = {}
    for _, iid, d in sorted(_pivot_markers(t, events)):
        out[iid] = d
    out.update(_switch_markers(t, events))
    cutoff = t - window * tf
    pens = [
        e.payload
        for e in events
        if e.factor == "pen" and e.visible_time <= t and e.payload["end_time"] >= cutoff
    ]
    pens.sort(key=lambda p: (p["visible_time"], p["start_time"]))
    if pens:
        points = [{"time": pens[0]["start_time"], "value": pens[0]["start_price"]}]
        points += [{"time": p["end_time"], "value": p["end_price"]} for p in pens]
        out["pen.confirmed"] = _line("pen.confirmed", points, "#ffffff", 2)
    out.update(_zhongshu(t, events, bars, cutoff))
    out.update(_anchor(t, events, head, cutoff))
    for leg in ("extending", "candidate"):
        if leg in head:
            out[f"pen.{leg}"] = _line(f"pen.{leg}", _two(head[leg]), "#ffffff", 2,
                                      lineStyle="dashed")
    return out


def _is_marker(iid: str) -> bool:
    return iid.startswith(("pivot.", "anchor.switch:"))


def ref_catalog(
    bars: list, events: list[FactorEvent], heads: dict[int, Json], tf: int, window: int
) -> tuple[list[tuple[str, str, int, Json]], set[tuple[str, int, bool]], dict[int, set[str]]]:
    """Versions (id, kind, visible_time, definition) in order, polyline presence changes,
    and the set of existing instructions at each candle."""
    versions = []
    presence = set()
    existing: dict[int, set[str]] = {}
    latest: dict[str, Json] = {}
    before: set[str] = set()
    head: Json = {}
    for b in bars:
        t = b[0]
        head = heads.get(t, head)
        now = instructions_at(t, events, head, tf, window, bars)
        for iid, definition in now.items():
            if latest.get(iid) != definition:
                latest[iid] = definition
                kind = "marker" if _is_marker(iid) else "polyline"
                versions.append((iid, kind, t, definition))
        for iid in (set(now) | before):
            if not _is_marker(iid) and (iid in now) != (iid in before):
                presence.add((iid, t, iid in now))
        before = set(now)
        existing[t] = before
    return versions, presence, existing
