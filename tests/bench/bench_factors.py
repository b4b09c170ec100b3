"""End-to-end factor benchmark: batch ingest with factors and overlay on, then slice and
draw-delta read latency (the in-process engine figures are in bench_factors_inprocess.py).

Run: .venv/bin/python tests/bench/bench_factors.py [--candles 1000000]
"""

from __future__ import annotations

import argparse
import json
import time

import httpx
from benchlib import canvas_process, percentile, random_walk, rss_mb

SID = "binance:futures:BTC/USDT:1m"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--candles", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=5000)
    parser.add_argument("--reads", type=int, default=200)
    args = parser.parse_args()
    candles = random_walk(args.candles, seed=3)
    bodies = [
        json.dumps({"series_id": SID, "candles": candles[i : i + args.batch]}).encode()
        for i in range(0, len(candles), args.batch)
    ]
    with canvas_process() as (url, pid), httpx.Client(base_url=url, timeout=300) as client:
        t0 = time.perf_counter()
        for body in bodies:
            r = client.post(
                "/api/market/ingest/candles_closed_batch",
                content=body,
                headers={"content-type": "application/json"},
            )
            assert r.status_code == 200, r.text
        elapsed = time.perf_counter() - t0
        print(
            f"batch ingest with factors+overlay: {args.candles:,} candles in batches of "
            f"{args.batch}: {args.candles / elapsed:,.0f} candles/s ({elapsed:.1f} s)"
        )
        head = candles[-1]["candle_time"]
        for name, path, params in (
            ("factor/slices", "/api/factor/slices", {"series_id": SID, "at_time": head}),
            ("draw/delta (live cursor)", "/api/draw/delta", {"series_id": SID}),
        ):
            if name.startswith("draw"):
                # Walk the cursor forward in steps, as a polling client would, so no single
                # read carries the whole catalog (a cursor-0 read at the head is ~all versions).
                cursor, first = 0, candles[0]["candle_time"]
                for t in range(first + 60 * 50_000, head - 60 * 50, 60 * 50_000):
                    cursor = client.get(
                        path, params={**params, "at_time": t, "cursor_version_id": cursor}
                    ).json()["next_cursor"]["version_id"]
                cursor = client.get(
                    path, params={**params, "at_time": head - 60 * 50, "cursor_version_id": cursor}
                ).json()["next_cursor"]["version_id"]
                params = {**params, "cursor_version_id": cursor}
            lat = []
            for i in range(args.reads):
                p = dict(params)
                if "at_time" in p:
                    p["at_time"] = head - 60 * (i % 500)
                t = time.perf_counter()
                r = client.get(path, params=p)
                lat.append((time.perf_counter() - t) * 1000)
                assert r.status_code == 200, r.text
            print(
                f"{name} window_candles=2000: p50 {percentile(lat, 50):.2f} ms, "
                f"p99 {percentile(lat, 99):.2f} ms"
            )
        print(f"server RSS now {rss_mb(pid):.0f} MB, peak {rss_mb(pid, 'VmHWM'):.0f} MB")


if __name__ == "__main__":
    main()
