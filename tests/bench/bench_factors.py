"""End-to-end factor benchmark: batch ingest with factors and overlay on, then slice,
draw-delta and frame read latency and reply sizes (the in-process engine figures are in
bench_factors_inprocess.py). With --compare N it runs a second, N-candle series first and
prints how much a frame and a cursor-0 draw/delta cost on the big series relative to it.

Run: .venv/bin/python tests/bench/bench_factors.py [--candles 1000000] [--compare 10000]
"""

from __future__ import annotations

import argparse
import json
import time

import httpx
from benchlib import canvas_process, percentile, random_walk, rss_mb

SID = "binance:futures:BTC/USDT:1m"


def measure(n: int, batch: int, reads: int) -> dict[str, tuple[float, float, float]]:
    """Ingest an n-candle series, then time each read; name → (p50 ms, p99 ms, reply KB)."""
    candles = random_walk(n, seed=3)
    bodies = [
        json.dumps({"series_id": SID, "candles": candles[i : i + batch]}).encode()
        for i in range(0, len(candles), batch)
    ]
    out = {}
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
            f"[{n:,}] batch ingest with factors+overlay in batches of {batch}: "
            f"{n / elapsed:,.0f} candles/s ({elapsed:.1f} s)"
        )
        head = candles[-1]["candle_time"]
        live_cursor = _walk_cursor(client, candles)
        for name, path, params in (
            ("factor/slices", "/api/factor/slices", {"series_id": SID, "at_time": head}),
            ("draw/delta (live cursor)", "/api/draw/delta", {"series_id": SID, **live_cursor}),
            ("draw/delta (cursor 0)", "/api/draw/delta", {"series_id": SID}),
            ("frame/live", "/api/frame/live", {"series_id": SID}),
            ("frame/at_time", "/api/frame/at_time", {"series_id": SID, "at_time": head}),
        ):
            lat, size = [], 0
            for i in range(reads):
                p = dict(params)
                if "at_time" in p:
                    p["at_time"] = head - 60 * (i % 500)
                t = time.perf_counter()
                r = client.get(path, params=p)
                lat.append((time.perf_counter() - t) * 1000)
                assert r.status_code == 200, r.text
                size = max(size, len(r.content))
            out[name] = (percentile(lat, 50), percentile(lat, 99), size / 1024)
            print(
                f"[{n:,}] {name} window_candles=2000: p50 {out[name][0]:.2f} ms, "
                f"p99 {out[name][1]:.2f} ms, reply up to {out[name][2]:,.1f} KB"
            )
        print(f"[{n:,}] server RSS now {rss_mb(pid):.0f} MB, peak {rss_mb(pid, 'VmHWM'):.0f} MB")
    return out


def _walk_cursor(client: httpx.Client, candles: list[dict]) -> dict[str, int]:
    """A polling client's cursor 50 candles behind the head (a cursor-0 read there is a
    snapshot, §5 rev 4, and its next_cursor is where increments go on from)."""
    at = candles[-1]["candle_time"] - 60 * 50
    reply = client.get("/api/draw/delta", params={"series_id": SID, "at_time": at}).json()
    return {"cursor_version_id": reply["next_cursor"]["version_id"]}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--candles", type=int, default=1_000_000)
    parser.add_argument("--compare", type=int, help="also measure a series this long, first")
    parser.add_argument("--batch", type=int, default=5000)
    parser.add_argument("--reads", type=int, default=200)
    args = parser.parse_args()
    small = measure(args.compare, args.batch, args.reads) if args.compare else None
    big = measure(args.candles, args.batch, args.reads)
    if small:
        for name, (p50, p99, kb) in big.items():
            s50, s99, skb = small[name]
            print(
                f"{name}: {args.candles:,} vs {args.compare:,} candles: p50 x{p50 / s50:.2f}, "
                f"p99 x{p99 / s99:.2f}, reply {kb:,.1f} KB vs {skb:,.1f} KB"
            )


if __name__ == "__main__":
    main()
