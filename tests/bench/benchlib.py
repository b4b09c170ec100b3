"""Shared benchmark plumbing: a real server process, percentiles, RSS readings."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[k]


def rss_mb(pid: int, field: str = "VmRSS") -> float:
    """Current (VmRSS) or peak (VmHWM) resident memory of a process, in MB."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return float("nan")


@contextmanager
def canvas_process(data_dir: Path | None = None, **settings: str):
    """Run `canvas serve` on a free loopback port with a fresh data dir (under a temporary
    directory unless `data_dir` is given); yields (url, pid)."""
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        whitelist = Path(tmp) / "whitelist.json"
        whitelist.write_text('{"series_ids": []}')
        env = {
            **os.environ,
            "TRADE_CANVAS_PORT": str(port),
            "TRADE_CANVAS_DATA_DIR": str(data_dir or Path(tmp) / "data"),
            "TRADE_CANVAS_WHITELIST_PATH": str(whitelist),
            "TRADE_CANVAS_ENABLE_INGEST": "0",
            **{f"TRADE_CANVAS_{k.upper()}": v for k, v in settings.items()},
        }
        log = open(Path(tmp) / "server.log", "wb")
        proc = subprocess.Popen(
            [sys.executable, "-m", "canvas.cli", "serve"],
            env=env,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.time() + 30
            while True:
                try:
                    if httpx.get(url + "/api/market/whitelist").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if proc.poll() is not None or time.time() > deadline:
                    raise RuntimeError(
                        "server did not start: " + (Path(tmp) / "server.log").read_text()
                    )
                time.sleep(0.05)
            yield url, proc.pid
        finally:
            proc.terminate()
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            log.close()


def random_walk(n: int, start_time: int = 1_600_000_020 // 60 * 60, tf: int = 60, seed: int = 7):
    """n valid candles of a seeded random walk, as JSON dicts."""
    import random

    rng = random.Random(seed)
    price = 100.0
    out = []
    for i in range(n):
        o = price
        c = max(1.0, o * (1 + rng.gauss(0, 0.002)))
        h = max(o, c) * (1 + abs(rng.gauss(0, 0.001)))
        low = min(o, c) * (1 - abs(rng.gauss(0, 0.001)))
        out.append(
            {
                "candle_time": start_time + i * tf,
                "open": round(o, 6),
                "high": round(h, 6),
                "low": round(low, 6),
                "close": round(c, 6),
                "volume": round(rng.random() * 10, 4),
            }
        )
        price = c
    return out
