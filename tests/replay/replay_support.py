"""Replay test support: analysed in-memory series, package builds, a server with a runner."""

from __future__ import annotations

import json
import random
import sys
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import apsw
from helpers import running_server
from hypothesis import strategies as st

from canvas.factors.base import AnalyticsParams, Bar
from canvas.factors.pipeline import SeriesAnalytics
from canvas.replay import ledger_read
from canvas.replay.package import Package, build_package
from canvas.replay.plan import BuildPlan, plan_build
from canvas.storage import candle_ledger
from canvas.storage.db import open_db

# The wave strategies live with the factor tests; the replay tests share them.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "factors"))
from factor_support import wave_params_st, waves  # noqa: E402, F401

SID = "binance:futures:BTC/USDT:1m"
TF = 60


def walk(n: int, seed: int, start: int = 600, gap_every: int = 0) -> list[Bar]:
    """A seeded random walk of n bars on a coarse price grid (ties happen), 1m apart; with
    `gap_every`, roughly one slot in that many is skipped."""
    rng = random.Random(seed)
    out: list[Bar] = []
    slot, level = 0, 50
    for _ in range(n):
        slot += 2 if gap_every and rng.randrange(gap_every) == 0 else 1
        level = max(5, level + rng.choice((-3, -2, -1, 0, 1, 2, 3)))
        o, c = float(level), float(level + rng.choice((-1, 0, 1)))
        out.append((start + slot * TF, o, max(o, c) + rng.choice((0, 0, 1)), min(o, c), c, 1.0))
    return out


@st.composite
def bar_series(draw: st.DrawFn, min_len: int = 1, max_len: int = 70) -> list[Bar]:
    """Short series for property tests: mostly consecutive, sometimes with gaps."""
    n = draw(st.integers(min_len, max_len))
    seed = draw(st.integers(0, 2**32 - 1))
    gaps = draw(st.sampled_from([0, 0, 5]))
    return walk(n, seed, gap_every=gaps)


params_st = st.builds(
    AnalyticsParams,
    pivot_window_major=st.sampled_from([1, 2, 3, 6]),
    pivot_window_minor=st.integers(1, 2),
    overlay_window_candles=st.integers(2, 30),
)


def analysed(bars: list[Bar], params: AnalyticsParams) -> tuple[apsw.Connection, SeriesAnalytics]:
    """An in-memory series holding `bars`, written in a few batches and analysed."""
    conn = open_db(":memory:")
    sa = SeriesAnalytics(conn, SID, TF, params)
    for k in range(0, len(bars), 17):
        batch = bars[k : k + 17]
        with conn:
            candle_ledger.upsert(conn, batch)
        sa.after_store(batch[0][0])
    return conn, sa


def plan_for(
    sa: SeriesAnalytics,
    conn: apsw.Connection,
    wc: int,
    ws: int = 10,
    si: int = 3,
    to_time: int | None = None,
) -> BuildPlan:
    return plan_build(
        sa, conn, to_time=to_time, window_candles=wc, window_size=ws, snapshot_interval=si
    )


def package_for(conn: apsw.Connection, plan: BuildPlan) -> Package:
    """Build a planned package from a connection (the runner reads a file; tests of the
    pure core use in-memory databases)."""
    rows = ledger_read.read_factor_rows(conn, plan.spec)
    return build_package(plan.spec, ledger_read.package_inputs(conn, plan.spec, rows))


def decoded(package: Package) -> list[tuple[dict[str, Any], list[dict[str, Any]]]]:
    return [(json.loads(w.window), json.loads(w.snapshots)) for w in package.windows]


def frame_at(records: list[dict[str, Any]], t: int) -> dict[str, Any]:
    """§7.5: the frame at bar time t is the newest record per factor with candle_time <= t;
    a null snapshot means the factor is absent."""
    latest: dict[str, Any] = {}
    for rec in sorted(records, key=lambda r: (r["candle_time"], r["factor_name"])):
        if rec["candle_time"] <= t:
            latest[rec["factor_name"]] = rec["snapshot"]
    return {name: snap for name, snap in latest.items() if snap is not None}


def without_meta(snapshots: dict[str, Any]) -> dict[str, Any]:
    return {name: {k: v for k, v in s.items() if k != "meta"} for name, s in snapshots.items()}


def active_sets(window: dict[str, Any]) -> dict[int, list[str]]:
    """Replay a window's checkpoints and diffs into the active set at every idx."""
    checkpoints = {c["at_idx"]: c["active_ids"] for c in window["draw_active_checkpoints"]}
    diffs = {d["at_idx"]: d for d in window["draw_active_diffs"]}
    out: dict[int, list[str]] = {}
    current: set[str] = set()
    for idx in range(window["start_idx"], window["end_idx"]):
        if idx in diffs:
            current |= set(diffs[idx]["add_ids"])
            current -= set(diffs[idx]["remove_ids"])
        if idx in checkpoints:
            assert sorted(current) == checkpoints[idx] or idx == window["start_idx"]
            current = set(checkpoints[idx])
        out[idx] = sorted(current)
    return out


def catalog_at(window: dict[str, Any], t: int) -> dict[str, dict[str, Any]]:
    """The latest entry per instruction visible at t, from a window's base and patch."""
    out = {e["instruction_id"]: e for e in window["draw_catalog_base"]}
    for e in window["draw_catalog_patch"]:
        if e["visible_time"] <= t:
            out[e["instruction_id"]] = e
    return out


@asynccontextmanager
async def replay_server(tmp_path: Path, **overrides: Any):
    """A real server (it runs its own replay runner, `server.deps.replay`)."""
    async with running_server(tmp_path, **overrides) as server:
        yield server
