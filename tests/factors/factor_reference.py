"""A deliberately simple, quadratic, literal reading of §4.2–4.3 to check the engine against."""

from __future__ import annotations

from typing import Any

Json = dict[str, Any]
Bar = tuple[int, float, float, float, float, float]


def ref_pivots(bars: list[Bar], tf: int, w_major: int, w_minor: int) -> list[tuple[str, Json]]:
    """`(key, payload)` of every pivot event, in the order they become visible (majors before
    minors on a candle, then by direction)."""
    times = [b[0] for b in bars]
    highs = [b[2] for b in bars]
    lows = [b[3] for b in bars]
    position = {t: i for i, t in enumerate(times)}
    out: list[tuple[str, Json]] = []
    last_major: int | None = None

    def confirmed_at(v: int, w: int) -> int | None:
        i = position.get(v - w * tf)
        if i is None or i - w < 0 or i + w >= len(times) or times[i + w] != v:
            return None
        return i

    def emit(kind: str, i: int, price: float, direction: str, v: int, w: int) -> None:
        payload = {
            "pivot_time": times[i],
            "pivot_price": price,
            "direction": direction,
            "visible_time": v,
            "window": w,
        }
        out.append((f"{kind}:{times[i]}:{direction}:{w}", payload))

    for v in times:
        i = confirmed_at(v, w_major)
        if i is not None:
            left_h, right_h = highs[i - w_major : i], highs[i + 1 : i + w_major + 1]
            left_l, right_l = lows[i - w_major : i], lows[i + 1 : i + w_major + 1]
            found = False
            if all(highs[i] > x for x in left_h) and all(highs[i] >= x for x in right_h):
                emit("major", i, highs[i], "resistance", v, w_major)
                found = True
            if all(lows[i] < x for x in left_l) and all(lows[i] <= x for x in right_l):
                emit("major", i, lows[i], "support", v, w_major)
                found = True
            if found:
                last_major = i
        i = confirmed_at(v, w_minor)
        if i is not None and last_major is not None and i - w_minor >= last_major:
            span = range(i - w_minor, i + w_minor + 1)
            if all(highs[i] >= highs[k] for k in span):
                emit("minor", i, highs[i], "resistance", v, w_minor)
            if all(lows[i] <= lows[k] for k in span):
                emit("minor", i, lows[i], "support", v, w_minor)
    return out


def _effective(majors: list[Json]) -> tuple[list[Json], list[Json]]:
    """Effective pivots and confirmed pens after feeding `majors` in order."""
    eff: list[Json] = []
    pens: list[Json] = []
    for p in majors:
        if eff and eff[-1]["direction"] == p["direction"]:
            more = (
                p["pivot_price"] > eff[-1]["pivot_price"]
                if p["direction"] == "resistance"
                else p["pivot_price"] < eff[-1]["pivot_price"]
            )
            if more:
                eff[-1] = p
            continue
        eff.append(p)
        if len(eff) >= 3:
            a, b = eff[-3], eff[-2]
            pens.append(
                {
                    "start_time": a["pivot_time"],
                    "end_time": b["pivot_time"],
                    "start_price": a["pivot_price"],
                    "end_price": b["pivot_price"],
                    "direction": 1 if b["pivot_price"] > a["pivot_price"] else -1,
                    "visible_time": p["visible_time"],
                }
            )
    return eff, pens


def _extreme(bars: list[Bar], after: int, upto: int, highest: bool) -> Bar | None:
    best: Bar | None = None
    for b in bars:
        better = best is None or (b[2] > best[2] if highest else b[3] < best[3])
        if after < b[0] <= upto and better:
            best = b
    return best


def _leg(st: int, et: int, sp: float, ep: float) -> Json:
    return {
        "start_time": st,
        "end_time": et,
        "start_price": sp,
        "end_price": ep,
        "direction": 1 if ep > sp else -1,
    }


def ref_pen_head(bars: list[Bar], majors: list[Json], t: int) -> Json:
    visible = [p for p in majors if p["visible_time"] <= t]
    eff, pens = _effective(visible)
    if not pens:
        return {}
    start = eff[-2]
    after_support = start["direction"] == "support"
    head: Json = {}
    ext = _extreme(bars, start["pivot_time"], t, highest=after_support)
    if ext is None:
        return head
    ext_price = ext[2] if after_support else ext[3]
    if ext_price == start["pivot_price"]:
        return head
    head["extending"] = _leg(start["pivot_time"], ext[0], start["pivot_price"], ext_price)
    cand = _extreme(bars, ext[0], t, highest=not after_support)
    if cand is not None:
        cand_price = cand[3] if after_support else cand[2]
        if cand_price != ext_price:
            head["candidate"] = _leg(ext[0], cand[0], ext_price, cand_price)
    return head


