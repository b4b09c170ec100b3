"""Soak benchmark: weeks of simulated operation against one real server process.

50 live 1m series from the simulated exchange (pinned jobs, one WebSocket subscriber each,
plus one on a derived 5m series), frame/live, draw/delta and candle reads while the clock
runs, replay builds every cycle, and an exchange-wide outage before each live stretch (every
job reconnects and backfills the hole over REST). At each simulated day it prints server RSS,
open descriptors, bytes on disk per stored candle, WAL sizes, the deepest mailbox seen and the
p50/p99 of every read and of exchange close → subscriber delivery; at the end the
first-vs-last ratios (latencies pooled over the first and the last three days), the goals,
and whether the ledgers equal the exchange.

Run: make soak   (or .venv/bin/python tests/bench/bench_soak.py --days 2 --series 5)
"""

from __future__ import annotations

import argparse
import sys

import trio
from benchlib import percentile
from soaklib import Sample, SoakConfig, SoakResult, soak

POOL_DAYS = 3
KINDS = (
    "baseline",
    "candles",
    "frame_live",
    "draw_delta_0",
    "draw_delta_next",
    "replay_build",
    "delivery",
)
SHORT = {
    "baseline": "base",
    "candles": "cndl",
    "frame_live": "frame",
    "draw_delta_0": "dd0",
    "draw_delta_next": "ddN",
    "replay_build": "replay",
    "delivery": "deliv",
}


def header() -> str:
    cols = " ".join(f"{SHORT[k] + ' p50/p99':>15}" for k in KINDS)
    return (
        f"{'day':>5} {'candles':>9} {'RSS MB':>7} {'fds':>4} {'disk MB':>8} {'B/cndl':>7} "
        f"{'B/c led':>7} {'replay':>6} "
        f"{'WAL MB':>7} {'WALmax':>7} {'mbox':>5} {'patch':>9} {cols}"
    )


def row(s: Sample) -> str:
    cols = " ".join(
        f"{s.p50.get(k, float('nan')):>7.1f}/{s.p99.get(k, float('nan')):<7.1f}" for k in KINDS
    )
    return (
        f"{s.day:>5.1f} {s.candles:>9,} {s.rss_mb:>7.0f} {s.fds:>4} {s.disk_mb:>8.1f} "
        f"{s.bytes_per_candle:>7.0f} {s.ledger_bytes_per_candle:>7.0f} {s.replay_mb:>6.0f} "
        f"{s.wal_mb:>7.2f} "
        f"{s.wal_max_mb:>7.2f} {s.mailbox_max:>5} {s.patch_p50:>4.0f}/{s.patch_p99:<4.0f} {cols}"
    )


