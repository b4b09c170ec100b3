"""Replay benchmark: package build time and peak RSS, then window read latency, on a server."""

from __future__ import annotations

import argparse
import random
import time

import httpx
from benchlib import canvas_process, percentile, random_walk, rss_mb

SID = "binance:futures:BTC/USDT:1m"
GOAL_BUILD_S = 2.0
GOAL_WINDOW_P50_MS = 20.0


def ingest(client: httpx.Client, candles: list[dict]) -> None:
    for k in range(0, len(candles), 5000):
        r = client.post(
            "/api/market/ingest/candles_closed_batch",
            json={"series_id": SID, "candles": candles[k : k + 5000], "publish_ws": False},
        )
        r.raise_for_status()


def build(client: httpx.Client, body: dict) -> tuple[str, float]:
    """Ask for a build and wait until it is done; answers (job_id, seconds)."""
    began = time.perf_counter()
    r = client.post("/api/replay/build", json=body)
    if r.status_code != 200:
        raise SystemExit(f"build refused: {r.status_code} {r.text}")
    job = r.json()["job_id"]
    while True:
        status = client.get("/api/replay/status", params={"job_id": job}).json()
        if status["status"] == "done":
            return job, time.perf_counter() - began
        if status["status"] == "error":
            raise SystemExit(f"build failed: {status}")
        time.sleep(0.005)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--candles", type=int, default=5000)
    ap.add_argument("--window-candles", type=int, default=5000)
    ap.add_argument("--window-size", type=int, default=500)
    ap.add_argument("--snapshot-interval", type=int, default=25)
    ap.add_argument("--reads", type=int, default=300)
    args = ap.parse_args()
    candles = random_walk(args.candles)
    with canvas_process() as (url, pid), httpx.Client(base_url=url, timeout=120) as client:
        ingest(client, candles)
        r = client.post("/api/replay/prepare", json={"series_id": SID})
        r.raise_for_status()
        rss_before = rss_mb(pid)
        body = {
            "series_id": SID,
            "window_candles": args.window_candles,
            "window_size": args.window_size,
            "snapshot_interval": args.snapshot_interval,
        }
        job, seconds = build(client, body)
        peak = rss_mb(pid, "VmHWM")
        meta = client.get("/api/replay/status", params={"job_id": job}).json()["metadata"]
        total = meta["total_candles"]
        rng = random.Random(1)
        latencies, sizes = [], []
        for _ in range(args.reads):
            target = rng.randrange(total)
            began = time.perf_counter()
            r = client.get("/api/replay/window", params={"job_id": job, "target_idx": target})
            body_bytes = r.content
            latencies.append((time.perf_counter() - began) * 1000)
            r.raise_for_status()
            sizes.append(len(body_bytes))
        began = time.perf_counter()
        client.get("/api/replay/status", params={"job_id": job, "include_preload": 1})
        preload_ms = (time.perf_counter() - began) * 1000
    p50, p99 = percentile(latencies, 50), percentile(latencies, 99)
    print(
        f"series: {args.candles} candles, package {total} bars, window_size "
        f"{args.window_size}, snapshot_interval {args.snapshot_interval}, pivots 50/5"
    )
    print(f"build: {seconds:.3f} s (goal <= {GOAL_BUILD_S} s)")
    print(f"server RSS: {rss_before:.1f} MB before build, peak {peak:.1f} MB")
    print(
        f"window read: p50 {p50:.1f} ms (goal <= {GOAL_WINDOW_P50_MS} ms), p99 {p99:.1f} ms,"
        f" {args.reads} reads, body {min(sizes) / 1e6:.2f}-{max(sizes) / 1e6:.2f} MB"
    )
    print(f"status with preload: {preload_ms:.1f} ms")


if __name__ == "__main__":
    main()
