"""The WebSocket push rules of CONTRACT §3.4 as pure functions: what is due and how it is framed."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import attrs

from canvas.candles import Row

BATCH_MAX = 1000


def dumps(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"), allow_nan=False)


def candle_json(row: Row) -> dict[str, Any]:
    return {
        "candle_time": row[0],
        "open": row[1],
        "high": row[2],
        "low": row[3],
        "close": row[4],
        "volume": row[5],
    }


def candles_array_json(rows: Sequence[Row]) -> str:
    """`[{candle},...]` as JSON text, written directly: a float's repr is its JSON form (the
    values are validated finite), and this is a third faster than json.dumps over dicts on
    the two hottest payloads (candle reads and catch-up batches)."""
    return (
        "["
        + ",".join(
            [
                f'{{"candle_time":{r[0]},"open":{r[1]!r},"high":{r[2]!r},"low":{r[3]!r},'
                f'"close":{r[4]!r},"volume":{r[5]!r}}}'
                for r in rows
            ]
        )
        + "]"
    )


@attrs.frozen
class Unit:
    """Frames that must be queued together (a gap and the candles it announces)."""

    frames: tuple[str, ...]
    last_time: int


def plan_units(
    series_id: str, tf: int, last_sent: int | None, rows: Sequence[Row], supports_batch: bool
) -> list[Unit]:
    """Frame the due `rows` (ascending, all > last_sent) for one subscriber.

    A gap precedes any candle that does not follow `last_sent` by exactly one timeframe; batch
    clients get `candles_batch` frames split at gaps and at BATCH_MAX, except that a lone due
    candle goes as `candle_closed`.
    """
    units: list[Unit] = []
    if not rows:
        return units
    if not supports_batch or len(rows) == 1:
        p = last_sent
        for row in rows:
            frames = []
            if p is not None and row[0] > p + tf:
                frames.append(_gap(series_id, p + tf, row[0]))
            frames.append(
                dumps({"type": "candle_closed", "series_id": series_id, "candle": candle_json(row)})
            )
            units.append(Unit(tuple(frames), row[0]))
            p = row[0]
        return units
    p = last_sent
    part: list[Row] = []
    gap_frame: str | None = None

    def flush() -> None:
        if part:
            batch = (
                f'{{"type":"candles_batch","series_id":{dumps(series_id)},'
                f'"candles":{candles_array_json(part)}}}'
            )
            frames = (gap_frame, batch) if gap_frame else (batch,)
            units.append(Unit(frames, part[-1][0]))

    for row in rows:
        is_gap = p is not None and row[0] > p + tf
        if is_gap or len(part) >= BATCH_MAX:
            flush()
            part = []
            gap_frame = _gap(series_id, p + tf, row[0]) if is_gap else None
        part.append(row)
        p = row[0]
    flush()
    return units


def _gap(series_id: str, expected: int, actual: int) -> str:
    return dumps(
        {
            "type": "gap",
            "series_id": series_id,
            "expected_next_time": expected,
            "actual_time": actual,
        }
    )


def forming_frame(series_id: str, row: Row) -> str:
    return dumps({"type": "candle_forming", "series_id": series_id, "candle": candle_json(row)})


def system_frame(series_id: str, event: str, message: str, data: dict[str, Any]) -> str:
    return dumps(
        {"type": "system", "series_id": series_id, "event": event, "message": message, "data": data}
    )


def error_frame(code: str, message: str, **extra: Any) -> str:
    return dumps({"type": "error", "code": code, "message": message, **extra})
