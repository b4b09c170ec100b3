"""The live chart page in a real browser against a real `canvas demo` (CONTRACT §10)."""

from __future__ import annotations

import math
import time

from browserlib import DEMO_SERIES, screenshot, wait_live


def wave(n: int, start: int = 600_000, tf: int = 60) -> list[dict]:
    """n candles of a two-frequency wave: with small pivot windows it has pivots and pens."""
    out = []
    prev = 100.0
    for i in range(n):
        price = 100 + 10 * math.sin(2 * math.pi * i / 40) + 3 * math.sin(2 * math.pi * i / 7)
        o, c = prev, round(price, 4)
        out.append(
            {
                "candle_time": start + i * tf,
                "open": o,
                "high": round(max(o, c) + 0.3, 4),
                "low": round(min(o, c) - 0.3, 4),
                "close": c,
                "volume": float(1 + i % 5),
            }
        )
        prev = c
    return out


def next_candle(last: dict, tf: int = 60, price: float | None = None) -> dict:
    c = last["close"] + 0.5 if price is None else price
    return {
        "candle_time": last["candle_time"] + tf,
        "open": last["close"],
        "high": max(last["close"], c) + 0.2,
        "low": min(last["close"], c) - 0.2,
        "close": c,
        "volume": 2.0,
    }


def wait_for_candle(page, candle_time: int, timeout_ms: int = 5000) -> None:
    """Wait until the page's newest closed candle is `candle_time`."""
    page.wait_for_function(
        "(t) => window.__canvas.candles().at(-1).candle_time === t",
        arg=candle_time,
        timeout=timeout_ms,
    )


def open_wave(demo, page, sid: str, n: int) -> tuple[list[dict], dict]:
    """Store n wave candles in `sid`, open its live chart; the candles and the page state."""
    seed = wave(n)
    demo.ingest(sid, seed)
    page.goto(f"{demo.base_url}/?series_id={sid}")
    return seed, wait_live(page)


def held(page) -> list[dict]:
    return page.evaluate("window.__canvas.candles()")


def assert_same_as_http(demo, page, series_id: str) -> list[dict]:
    """The page holds exactly the stored candles up to its last one: none lost, none twice."""
    mine = held(page)
    times = [c["candle_time"] for c in mine]
    assert times == sorted(set(times)), "candles out of order or repeated"
    stored = demo.candles(series_id, before=times[-1] + 1, limit=len(mine))
    assert mine == stored
    return mine


def test_page_loads_and_draws_the_stored_candles(demo, page):
    page.goto(f"{demo.base_url}/?series_id={DEMO_SERIES}")
    state = wait_live(page)
    assert state["seriesId"] == DEMO_SERIES
    mine = assert_same_as_http(demo, page, DEMO_SERIES)
    # What the chart library holds is the same series of bars (plus at most one forming bar).
    bars = page.evaluate("window.__canvas.bars()")
    closed = [b for b in bars if b["time"] <= mine[-1]["candle_time"]]
    assert [(b["time"], b["open"], b["close"]) for b in closed] == [
        (c["candle_time"], c["open"], c["close"]) for c in mine
    ]
    assert len(bars) - len(closed) <= 1
    # The health lamp shows the server's status for this series (the demo has it on).
    page.wait_for_function("() => window.__canvas.health() !== null")
    status = page.evaluate("window.__canvas.health().status")
    assert status in ("green", "yellow", "red")
    assert status in page.get_attribute("#health-lamp", "class")
    assert "series_id=binance:futures:BTC/USDT:1m" in page.url
    screenshot(page, "chart")
    assert page.console.errors == []


def test_candle_ingested_over_http_appears_within_a_second(demo, page):
    sid = "local:spot:LIVE/USDT:1m"
    seed, _ = open_wave(demo, page, sid, 120)
    last = seed[-1]
    for _ in range(3):
        candle = next_candle(last)
        demo.ingest(sid, [candle])
        posted = time.monotonic()
        wait_for_candle(page, candle["candle_time"], timeout_ms=1000)
        assert time.monotonic() - posted < 1.0
        last = candle
    assert_same_as_http(demo, page, sid)
    assert page.console.errors == []


