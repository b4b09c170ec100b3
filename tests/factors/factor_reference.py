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
) -> tuple[list[tuple[str, str, Json]], dict[int, Json]]:
    """Every event as `(factor, key, payload)` and the pen head snapshots `{time: head}`
    (only at the candles where the head changes)."""
    pivots = ref_pivots(bars, tf, w_major, w_minor)
    majors = [p for k, p in pivots if k.startswith("major:")]
    majors.sort(key=lambda p: (p["visible_time"], p["pivot_time"], p["direction"]))
    _, pens = _effective(majors)
    events = [("pivot", k, p) for k, p in pivots]
    events += [
        ("pen", f"confirmed:{p['start_time']}:{p['end_time']}:{p['direction']}", p) for p in pens
    ]
    # Engine order: by visible_time, pivot events before pen events on a candle.
    events.sort(key=lambda e: e[2]["visible_time"])
    heads: dict[int, Json] = {}
    previous: Json = {}
    for b in bars:
        head = ref_pen_head(bars, majors, b[0])
        if head != previous:
            heads[b[0]] = head
            previous = head
    return events, heads