def ref_all(
    bars: list[Bar], tf: int, w_major: int, w_minor: int
) -> tuple[list[tuple[str, str, Json]], dict[str, dict[int, Json]]]:
    """Every event as `(factor, key, payload)` and each factor's head snapshots
    `{factor: {time: head}}` (only at the candles where the head changes)."""
    pivots = ref_pivots(bars, tf, w_major, w_minor)
    majors = [p for k, p in pivots if k.startswith("major:")]
    majors.sort(key=lambda p: (p["visible_time"], p["pivot_time"], p["direction"]))
    _, pens = _effective(majors)
    deaths, formed, alive_after = ref_zhongshu(bars, pens)
    switches, anchor_after = ref_anchor(bars, pens, formed)
    events = [("pivot", k, p) for k, p in pivots]
    events += [
        ("pen", f"confirmed:{p['start_time']}:{p['end_time']}:{p['direction']}", p) for p in pens
    ]
    events += [("zhongshu", k, p) for k, p in deaths]
    events += [("anchor", k, p) for k, p in switches]
    # Engine order: by visible_time, then registry order on a candle (a stable sort).
    events.sort(key=lambda e: e[2]["visible_time"])
    every: dict[str, dict[int, Json]] = {"pen": {}, "zhongshu": {}, "anchor": {}}
    for b in bars:
        t = b[0]
        alive = alive_after[t]
        now = {
            "pen": ref_pen_head(bars, majors, t),
            "zhongshu": {} if not any(p["visible_time"] <= t for p in pens) else {
                "alive": [] if alive is None else [{
                    **{k: alive[k] for k in ("start_time", "end_time", "zg", "zd",
                                             "entry_direction", "formed_time", "formed_reason")},
                    "death_time": None,
                    "visible_time": t,
                }]
            },
            "anchor": anchor_after.get(t, {}),
        }
        for name, head in now.items():
            known = every[name]
            if _stored_form(head) != _stored_form(known[max(known)] if known else {}):
                known[t] = head
    return events, every


def _stored_form(head: Json) -> Json:
    """What decides whether a head is stored anew: for the zhongshu, its end and visible
    times follow the candle time while alive, so they do not count (reads stretch them)."""
    if not head.get("alive"):
        return head
    return {"alive": [{k: v for k, v in head["alive"][0].items()
                       if k not in ("end_time", "visible_time")}]}


# --- zhongshu and anchor (ZHONGSHU-ANCHOR §1-§2), read literally, tick by tick ------------


def _span(p: Json) -> tuple[float, float]:
    return min(p["start_price"], p["end_price"]), max(p["start_price"], p["end_price"])


def _zone(pens4: list[tuple[float, float]]) -> tuple[float, float] | None:
    """(zg, zd) when all four ranges share a point; the first (entry) does not bound it."""
    if max(r[0] for r in pens4) > min(r[1] for r in pens4):
        return None
    return min(r[1] for r in pens4[1:]), max(r[0] for r in pens4[1:])


