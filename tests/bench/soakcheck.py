"""The soak's probes and its final check: the server's descriptors and disk, the ledgers
read back over HTTP against the exchange's REST candles, and each subscriber's stream
against its ledger."""

from __future__ import annotations

import os
from pathlib import Path

import attrs
import httpx

MINUTE_MS = 60_000
PAGE = 5000


@attrs.frozen
class Disk:
    """Bytes under the data dir: all of it, the series ledgers (with their WAL files), the
    WAL files of everything (and the largest one), and the replay packages."""

    total: int
    ledgers: int
    wal: int
    wal_max: int
    replay: int


def disk_usage(data_dir: Path) -> Disk:
    total = ledgers = wal = wal_max = replay = 0
    for root, _, files in os.walk(data_dir):
        for name in files:
            try:
                size = os.path.getsize(os.path.join(root, name))
            except OSError:
                continue  # removed while walking (a replay package, a checkpoint)
            total += size
            if Path(root).name == "replay":
                replay += size
            else:
                ledgers += size
            if name.endswith("-wal"):
                wal += size
                wal_max = max(wal_max, size)
    return Disk(total, ledgers, wal, wal_max, replay)


def fd_count(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


async def read_ledger(client: httpx.AsyncClient, sid: str) -> list[tuple]:
    """Every stored candle of a series, ascending, as (time, o, h, l, c, v)."""
    out: list[tuple] = []
    since = 0
    while True:
        r = await client.get(
            "/api/market/candles", params={"series_id": sid, "since": since, "limit": PAGE}
        )
        page = r.json()["candles"]
        out += [
            (c["candle_time"], c["open"], c["high"], c["low"], c["close"], c["volume"])
            for c in page
        ]
        if len(page) < PAGE:
            return out
        since = page[-1]["candle_time"]


async def exchange_candles(rest_base: str, symbol: str, first: int, last: int) -> list[tuple]:
    """The exchange's closed 1m futures candles in [first, last] (seconds), from its REST API."""
    out: list[tuple] = []
    async with httpx.AsyncClient(timeout=60) as client:
        start = first * 1000
        while start <= last * 1000:
            r = await client.get(
                rest_base + "/fapi/v1/klines",
                params={
                    "symbol": symbol,
                    "interval": "1m",
                    "startTime": start,
                    "endTime": last * 1000,
                    "limit": 1500,
                },
            )
            rows = r.json()
            if not rows:
                break
            out += [(row[0] // 1000, *map(float, row[1:6])) for row in rows]
            start = rows[-1][0] + MINUTE_MS
    return out


def ledger_problem(stored: list[tuple], truth: list[tuple]) -> str | None:
    if stored == truth:
        return None
    have = {c[0] for c in stored}
    missing = [c[0] for c in truth if c[0] not in have]
    return f"{len(stored)} stored vs {len(truth)} on the exchange; missing {missing[:5]}"


def delivery_problem(got: list[int], stored: list[int]) -> str | None:
    """None when `got` is the ledger's times from the first one received on, each once."""
    tail = stored[stored.index(got[0]) :] if got and got[0] in stored else None
    if got == tail:
        return None
    dupes = len(got) - len(set(got))
    return f"received {len(got)} ({dupes} duplicates), ledger has {len(tail or [])}"
