"""Pure builder of the `GET /api/factor/slices` reply (§4.4) from ledger rows."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence

from canvas.factors.base import Json
from canvas.factors.registry import FACTORS
from canvas.series_id import candle_id

SCHEMA_VERSION = 1


def empty_slices(series_id: str, requested_at: int) -> Json:
    """The reply when no candle is stored at or before the requested time."""
    return {
        "schema_version": SCHEMA_VERSION,
        "series_id": series_id,
        "at_time": requested_at,
        "candle_id": None,
        "factors": [],
        "snapshots": {},
    }


def build_slices(
    series_id: str,
    aligned: int,
    windows: Mapping[str, tuple[Sequence[tuple[str, Json]], Json]],
    only: Collection[str] | None = None,
) -> Json:
    """The reply at `aligned` from each factor's `(window events as (key, payload), head)`.

    Factors appear in registry (dependency) order; one whose `snapshot_view` has nothing to
    show is absent from both `factors` and `snapshots`. With `only`, the views of just
    those factors are built (the other windows are still there for them to read).
    """
    cid = candle_id(series_id, aligned)
    names: list[str] = []
    snapshots: dict[str, Json] = {}
    for factor in FACTORS:
        if only is not None and factor.NAME not in only:
            continue
        events, head = windows.get(factor.NAME, ((), {}))
        view = factor.snapshot_view(events, head, windows, aligned)
        if view is None:
            continue
        history, shown_head = view
        names.append(factor.NAME)
        snapshots[factor.NAME] = {
            "schema_version": SCHEMA_VERSION,
            "history": history,
            "head": shown_head,
            "meta": {
                "series_id": series_id,
                "epoch": 0,
                "at_time": aligned,
                "candle_id": cid,
                "factor_name": factor.NAME,
            },
        }
    return {
        "schema_version": SCHEMA_VERSION,
        "series_id": series_id,
        "at_time": aligned,
        "candle_id": cid,
        "factors": names,
        "snapshots": snapshots,
    }