def test_forming_candle_updates_then_closes(demo, page):
    sid = "local:spot:FORM/USDT:1m"
    seed, _ = open_wave(demo, page, sid, 60)
    forming = next_candle(seed[-1])
    for close in (forming["close"], forming["close"] + 1.0):
        update = {**forming, "close": close, "high": max(forming["high"], close)}
        r = demo.http.post(
            "/api/market/ingest/candle_forming", json={"series_id": sid, "candle": update}
        )
        assert r.status_code == 200, r.text
        page.wait_for_function("(c) => window.__canvas.forming()?.close === c", arg=close)
        bars = page.evaluate("window.__canvas.bars()")
        assert bars[-1]["time"] == forming["candle_time"] and bars[-1]["close"] == close
        assert held(page)[-1] == seed[-1]  # a forming candle is drawn, never held as closed
    demo.ingest(sid, [forming])
    wait_for_candle(page, forming["candle_time"])
    assert page.evaluate("window.__canvas.forming()") is None
    assert page.evaluate("window.__canvas.bars()")[-1]["close"] == forming["close"]
    assert_same_as_http(demo, page, sid)
    assert page.console.errors == []


def test_dropped_socket_reconnects_without_loss(demo, page):
    sid = "local:spot:DROP/USDT:1m"
    seed, _ = open_wave(demo, page, sid, 100)
    page.evaluate("window.__canvas.dropSocket()")
    # Written while the page is reconnecting (its first retry waits 250-500 ms).
    last = seed[-1]
    for _ in range(4):
        last = next_candle(last)
        demo.ingest(sid, [last])
    page.wait_for_function("() => window.__canvas.state().wsOpens >= 2", timeout=10000)
    wait_for_candle(page, last["candle_time"])
    # And the stream goes on after the reconnect.
    after = next_candle(last)
    demo.ingest(sid, [after])
    wait_for_candle(page, after["candle_time"])
    mine = assert_same_as_http(demo, page, sid)
    assert len(mine) == len(seed) + 5
    assert page.console.errors == []


def test_burst_over_the_catchup_limit_is_read_over_http(demo, page):
    """80 candles at once, 50 pushed (§3.4): the page fills the gap over HTTP, in order."""
    sid = "local:spot:GAP/USDT:1m"
    seed, _ = open_wave(demo, page, sid, 100)
    burst = [next_candle(seed[-1])]
    for _ in range(79):
        burst.append(next_candle(burst[-1]))
    demo.ingest(sid, burst)
    wait_for_candle(page, burst[-1]["candle_time"])
    assert page.evaluate("window.__canvas.state().gapsFilled") >= 1
    mine = assert_same_as_http(demo, page, sid)
    assert len(mine) == 180
    assert page.console.errors == []


def test_late_data_and_rebuild_redraw_from_the_server(demo, page):
    """factor.rewind re-reads the changed candles and drawings; factor.rebuild the drawings."""
    sid = "local:spot:LATE/USDT:1m"
    seed, state = open_wave(demo, page, sid, 300)
    resets = page.evaluate("window.__canvas.state().drawResets")
    # A corrected old candle far above the rest: a new pivot, so pens and pivots change.
    late = dict(seed[200])
    late.update(high=500.0, close=400.0)
    demo.ingest(sid, [late])
    page.wait_for_function(
        "([t, c]) => window.__canvas.candles().some((k) => k.candle_time === t && k.close === c)",
        arg=[late["candle_time"], late["close"]],
    )
    page.wait_for_function("(n) => window.__canvas.state().drawResets > n", arg=resets)
    assert_same_as_http(demo, page, sid)
    mine = held(page)
    want, _ = expected_drawings(
        demo, sid, state["windowCandles"], mine[0]["candle_time"], mine[-1]["candle_time"]
    )
    got = page.evaluate("window.__canvas.counts()")
    assert {k: got[k] for k in want} == want

    resets = page.evaluate("window.__canvas.state().drawResets")
    r = demo.http.post("/api/factor/rebuild", json={"series_id": sid})
    assert r.status_code == 200, r.text
    page.wait_for_function("(n) => window.__canvas.state().drawResets > n", arg=resets)
    got = page.evaluate("window.__canvas.counts()")
    assert {k: got[k] for k in want} == want
    assert page.console.errors == []


