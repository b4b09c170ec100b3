"""Chart page benchmark in headless system Chromium (CONTRACT §10, issue 16 goals).

1. First paint: navigate to `/?series_id=...&bars=5000` on a series of 5,000 stored candles
   with their drawings (pivots, pens) and read the page's own mark — performance.now() at the
   first animation frame after the candles and drawings were handed to the chart, i.e. ms since
   navigation start. Cold = a fresh browser context (empty cache), warm = a reload.
2. Live latency: with the page subscribed, post closed candles over HTTP one at a time and read
   how long each took from its WebSocket frame arriving to the animation frame after it was
   drawn (the page records this for every closed candle).

Run: .venv/bin/python tests/bench/bench_page.py [--candles 5000] [--runs 5] [--live 200]
Needs /usr/bin/chromium (Debian's `chromium`) and the `playwright` package (test extras).
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics

import httpx
from benchlib import canvas_process, percentile, random_walk
from playwright.sync_api import sync_playwright

SID = "binance:futures:BTC/USDT:1m"
READY = (
    "() => { const s = window.__canvas && window.__canvas.state();"
    " return s && s.firstPaintMs !== null && s.wsOpens >= 1; }"
)


def seed(url: str, n: int) -> list[dict]:
    candles = random_walk(n)
    with httpx.Client(base_url=url, timeout=120) as client:
        for i in range(0, n, 5000):
            r = client.post(
                "/api/market/ingest/candles_closed_batch",
                json={"series_id": SID, "candles": candles[i : i + 5000], "publish_ws": False},
            )
            r.raise_for_status()
    return candles


def first_paint(browser, url: str, n: int, runs: int) -> dict:
    cold, warm = [], []
    drawn = None
    for _ in range(runs):
        context = browser.new_context(viewport={"width": 1600, "height": 900})
        page = context.new_page()
        page.goto(f"{url}/?series_id={SID}&bars={n}")
        page.wait_for_function(READY, timeout=60000)
        cold.append(page.evaluate("window.__canvas.state().firstPaintMs"))
        page.reload()
        page.wait_for_function(READY, timeout=60000)
        warm.append(page.evaluate("window.__canvas.state().firstPaintMs"))
        drawn = {
            "candles": len(page.evaluate("window.__canvas.bars()")),
            **{
                k: v
                for k, v in page.evaluate("window.__canvas.counts()").items()
                if k != "byFeature"
            },
        }
        context.close()
    return {
        "first_paint_cold_ms": {
            "median": round(statistics.median(cold), 1),
            "max": round(max(cold), 1),
        },
        "first_paint_warm_ms": {
            "median": round(statistics.median(warm), 1),
            "max": round(max(warm), 1),
        },
        "drawn": drawn,
    }


def live_latency(browser, url: str, candles: list[dict], count: int) -> dict:
    context = browser.new_context(viewport={"width": 1600, "height": 900})
    page = context.new_page()
    page.goto(f"{url}/?series_id={SID}&bars=5000")
    page.wait_for_function(READY, timeout=60000)
    extra = random_walk(len(candles) + count, start_time=candles[0]["candle_time"])[len(candles) :]
    with httpx.Client(base_url=url, timeout=30) as client:
        for c in extra:
            r = client.post(
                "/api/market/ingest/candle_closed", json={"series_id": SID, "candle": c}
            )
            r.raise_for_status()
            page.wait_for_function(
                "(t) => window.__canvas.candles().at(-1).candle_time === t",
                arg=c["candle_time"],
            )
    page.wait_for_function(f"() => window.__canvas.latencies().length >= {count}")
    lat = page.evaluate("window.__canvas.latencies()")[-count:]
    context.close()
    return {
        "closed_candle_drawn_ms": {
            "n": len(lat),
            "p50": round(percentile(lat, 50), 1),
            "p99": round(percentile(lat, 99), 1),
            "max": round(max(lat), 1),
        }
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--candles", type=int, default=5000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--live", type=int, default=200)
    args = parser.parse_args()
    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    with canvas_process() as (url, _pid), sync_playwright() as pw:
        candles = seed(url, args.candles)
        browser = pw.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        try:
            result = first_paint(browser, url, args.candles, args.runs)
            result.update(live_latency(browser, url, candles, args.live))
        finally:
            browser.close()
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
