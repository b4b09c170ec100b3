"""In-process factor + overlay throughput (pure engine, then through SQLite) and read latency.

Run: python tests/bench/bench_factors_inprocess.py [--candles N] [--batch N] [--reads N]
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from pathlib import Path

from canvas.factors.base import AnalyticsParams
from canvas.factors.engine import FactorEngine
from canvas.factors.pipeline import SeriesAnalytics
from canvas.overlay import store as overlay_store
from canvas.overlay.deriver import OverlayDeriver
from canvas.storage import candle_ledger
from canvas.storage.db import open_db

TF = 60
SID = "binance:futures:BTC/USDT:1m"
START = 1_600_000_020 // TF * TF


def random_walk(n: int, seed: int = 7) -> list[tuple[int, float, float, float, float, float]]:
    rnd = random.Random(seed)
    price, out = 30_000.0, []
    for k in range(n):
        o = price
        price = max(1.0, price * (1.0 + rnd.gauss(0.0, 0.001)))
        c = round(price, 1)
        o = round(o, 1)
        h = round(max(o, c) * (1.0 + abs(rnd.gauss(0.0, 0.0004))), 1)
        lo = round(min(o, c) * (1.0 - abs(rnd.gauss(0.0, 0.0004))), 1)
        out.append((START + k * TF, o, h, lo, c, round(rnd.uniform(1, 50), 3)))
    return out


def bench_pure(bars, params: AnalyticsParams) -> None:
    engine = FactorEngine.create(params, TF)
    t0 = time.perf_counter()
    engine.run(bars)
    dt = time.perf_counter() - t0
    names = ", ".join(f.NAME for f in engine.factors)
    print(f"pure engine ({names}): {len(bars) / dt:,.0f} candles/s")
    engine = FactorEngine.create(params, TF)
    deriver = OverlayDeriver(TF, params.overlay_window_candles)
    n_events = n_versions = 0
    t0 = time.perf_counter()
    for b in bars:
        evs, heads = engine.step(b)
        pen_head = None
        for name, head in heads:
            if name == "pen":
                pen_head = head
        versions, _ = deriver.step(b, evs, pen_head)
        n_events += len(evs)
        n_versions += len(versions)
    dt = time.perf_counter() - t0
    print(
        f"pure engine+overlay: {len(bars):,} candles in {dt:.2f} s ="
        f" {len(bars) / dt:,.0f} candles/s ({n_events:,} events, {n_versions:,} overlay versions)"
    )


def bench_store(bars, params: AnalyticsParams, batch: int, path: Path) -> SeriesAnalytics:
    conn = open_db(path)
    sa = SeriesAnalytics(conn, SID, TF, params)
    store_s = pipe_s = 0.0
    for i in range(0, len(bars), batch):
        chunk = bars[i : i + batch]
        t0 = time.perf_counter()
        with conn:
            candle_ledger.upsert(conn, chunk)
        t1 = time.perf_counter()
        sa.after_store(chunk[0][0])
        t2 = time.perf_counter()
        store_s += t1 - t0
        pipe_s += t2 - t1
    n = len(bars)
    print(
        f"sqlite pipeline (batches of {batch:,}): factor+overlay {n / pipe_s:,.0f} candles/s"
        f" ({pipe_s:.2f} s); candle upserts {store_s:.2f} s;"
        f" db {path.stat().st_size / 1e6:,.0f} MB"
    )
    return sa


def bench_single(sa: SeriesAnalytics, bars, count: int) -> None:
    """Per-candle after_store latency for `count` candles appended one at a time."""
    conn = sa.conn
    lat = []
    for b in bars[:count]:
        with conn:
            candle_ledger.upsert(conn, [b])
        t0 = time.perf_counter()
        sa.after_store(b[0])
        lat.append((time.perf_counter() - t0) * 1000)
    lat.sort()
    print(
        f"single-candle after_store: p50 {statistics.median(lat):.2f} ms,"
        f" p99 {lat[int(len(lat) * 0.99) - 1]:.2f} ms over {len(lat)}"
    )


def bench_late(sa: SeriesAnalytics, back: int) -> None:
    """One corrected candle `back` candles behind the head (late data, §4.6)."""
    conn = sa.conn
    head = candle_ledger.head_time(conn)
    row = candle_ledger.range_rows(conn, head - back * TF, head - back * TF)[0]
    fixed = (row[0], row[1], row[2] * 1.01, row[3], row[4], row[5])
    with conn:
        candle_ledger.upsert(conn, [fixed])
    t0 = time.perf_counter()
    rewind = sa.after_store(fixed[0])
    dt = time.perf_counter() - t0
    print(f"late correction {back:,} candles back: {dt * 1000:,.1f} ms (rewind from {rewind})")


def _p50(fn, args_list) -> tuple[float, float]:
    lat = []
    for args in args_list:
        t0 = time.perf_counter()
        fn(*args)
        lat.append((time.perf_counter() - t0) * 1000)
    lat.sort()
    return statistics.median(lat), lat[-1]


def bench_reads(sa: SeriesAnalytics, head: int, first: int, reads: int, wc: int) -> None:
    rnd = random.Random(3)
    times = [rnd.randrange(first, head + 1) for _ in range(reads)]
    p50, worst = _p50(sa.slices, [(t, wc) for t in times])
    print(f"slices(window {wc}):               p50 {p50:.2f} ms, max {worst:.2f} ms")
    # A live client polls with the cursor it was given a moment ago.
    cursors = [(overlay_store.max_version_at(sa.conn, t - 5 * TF) or 0, wc, t) for t in times]
    p50, worst = _p50(sa.draw_delta, cursors)
    print(f"draw_delta(live cursor, {wc}):    p50 {p50:.2f} ms, max {worst:.2f} ms")
    few = times[: max(1, reads // 20)]
    p50, worst = _p50(sa.draw_delta, [(0, wc, t) for t in few])
    print(f"draw_delta(cursor 0, whole catalog): p50 {p50:.0f} ms, max {worst:.0f} ms")
    p50, worst = _p50(sa.frame, [(t, wc) for t in few])
    print(f"frame (cursor 0 by contract):      p50 {p50:.0f} ms, max {worst:.0f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--candles", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=20_000)
    parser.add_argument("--reads", type=int, default=200)
    parser.add_argument("--window-candles", type=int, default=2000)
    args = parser.parse_args()
    params = AnalyticsParams(pivot_window_major=50, pivot_window_minor=5)
    bars = random_walk(args.candles + 500)
    body, tail = bars[: args.candles], bars[args.candles :]
    bench_pure(body, params)
    with tempfile.TemporaryDirectory() as tmp:
        sa = bench_store(body, params, args.batch, Path(tmp) / "bench.sqlite")
        bench_single(sa, tail, len(tail))
        assert sa.factor_head_time == sa.overlay_head_time == tail[-1][0]
        for back in (10, 1_000, len(bars) // 2):
            bench_late(sa, back)
        if args.reads:
            bench_reads(sa, tail[-1][0], body[0][0], args.reads, args.window_candles)
        sa.conn.close()


if __name__ == "__main__":
    main()
