"""Market HTTP benchmark: single and batch ingest, candle reads, server memory.

Run: .venv/bin/python tests/bench/bench_market.py [--candles 1000000] [--single 6000]
"""

from __future__ import annotations

import argparse
import json
import time

import httpx
import trio
from benchlib import canvas_process, percentile, random_walk, rss_mb

BATCH_SID = "binance:futures:BTC/USDT:1m"


async def single_ingest(url: str, total: int, clients: int) -> None:
    """Each client feeds its own series in time order, as live feeds do."""
    per_client = total // clients
    candles = random_walk(per_client, seed=1)
    latencies: list[float] = []

    async def client_loop(client: httpx.AsyncClient, k: int) -> None:
        sid = f"binance:futures:S{k:02d}/USDT:1m"
        for c in candles:
            t0 = time.perf_counter()
            r = await client.post(
                "/api/market/ingest/candle_closed", json={"series_id": sid, "candle": c}
            )
            latencies.append((time.perf_counter() - t0) * 1000)
            assert r.status_code == 200, r.text

    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=60) as client:
        t0 = time.perf_counter()
        async with trio.open_nursery() as nursery:
            for k in range(clients):
                nursery.start_soon(client_loop, client, k)
        elapsed = time.perf_counter() - t0
    total = per_client * clients
    print(
        f"single ingest: {total} candles, {clients} clients (a series each): "
        f"{total / elapsed:,.0f} req/s, "
        f"p50 {percentile(latencies, 50):.2f} ms, p99 {percentile(latencies, 99):.2f} ms"
    )


async def batch_ingest(url: str, total: int, batch: int) -> None:
    candles = random_walk(total, seed=2)
    bodies = [
        json.dumps({"series_id": BATCH_SID, "candles": candles[i : i + batch]}).encode()
        for i in range(0, total, batch)
    ]
    async with httpx.AsyncClient(base_url=url, timeout=120) as client:
        t0 = time.perf_counter()
        for body in bodies:
            r = await client.post(
                "/api/market/ingest/candles_closed_batch",
                content=body,
                headers={"content-type": "application/json"},
            )
            assert r.status_code == 200, r.text
        elapsed = time.perf_counter() - t0
    print(
        f"batch ingest: {total:,} candles in batches of {batch}: {total / elapsed:,.0f} candles/s "
        f"({elapsed:.1f} s)"
    )


async def reads(url: str, limit: int, count: int) -> None:
    latencies = []
    async with httpx.AsyncClient(base_url=url, timeout=60) as client:
        for _ in range(count):
            t0 = time.perf_counter()
            r = await client.get(
                "/api/market/candles", params={"series_id": BATCH_SID, "limit": limit}
            )
            latencies.append((time.perf_counter() - t0) * 1000)
            assert len(r.json()["candles"]) == limit
    print(
        f"GET candles limit={limit}: p50 {percentile(latencies, 50):.2f} ms, "
        f"p99 {percentile(latencies, 99):.2f} ms ({count} requests)"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--candles", type=int, default=1_000_000)
    parser.add_argument("--single", type=int, default=6000)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument(
        "--metrics",
        action="store_true",
        help="run with the debug API and runtime metrics on (to measure their cost)",
    )
    args = parser.parse_args()
    flags = {"enable_debug_api": "1", "enable_runtime_metrics": "1"} if args.metrics else {}
    print(f"runtime metrics {'on' if args.metrics else 'off'}")
    with canvas_process(**flags) as (url, pid):
        rss0 = rss_mb(pid)
        trio.run(single_ingest, url, args.single, args.clients)
        trio.run(batch_ingest, url, args.candles, 2000)
        trio.run(reads, url, 500, 300)
        trio.run(reads, url, 5000, 100)
        print(
            f"server RSS: start {rss0:.0f} MB, now {rss_mb(pid):.0f} MB, "
            f"peak {rss_mb(pid, 'VmHWM'):.0f} MB"
        )


if __name__ == "__main__":
    main()
