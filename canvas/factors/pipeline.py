"""`SeriesAnalytics`: the synchronous factor + overlay facade a series actor drives (§4–§6)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import apsw
import attrs

from canvas.errors import LedgerOutOfSync, NoData, PipelineFailed, StaleFactorLogic
from canvas.factors import factor_step
from canvas.factors import store as factor_store
from canvas.factors.base import AnalyticsParams, Json
from canvas.factors.engine import FactorEngine
from canvas.factors.registry import factor_names, logic_hash
from canvas.factors.slices import build_slices, empty_slices
from canvas.overlay import overlay_step
from canvas.overlay import store as overlay_store
from canvas.overlay.deriver import OverlayDeriver
from canvas.overlay.replies import build_delta, build_frame
from canvas.storage import candle_ledger

FACTOR_STEP = "factor.ingest_closed"
OVERLAY_STEP = "overlay.ingest_closed"


def _earliest(a: int | None, b: int | None) -> int | None:
    if a is None:
        return b
    return a if b is None else min(a, b)


@attrs.define(eq=False)
class SeriesAnalytics:
    """Factor ledger and overlay catalog of one series, over its single apsw connection.

    Every method is synchronous and must be called one at a time (the actor runs them in a
    worker thread). Writes happen in their own transactions: call `after_store` only after
    the candle write has committed. Memory mirrors what is committed: a failed step leaves
    both the ledgers and the in-memory heads as they were.

    `fault_hook`, when set, is called with the step name (`"factor.ingest_closed"` or
    `"overlay.ingest_closed"`) inside that step's transaction after its writes and before
    its commit; raising from it makes the step fail. It is a test seam, not a setting.
    """

    conn: apsw.Connection
    series_id: str
    tf: int
    params: AnalyticsParams
    checkpoint_every: int = attrs.field(default=factor_step.CHECKPOINT_EVERY, kw_only=True)
    fault_hook: Callable[[str], None] | None = attrs.field(default=None, kw_only=True)

    _factor: factor_store.FactorSeriesState = attrs.field(init=False)
    _overlay: overlay_store.OverlaySeriesState = attrs.field(init=False)
    _engine: FactorEngine | None = attrs.field(init=False, default=None)
    _deriver: OverlayDeriver | None = attrs.field(init=False, default=None)
    _current_hash: str = attrs.field(init=False)
    # A changed_from a failed factor step did not absorb, and a rewind F not yet returned
    # because the overlay step after it failed.
    _pending_dirty: int | None = attrs.field(init=False, default=None)
    _unreported_rewind: int | None = attrs.field(init=False, default=None)

    def __attrs_post_init__(self) -> None:
        self._current_hash = logic_hash(self.params)
        self._factor = factor_store.load_state(self.conn)
        self._overlay = overlay_store.load_state(self.conn)

    # --- state ---------------------------------------------------------------------------

    @property
    def factor_head_time(self) -> int | None:
        return self._factor.head_time

    @property
    def overlay_head_time(self) -> int | None:
        """The overlay head; None while the catalog was written with other parameters (it is
        then re-derived by the next step)."""
        if self._overlay.params != self._overlay_params():
            return None
        return self._overlay.head_time

    @property
    def is_loaded(self) -> bool:
        """The factor engine and overlay deriver are in memory, so the next append runs both
        steps without first rebuilding them from stored state (a restart or a failed step
        drops them; the next step reloads them)."""
        return self._engine is not None and self._deriver is not None

    @property
    def stored_logic_hash(self) -> str | None:
        return self._factor.logic_hash

    @property
    def current_logic_hash(self) -> str:
        return self._current_hash

    @property
    def is_stale(self) -> bool:
        """True when a factor ledger exists that was computed with other logic (§4.5)."""
        if self._factor.head_time is None:
            return False
        return self._factor.logic_hash != self._current_hash

    def _overlay_params(self) -> str:
        return overlay_store.params_json(self.tf, self.params.overlay_window_candles)

    # --- ingest --------------------------------------------------------------------------

    def after_store(self, changed_from: int | None) -> int | None:
        """Run the factor step, then the overlay step, each in its own transaction.

        `changed_from` is the earliest candle_time the committed write inserted or changed
        (None when nothing changed). Answers F when stored factor output at or before the old
        factor head changed (subscribers get `factor.rewind`), else None. Raises
        `PipelineFailed(step, series_id)` from the original error when a step fails; the next
        call (or `catch_up`) completes the work. While the series is stale the factor ledger
        is left as it is.
        """
        dirty = _earliest(changed_from, self._pending_dirty)
        try:
            rewind = self._factor_step(dirty)
        except BaseException as exc:
            # The transaction rolled back; the engine may have run ahead of it.
            self._pending_dirty = dirty
            self._engine = None
            if isinstance(exc, Exception):
                raise PipelineFailed(FACTOR_STEP, self.series_id) from exc
            raise
        self._pending_dirty = None
        self._unreported_rewind = _earliest(self._unreported_rewind, rewind)
        try:
            self._overlay_step()
        except BaseException as exc:
            self._deriver = None
            if isinstance(exc, Exception):
                raise PipelineFailed(OVERLAY_STEP, self.series_id) from exc
            raise
        rewind, self._unreported_rewind = self._unreported_rewind, None
        return rewind

    def catch_up(self) -> int | None:
        """Bring the factor and overlay heads to the store head (unless stale); answers F
        like `after_store`."""
        return self.after_store(None)

    def _hook(self, step: str) -> None:
        if self.fault_hook is not None:
            self.fault_hook(step)

    def _factor_step(self, dirty: int | None) -> int | None:
        state = self._factor
        dirty = _earliest(dirty, state.dirty_from)
        if self.is_stale:
            return None
        store_head = candle_ledger.head_time(self.conn)
        if store_head is None:
            return None
        head = state.head_time
        if head is not None and head >= store_head and (dirty is None or dirty > head):
            return None
        with self.conn:
            step = factor_step.advance(
                self.conn,
                engine=self._engine,
                state=state,
                params=self.params,
                tf=self.tf,
                store_head=store_head,
                dirty_from=dirty,
                current_hash=self._current_hash,
                checkpoint_every=self.checkpoint_every,
            )
            self._hook(FACTOR_STEP)
        self._apply_factor(step)
        return step.rewind_from

    def _apply_factor(self, step: factor_step.FactorStep) -> None:
        self._engine = step.engine
        self._factor = step.state
        if step.overlay_head != self._overlay.head_time:
            self._overlay = attrs.evolve(self._overlay, head_time=step.overlay_head)

    def _overlay_step(self) -> None:
        factor_head = self._factor.head_time
        if factor_head is None or self.overlay_head_time == factor_head:
            return
        with self.conn:
            step = overlay_step.derive(
                self.conn,
                deriver=self._deriver,
                state=self._overlay,
                factor_head=factor_head,
                tf=self.tf,
                window_candles=self.params.overlay_window_candles,
            )
            self._hook(OVERLAY_STEP)
        self._deriver = step.deriver
        self._overlay = step.state

    def rebuild(self, include_overlay: bool) -> dict[str, Any]:
        """Recompute the factor ledger (and the overlay when asked) from the stored candles
        up to the store head with the current logic, in one transaction, and record the
        current logic hash (§4.5). Raises NoData when no candle is stored."""
        store_head = candle_ledger.head_time(self.conn)
        if store_head is None:
            raise NoData()
        try:
            with self.conn:
                step = factor_step.rebuild(
                    self.conn,
                    params=self.params,
                    tf=self.tf,
                    store_head=store_head,
                    current_hash=self._current_hash,
                    checkpoint_every=self.checkpoint_every,
                )
                overlay = None
                if include_overlay:
                    overlay = overlay_step.derive(
                        self.conn,
                        deriver=None,
                        state=overlay_store.OverlaySeriesState(None, None),
                        factor_head=store_head,
                        tf=self.tf,
                        window_candles=self.params.overlay_window_candles,
                    )
        except BaseException:
            self._engine = None
            self._deriver = None
            raise
        self._apply_factor(step)
        # A rebuild supersedes any rewind not yet reported: subscribers get factor.rebuild.
        self._pending_dirty = self._unreported_rewind = None
        if overlay is not None:
            self._deriver = overlay.deriver
            self._overlay = overlay.state
        return {
            "ok": True,
            "series_id": self.series_id,
            "rebuilt_to_time": store_head,
            "factor_logic_hash": self._current_hash,
            "include_overlay": include_overlay,
        }

    # --- reads ---------------------------------------------------------------------------

    def check_gate(self) -> None:
        """Raise StaleFactorLogic (409) when the stored logic hash is missing or differs;
        a series without a factor head passes."""
        if self._factor.head_time is None:
            return
        stored = self._factor.logic_hash
        if not stored:
            raise StaleFactorLogic("stale_factor_logic_hash:missing")
        if stored != self._current_hash:
            raise StaleFactorLogic(
                f"stale_factor_logic_hash:mismatch:{stored[:12]}:{self._current_hash[:12]}"
            )

    def slices(self, at_time: int, window_candles: int) -> Json:
        """§4.4 reply at the store floor of `at_time`, read from the ledger. Raises
        StaleFactorLogic, or LedgerOutOfSync("factor") when the factor head is behind."""
        self.check_gate()
        aligned = candle_ledger.floor_time(self.conn, at_time)
        if aligned is None:
            return empty_slices(self.series_id, at_time)
        head = self._factor.head_time
        if head is None or head < aligned:
            raise LedgerOutOfSync("factor")
        lo = aligned - window_candles * self.tf
        windows = {
            name: (
                factor_store.window_events(self.conn, name, lo, aligned),
                factor_store.head_at(self.conn, name, aligned),
            )
            for name in factor_names()
        }
        return build_slices(self.series_id, aligned, windows)

    def draw_delta(
        self, cursor_version_id: int, window_candles: int, at_time: int | None = None
    ) -> Json:
        """§5 reply up to the store floor of `at_time` (the store head when None). Raises
        StaleFactorLogic, or LedgerOutOfSync("overlay") when the overlay head is behind."""
        self.check_gate()
        if at_time is None:
            to_time = candle_ledger.head_time(self.conn)
        else:
            to_time = candle_ledger.floor_time(self.conn, at_time)
        if to_time is None:
            return build_delta(self.series_id, None, [], [], cursor_version_id)
        head = self.overlay_head_time
        if head is None or head < to_time:
            raise LedgerOutOfSync("overlay")
        newest = overlay_store.max_version_at(self.conn, to_time)
        next_id = cursor_version_id if newest is None else max(cursor_version_id, newest)
        active = overlay_store.active_ids(self.conn, to_time, to_time - window_candles * self.tf)
        if cursor_version_id == 0:  # a snapshot of what is drawn (§5 rev 4)
            patch = overlay_store.snapshot(self.conn, active, to_time)
        elif next_id > cursor_version_id:
            patch = overlay_store.patch(self.conn, cursor_version_id, next_id, to_time)
        else:
            patch = []
        return build_delta(self.series_id, to_time, active, patch, next_id)

    def frame(self, at_time: int | None, window_candles: int) -> Json:
        """§6 frame at the store floor of `at_time` (the store head when None). Raises
        StaleFactorLogic, NoData when no candle is there, or LedgerOutOfSync."""
        self.check_gate()
        if at_time is None:
            aligned = candle_ledger.head_time(self.conn)
        else:
            aligned = candle_ledger.floor_time(self.conn, at_time)
        if aligned is None:
            raise NoData()
        slices = self.slices(aligned, window_candles)
        draw = self.draw_delta(0, window_candles, aligned)
        requested = aligned if at_time is None else at_time
        return build_frame(self.series_id, requested, aligned, slices, draw)

    def engine_state(self) -> Json | None:
        """The committed engine state at the factor head (for diagnostics and tests)."""
        raw = self._factor.engine_state
        return None if raw is None else json.loads(raw)