def ref_zhongshu(
    bars: list[Bar], pens: list[Json]
) -> tuple[list[tuple[str, Json]], dict[int, list[Json]], dict[int, Json | None]]:
    """Deaths `(key, payload)`, the entry pens formed at each tick, and the alive zhongshu
    after each tick. `pens` in confirmation order."""
    alive: Json | None = None
    pending: Json | None = None
    seen: list[Json] = []
    floor = 0
    deaths: list[tuple[str, Json]] = []
    formed: dict[int, list[Json]] = {}
    alive_after: dict[int, Json | None] = {}

    def seed() -> Json | None:
        if len(seen) < 3 or (floor > 0 and seen[-3]["start_time"] < floor):
            return None
        entry, p1, p2 = seen[-3:]
        return {"pens": [entry, p1, p2], "start": p2["end_time"], "price": p2["end_price"],
                "ext": p2["end_price"], "trigger": p1["end_price"], "down": p2["direction"] > 0,
                "cross": None}

    def form(pend: Json, r3: tuple[float, float], when: int, end: int, why: str) -> Json | None:
        z = _zone([*(_span(p) for p in pend["pens"]), r3])
        if z is None:
            return None
        entry = pend["pens"][0]
        formed[v].append(entry)
        return {"start_time": entry["start_time"], "end_time": end, "zg": z[0], "zd": z[1],
                "entry_direction": entry["direction"], "formed_time": when,
                "formed_reason": why, "awaiting": why == "price_cross", "p3": pend["start"]}

    for b in bars:
        v = b[0]
        formed[v] = []
        for pen in [p for p in pens if p["visible_time"] == v]:
            seen.append(pen)
            lo, hi = _span(pen)
            if alive is None:
                if pending is not None and pen["start_time"] == pending["start"]:
                    alive = form(pending, (lo, hi), v, pen["end_time"], "pen_confirmed")
                    pending = None
                if alive is None and pending is None:
                    pending = seed()
            elif alive["awaiting"] and pen["start_time"] == alive["p3"]:
                alive["awaiting"] = False
                alive["end_time"] = max(alive["end_time"], pen["end_time"])
            elif hi < alive["zd"] or lo > alive["zg"]:
                d = {k: alive[k] for k in ("start_time", "end_time", "zg", "zd",
                                           "entry_direction", "formed_time")}
                d.update(death_time=v, visible_time=v, formed_reason=alive["formed_reason"])
                key = (f"dead:{d['start_time']}:{d['formed_time']}:{v}:{d['zg']:.8f}:"
                       f"{d['zd']:.8f}:{d['formed_reason']}")
                deaths.append((key, d))
                floor = seen[-2]["start_time"]
                alive = None
                pending = seed()
            else:
                alive["end_time"] = max(alive["end_time"], pen["end_time"])
        if alive is not None:
            alive["end_time"] = max(alive["end_time"], v)
        elif pending is not None and v > pending["start"]:
            if pending["down"]:
                pending["ext"] = min(pending["ext"], b[3])
                crossed = b[3] <= pending["trigger"]
            else:
                pending["ext"] = max(pending["ext"], b[2])
                crossed = b[2] >= pending["trigger"]
            if crossed and pending["cross"] is None:
                pending["cross"] = v
            if pending["cross"] is not None:
                r3 = (min(pending["price"], pending["ext"]), max(pending["price"], pending["ext"]))
                alive = form(pending, r3, pending["cross"], v, "price_cross")
                if alive is not None:
                    pending = None
        alive_after[v] = None if alive is None else dict(alive)
    return deaths, formed, alive_after


def _ref(kind: str, start: int, end: int, direction: int) -> Json:
    return {"kind": kind, "start_time": start, "end_time": end, "direction": direction}


def ref_anchor(
    bars: list[Bar], pens: list[Json], formed: dict[int, list[Json]]
) -> tuple[list[tuple[str, Json]], dict[int, Json]]:
    """Switch events `(key, payload)` and the anchor head after each tick (§2.2), the
    candidate leg found by scanning every candle after the last pen's end."""
    current: Json | None = None
    strength: float | None = None
    events: list[tuple[str, Json]] = []
    heads: dict[int, Json] = {}

    def switch(v: int, reason: str, new: Json) -> None:
        tail = "" if reason == "zhongshu_entry" else f"{new['kind']}:"
        key = f"{reason}:{v}:{tail}{new['start_time']}:{new['end_time']}:{new['direction']}"
        events.append((key, {"switch_time": v, "reason": reason, "old_anchor": current,
                             "new_anchor": new, "visible_time": v}))

    for b in bars:
        v = b[0]
        baseline = strength
        best: tuple[Json, float] | None = None
        for p in [p for p in pens if p["visible_time"] == v]:
            s = abs(p["end_price"] - p["start_price"])
            if (baseline is None or s > baseline) and (best is None or s > best[1]):
                best = (_ref("confirmed", p["start_time"], p["end_time"], p["direction"]), s)
        for entry in formed[v]:
            new = _ref("confirmed", entry["start_time"], entry["end_time"], entry["direction"])
            if current is None or new["start_time"] != current["start_time"]:
                switch(v, "zhongshu_entry", new)
            current = new
            strength = abs(entry["end_price"] - entry["start_price"])
        done = [p for p in pens if p["visible_time"] <= v]
        later = [x for x in bars if done and done[-1]["end_time"] < x[0] <= v]
        if later:
            last = done[-1]
            if last["direction"] == 1:
                end = min(later, key=lambda x: (x[3], x[0]))
                price, direction = end[3], -1
            else:
                end = min(later, key=lambda x: (-x[2], x[0]))
                price, direction = end[2], 1
            s = abs(price - last["end_price"])
            if (baseline is None or s > baseline) and (best is None or s > best[1]):
                best = (_ref("candidate", last["end_time"], end[0], direction), s)
        if best is not None:
            if current is None or best[0]["start_time"] != current["start_time"]:
                switch(v, "strong_pen", best[0])
            current, strength = best
        if current is not None:
            heads[v] = {"current_anchor_ref": current}
    return events, heads
