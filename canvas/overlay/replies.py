"""Pure builders of the `draw/delta` (§5) and `frame/*` (§6) replies."""

from __future__ import annotations

from collections.abc import Sequence

from canvas.factors.base import Json
from canvas.series_id import candle_id

SCHEMA_VERSION = 1


def build_delta(
    series_id: str,
    to_time: int | None,
    active_ids: Sequence[str],
    patch: Sequence[Json],
    next_version_id: int,
) -> Json:
    """A §5 reply; `to_time` None is the empty-series reply (pass the cursor as
    `next_version_id`, no ids and no patch)."""
    return {
        "schema_version": SCHEMA_VERSION,
        "series_id": series_id,
        "to_candle_id": None if to_time is None else candle_id(series_id, to_time),
        "to_candle_time": to_time,
        "active_ids": list(active_ids),
        "instruction_catalog_patch": list(patch),
        "series_points": {},
        "next_cursor": {"version_id": next_version_id, "point_time": None},
    }


def build_frame(
    series_id: str, at_time: int, aligned: int, factor_slices: Json, draw_state: Json
) -> Json:
    """A §6 frame: the §4.4 slices and the §5 state (cursor 0) at the aligned candle."""
    return {
        "schema_version": SCHEMA_VERSION,
        "series_id": series_id,
        "time": {
            "at_time": at_time,
            "aligned_time": aligned,
            "candle_id": candle_id(series_id, aligned),
        },
        "factor_slices": factor_slices,
        "draw_state": draw_state,
    }
