"""End-to-end factor benchmark: batch ingest with factors and overlay on, then slice,
draw-delta and frame read latency and reply sizes (the in-process engine figures are in
bench_factors_inprocess.py). With --compare N a second, N-candle series lives in the same
server and every read alternates between the two, so both see the same load; it prints how
much each read costs on the long series relative to the short one.

Run: .venv/bin/python tests/bench/bench_factors.py [--candles 1000000] [--compare 10000]
"""

from __future__ import annotations

import argparse
import json
import time

import httpx
from benchlib import canvas_process, percentile, random_walk, rss_mb

SID = "binance:futures:BTC/USDT:1m"
SMALL_SID = "binance:futures:ETH/USDT:1m"


def ingest(client: httpx.Client, sid: str, n: int, batch: int) -> int:
    """Store an n-candle random walk with factors and overlay; answers its head time."""
    candles = random_walk(n, seed=3)
    t0 = time.perf_counter()
    for i in range(0, n, batch):
        body = json.dumps({"series_id": sid, "candles": candles[i : i + batch]}).encode()
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
    return candles[-1]["candle_time"]


def reads_for(client: httpx.Client, sid: str, head: int) -> list[tuple[str, str, dict]]:
    # A polling client's cursor 50 candles behind the head: a cursor-0 read there is a
    # snapshot (§5 rev 4) and its next_cursor is where increments go on from.
    back = client.get("/api/draw/delta", params={"series_id": sid, "at_time": head - 3000})
    cursor = back.json()["next_cursor"]["version_id"]
    return [
        ("factor/slices", "/api/factor/slices", {"series_id": sid, "at_time": head}),
        (
            "draw/delta (live cursor)",
            "/api/draw/delta",
            {"series_id": sid, "cursor_version_id": cursor},
        ),
        ("draw/delta (cursor 0)", "/api/draw/delta", {"series_id": sid}),
        ("frame/live", "/api/frame/live", {"series_id": sid}),
        ("frame/at_time", "/api/frame/at_time", {"series_id": sid, "at_time": head}),
    ]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--candles", type=int, default=1_000_000)
    parser.add_argument("--compare", type=int, help="also a series this long, read alternately")
    parser.add_argument("--batch", type=int, default=5000)
    parser.add_argument("--reads", type=int, default=200)
    args = parser.parse_args()
    sizes = {SID: args.candles, **({SMALL_SID: args.compare} if args.compare else {})}
    with canvas_process() as (url, pid), httpx.Client(base_url=url, timeout=300) as client:
        heads = {sid: ingest(client, sid, n, args.batch) for sid, n in sizes.items()}
        plans = {sid: reads_for(client, sid, heads[sid]) for sid in sizes}
        results: dict[str, dict[str, tuple[float, float, float]]] = {sid: {} for sid in sizes}
        for k in range(len(plans[SID])):
            lat: dict[str, list[float]] = {sid: [] for sid in sizes}
            size = dict.fromkeys(sizes, 0)
            for i in range(args.reads):
                for sid in sizes:
                    name, path, params = plans[sid][k]
                    p = dict(params)
                    if "at_time" in p:
                        p["at_time"] = heads[sid] - 60 * (i % 500)
                    t = time.perf_counter()
                    r = client.get(path, params=p)
                    lat[sid].append((time.perf_counter() - t) * 1000)
                    assert r.status_code == 200, r.text
                    size[sid] = max(size[sid], len(r.content))
            for sid, n in sizes.items():
                got = (percentile(lat[sid], 50), percentile(lat[sid], 99), size[sid] / 1024)
                results[sid][name] = got
                print(
                    f"[{n:,}] {name} window_candles=2000: p50 {got[0]:.2f} ms, "
                    f"p99 {got[1]:.2f} ms, reply up to {got[2]:,.1f} KB"
                )
        print(f"server RSS now {rss_mb(pid):.0f} MB, peak {rss_mb(pid, 'VmHWM'):.0f} MB")
    if args.compare:
        for name, (p50, p99, kb) in results[SID].items():
            s50, s99, skb = results[SMALL_SID][name]
            print(
                f"{name}: {args.candles:,} vs {args.compare:,} candles: p50 x{p50 / s50:.2f}, "
                f"p99 x{p99 / s99:.2f}, reply {kb:,.1f} KB vs {skb:,.1f} KB"
            )


if __name__ == "__main__":
    main()