def expected_drawings(demo, sid: str, window: int, first: int, last: int) -> tuple[dict, int]:
    """Counts of what the page should draw, from /api/draw/delta at cursor 0."""
    r = demo.http.get(
        "/api/draw/delta",
        params={"series_id": sid, "cursor_version_id": 0, "window_candles": window},
    )
    assert r.status_code == 200, r.text
    body = r.json()
    latest = {}
    for item in body["instruction_catalog_patch"]:
        latest[item["instruction_id"]] = item["definition"]
    defs = [latest[i] for i in body["active_ids"] if i in latest]
    markers = [d for d in defs if d["type"] == "marker" and first <= d["time"] <= last]
    lines = [d for d in defs if d["type"] == "polyline" and len(d["points"]) >= 2]

    def lines_of(prefix: str) -> int:
        return sum(1 for d in lines if d["feature"].startswith(prefix))

    counts = {
        "markers": len(markers),
        "pivots": sum(1 for d in markers if d["feature"].startswith("pivot.")),
        "pens": lines_of("pen."),
        "zhongshu": lines_of("zhongshu."),
        "anchor": lines_of("anchor."),
        "anchorSwitch": sum(1 for d in markers if d["feature"] == "anchor.switch"),
    }
    return counts, body["to_candle_time"]


def test_drawings_match_draw_delta(demo, page):
    sid = "local:spot:DRAW/USDT:1m"
    seed, state = open_wave(demo, page, sid, 400)
    mine = held(page)
    want, head = expected_drawings(
        demo, sid, state["windowCandles"], mine[0]["candle_time"], mine[-1]["candle_time"]
    )
    page.wait_for_function("(t) => window.__canvas.state().drawToTime === t", arg=head)
    got = page.evaluate("window.__canvas.counts()")
    assert {k: got[k] for k in want} == want
    assert want["pivots"] > 0 and want["pens"] > 0
    assert len(page.evaluate("window.__canvas.markers()")) == want["markers"]

    # A closed candle moves the drawings on through /api/draw/delta from the page's cursor.
    cursor = page.evaluate("window.__canvas.state().cursor")
    candle = next_candle(seed[-1], price=140.0)
    demo.ingest(sid, [candle])
    want, head = expected_drawings(
        demo, sid, state["windowCandles"], mine[0]["candle_time"], candle["candle_time"]
    )
    page.wait_for_function("(t) => window.__canvas.state().drawToTime === t", arg=head)
    assert page.evaluate("window.__canvas.state().cursor") >= cursor
    got = page.evaluate("window.__canvas.counts()")
    assert {k: got[k] for k in want} == want

    # Switching a feature off in the legend hides it, and the choice survives a reload.
    page.click("[data-feature='pen.confirmed']")
    page.wait_for_function(
        "() => !window.__canvas.lines().some((l) => l.feature === 'pen.confirmed')"
    )
    page.reload()
    wait_live(page)
    assert not any(
        line["feature"] == "pen.confirmed" for line in page.evaluate("window.__canvas.lines()")
    )
    assert page.evaluate("window.__canvas.features().flags['pen.confirmed']") is False
    assert page.console.errors == []


def test_scrolling_back_pages_in_older_candles(demo, page):
    page.goto(f"{demo.base_url}/?series_id={DEMO_SERIES}&bars=100")
    wait_live(page)
    # 100 bars do not fill the view, so its left edge asks for older candles with `before`.
    page.wait_for_function("() => window.__canvas.candles().length > 100", timeout=10000)
    page.wait_for_function("() => window.__canvas.state().historyExhausted", timeout=10000)
    mine = assert_same_as_http(demo, page, DEMO_SERIES)
    assert mine[0] == demo.candles(DEMO_SERIES, before=mine[1]["candle_time"], limit=5000)[0]
    assert page.console.errors == []


def test_token_is_asked_once_and_sent(demo, page):
    """With API_TOKEN_SCOPE=all every route answers 401 until the page sends the token."""
    token = "s3cret-token"
    seen = {"authorized": 0, "refused": 0}

    def guard(route):
        if route.request.headers.get("authorization") == f"Bearer {token}":
            seen["authorized"] += 1
            route.continue_()
        else:
            seen["refused"] += 1
            route.fulfill(
                status=401,
                headers={"WWW-Authenticate": "Bearer", "Content-Type": "application/json"},
                body='{"detail":"unauthorized"}',
            )

    sockets = []
    page.on("websocket", lambda ws: sockets.append(ws.url))
    page.route("**/api/**", guard)
    page.goto(f"{demo.base_url}/?series_id={DEMO_SERIES}")
    page.wait_for_selector("#token-dialog[open]")
    page.fill("#token-input", token)
    page.click("#token-form button[type=submit]")
    wait_live(page)
    assert page.evaluate("localStorage.getItem('canvas.apiToken')") == token
    assert seen["authorized"] > 0
    assert any(f"access_token={token}" in url for url in sockets)
    # A reload uses the kept token: no second prompt.
    refused = seen["refused"]
    page.reload()
    wait_live(page)
    assert seen["refused"] == refused
    assert not page.is_visible("#token-dialog")