def summary(result: SoakResult) -> list[str]:
    """First-vs-last ratios and the goals (RSS against day 3, after warm-up)."""
    samples = result.samples
    if len(samples) < 2:
        return ["too few samples for ratios"]
    first, last = samples[0], samples[-1]
    warm = next((s for s in samples if s.day >= 3), first)
    lines = [f"first = day {first.day:.1f}, warm = day {warm.day:.1f}, last = day {last.day:.1f}"]
    rss = last.rss_mb / warm.rss_mb
    lines.append(f"RSS last/day-3 {rss:.2f} (goal <= 1.2) {'ok' if rss <= 1.2 else 'FAIL'}")
    fds_ok = "ok" if last.fds <= first.fds + 5 else "FAIL"
    lines.append(f"fds first {first.fds} last {last.fds} {fds_ok}")
    wal_peak = max(s.wal_max_mb for s in samples)
    lines.append(f"largest WAL over the run {wal_peak:.2f} MB; all WALs last {last.wal_mb:.1f} MB")
    lines.append(
        f"bytes/candle first {first.bytes_per_candle:.0f} last {last.bytes_per_candle:.0f}"
        f" (ledgers alone {first.ledger_bytes_per_candle:.0f} -> "
        f"{last.ledger_bytes_per_candle:.0f}); replay packages {last.replay_mb:.0f} MB"
    )
    # A day holds a few hundred reads of each kind, so its p99 is its two or three slowest, and
    # one busy minute on the machine moves it several-fold. The latencies are compared over
    # the first and the last POOL_DAYS days together (the per-day rows stay above).
    pool = POOL_DAYS if len(samples) >= 2 * POOL_DAYS else 1
    head, tail = samples[:pool], samples[-pool:]
    lines.append(
        f"latencies: days {head[0].day:g}-{head[-1].day:g} against days "
        f"{tail[0].day:g}-{tail[-1].day:g}, each pooled"
    )
    early = {k: pooled(head, k) for k in KINDS}
    late = {k: pooled(tail, k) for k in KINDS}
    base_a, base_b = percentile(early["baseline"], 99), percentile(late["baseline"], 99)
    for k in KINDS:
        if not early[k] or not late[k]:
            continue
        a, b = percentile(early[k], 99), percentile(late[k], 99)
        ratio = b / a
        verdict = "ok" if ratio <= 1.5 else "FAIL"
        # The machine's load moves every latency; the baseline read (no work) shows how
        # much, so the ratio of each read to it is what the read itself grew.
        relative = f", relative to the baseline {ratio / (base_b / base_a):.2f}"
        lines.append(
            f"{k}: p50 {percentile(early[k], 50):.1f} -> {percentile(late[k], 50):.1f} ms, "
            f"p99 {a:.1f} -> {b:.1f} ms, last/first p99 {ratio:.2f} (goal <= 1.5) "
            f"{verdict}{relative if k != 'baseline' else ''} (n={len(early[k])}/{len(late[k])})"
        )
    return lines


def pooled(samples: list[Sample], kind: str) -> list[float]:
    return [v for s in samples for v in s.raw.get(kind, ())]


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--series", type=int, default=50)
    p.add_argument("--days", type=float, default=30)
    p.add_argument("--speed", type=float, default=600)
    p.add_argument("--cycle-min", type=int, default=720)
    p.add_argument("--live-min", type=int, default=60)
    p.add_argument("--max-minutes", type=float, default=75, help="stop early past this wall time")
    a = p.parse_args()
    cfg = SoakConfig(
        series=a.series,
        days=a.days,
        speed=a.speed,
        cycle_min=a.cycle_min,
        live_min=a.live_min,
        max_wall_s=a.max_minutes * 60,
    )
    print(
        f"soak: {cfg.series} series, {cfg.days:g} days, cycles of {cfg.cycle_min} sim min "
        f"({cfg.live_min} live at x{cfg.speed:g}, the rest an outage backfilled over REST), "
        f"a replay package per {cfg.replay_every_min} sim min",
        flush=True,
    )
    print(
        "per simulated day: B/cndl = disk bytes per stored candle, B/c led = the series "
        "ledgers alone (with WAL), replay = MB of replay packages, mbox = deepest mailbox seen, "
        "patch = versions per incremental draw/delta reply (p50/p99), "
        "latencies in ms",
        flush=True,
    )
    print(header(), flush=True)
    result = trio.run(soak, cfg, lambda s: print(row(s), flush=True))
    early = " (STOPPED EARLY)" if result.stopped_early else ""
    print(f"wall time {result.wall_s / 60:.1f} min{early}")
    for line in summary(result):
        print(line)
    print(f"subscriber deliveries checked: {result.delivered:,}")
    for sid, what in {**result.lost, **result.delivery_problems}.items():
        print(f"LOST/DELIVERY {sid}: {what}")
    for what, n in result.errors.items():
        print(f"unexpected reply x{n}: {what}")
    ok = not (result.lost or result.delivery_problems or result.errors)
    print(
        "nothing lost: ledgers equal the exchange, every subscriber got every candle once"
        if ok
        else "PROBLEMS above"
    )
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
