"""Replay prepare and build planning inside a series actor, and the build over a snapshot."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from typing import Any

import apsw
import attrs

from canvas.errors import (
    Conflict,
    CoverageMissing,
    LedgerOutOfSync,
    NoData,
    PipelineFailed,
    StaleFactorLogic,
)
from canvas.factors import store as factor_store
from canvas.factors.base import Json
from canvas.overlay import store as overlay_store
from canvas.replay import ledger_read
from canvas.replay.package import PACKAGE_SCHEMA, Package, PackageSpec, build_package, cache_key
from canvas.storage import candle_ledger
from canvas.storage.db import open_db

# prepare raises a requested window below this to it (§7.1).
PREPARE_MIN_WINDOW = 100


def prepare(
    analytics: Any, conn: apsw.Connection | None, *, to_time: int | None, window_candles: int
) -> Json:
    """§7.1, run by the series actor (`msg.ReplayPrepare`): bring factor and overlay up to the aligned
    candle. Raises StaleFactorLogic first, then NoData, then LedgerOutOfSync."""
    requested, aligned = _aligned(analytics, conn, to_time)
    computed = not _heads_reach(analytics, aligned)
    if computed:
        # A failed step leaves the heads behind; the checks below answer with the 409.
        with contextlib.suppress(PipelineFailed):
            analytics.catch_up()
    if _behind(analytics.factor_head_time, aligned):
        raise LedgerOutOfSync("factor")
    if _behind(analytics.overlay_head_time, aligned):
        raise LedgerOutOfSync("overlay")
    return {
        "ok": True,
        "series_id": analytics.series_id,
        "requested_time": requested,
        "aligned_time": aligned,
        "window_candles": max(window_candles, PREPARE_MIN_WINDOW),
        "factor_head_time": analytics.factor_head_time,
        "overlay_head_time": analytics.overlay_head_time,
        "computed": computed,
    }


def _aligned(
    analytics: Any, conn: apsw.Connection | None, to_time: int | None
) -> tuple[int, int]:
    """The gate (StaleFactorLogic), then (requested time, the stored candle at or before
    it); NoData when there is no ledger, no candle, or none at or before the request."""
    if analytics is None or conn is None:
        raise NoData()
    analytics.check_gate()
    head = candle_ledger.head_time(conn)
    if head is None:
        raise NoData()
    requested = head if to_time is None else to_time
    aligned = candle_ledger.floor_time(conn, requested)
    if aligned is None:
        raise NoData()
    return requested, aligned


def _behind(head: int | None, t: int) -> bool:
    return head is None or head < t


def _heads_reach(analytics: Any, t: int) -> bool:
    return not (_behind(analytics.factor_head_time, t) or _behind(analytics.overlay_head_time, t))


@attrs.frozen
class BuildPlan:
    """A checked build request: what to build, what it was checked against, and its key."""

    spec: PackageSpec
    logic_hash: str
    overlay_params: str
    fingerprint: Json
    cache_key: str

    @property
    def job_id(self) -> str:
        return self.cache_key


def plan_build(
    analytics: Any,
    conn: apsw.Connection | None,
    *,
    to_time: int | None,
    window_candles: int,
    window_size: int,
    snapshot_interval: int,
) -> BuildPlan:
    """§7.3 checks, run by the series actor (`msg.ReplayPlan`) so they see its committed state:
    the gate, then NoData, CoverageMissing and LedgerOutOfSync("replay"). Answers the plan
    with its cache key; builds nothing."""
    _, to = _aligned(analytics, conn, to_time)
    spec = PackageSpec(
        analytics.series_id, analytics.tf, to, window_candles, window_size, snapshot_interval
    )
    if candle_ledger.count(conn, spec.from_time, to) < window_candles:
        raise CoverageMissing()
    if not _heads_reach(analytics, to):
        raise LedgerOutOfSync("replay")
    overlay_params = overlay_store.params_json(
        analytics.tf, analytics.params.overlay_window_candles
    )
    fingerprint = ledger_read.ledger_fingerprint(conn, spec)
    logic_hash = analytics.current_logic_hash
    key = cache_key(
        {
            "schema": PACKAGE_SCHEMA,
            "logic_hash": logic_hash,
            "overlay": overlay_params,
            "series_id": spec.series_id,
            "to": to,
            "wc": window_candles,
            "ws": window_size,
            "si": snapshot_interval,
            "ledger": fingerprint,
        }
    )
    return BuildPlan(spec, logic_hash, overlay_params, fingerprint, key)


def build_from_ledger(
    path: str | os.PathLike[str],
    plan: BuildPlan,
    *,
    hook: Callable[[str], None] | None = None,
    progress: Callable[[], None] | None = None,
) -> Package:
    """Build the planned package from the series database at `path`.

    Blocking (run it in a worker thread). Reads on its own read-only connection inside one
    read transaction, so the package is one consistent snapshot and the series' writer is
    never blocked (WAL). Raises LedgerOutOfSync("replay"), StaleFactorLogic or
    Conflict("ledger_changed") when the snapshot no longer matches the plan (late data, a
    rewind or a rebuild since it was made). `hook(job_id)` runs inside the read transaction
    (a test seam); `progress` is passed to `build_package`.
    """
    conn = open_db(path, readonly=True)
    try:
        conn.execute("BEGIN")
        try:
            rows = _checked_rows(conn, plan)
            if hook is not None:
                hook(plan.job_id)
            inputs = ledger_read.package_inputs(conn, plan.spec, rows)
        finally:
            conn.execute("COMMIT")
    finally:
        conn.close()
    return build_package(plan.spec, inputs, progress)


def _checked_rows(conn: apsw.Connection, plan: BuildPlan) -> ledger_read.FactorRows:
    to = plan.spec.to_time
    factor = factor_store.load_state(conn)
    if factor.logic_hash != plan.logic_hash:
        raise StaleFactorLogic("stale_factor_logic_hash")
    overlay = overlay_store.load_state(conn)
    if (
        _behind(factor.head_time, to)
        or (factor.dirty_from is not None and factor.dirty_from <= to)
        or overlay.params != plan.overlay_params
        or _behind(overlay.head_time, to)
    ):
        raise LedgerOutOfSync("replay")
    rows = ledger_read.read_factor_rows(conn, plan.spec)
    marks = ledger_read.overlay_marks(conn, to)
    if ledger_read.fingerprint(rows, marks) != plan.fingerprint:
        raise Conflict("ledger_changed")
    return rows
