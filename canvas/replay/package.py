"""Pure assembly of a replay package: its windows, metadata and cache key (§7.3-§7.5)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence

import attrs
import msgspec

from canvas.factors.base import Bar, Json
from canvas.factors.registry import factor_names
from canvas.replay.draw import DrawTimeline, PresenceRow, draw_timeline
from canvas.replay.snapshots import EventRow, HeadRow, SnapshotRecord, record_snapshots

SCHEMA_VERSION = 1
# Names the package layout in the cache key: a change to what a package holds gets new keys.
PACKAGE_SCHEMA = "replay_package_v1"
IDX_TO_TIME = "replay_kline_bars.candle_time"
# The keys of each factor's slice (§4.4). A factor missing here is described by the keys
# its recorded snapshots actually carry.
FACTOR_KEYS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "pivot": (("major", "minor"), ()),
    "pen": (("confirmed",), ("extending", "candidate")),
    "zhongshu": (("dead",), ("alive",)),
    "anchor": (("anchors", "switches"), ("current_anchor_ref",)),
}

KLINE_KEYS = ("time", "open", "high", "low", "close", "volume")

# msgspec writes a window (its base holds every instruction drawn so far, §7.5) about ten times
# faster than json.dumps; the values are the same JSON.
_encode = msgspec.json.Encoder().encode


def dumps(value: object) -> bytes:
    """Compact JSON (UTF-8), the encoding every stored package part uses."""
    return _encode(value)


@attrs.frozen
class PackageSpec:
    """What a package is asked to be: the series, its last bar and the build parameters."""

    series_id: str
    tf: int
    to_time: int
    window_candles: int
    window_size: int
    snapshot_interval: int

    @property
    def from_time(self) -> int:
        """The first bar: a package holds the `window_candles` slots ending at `to_time`."""
        return self.to_time - (self.window_candles - 1) * self.tf

    @property
    def span(self) -> int:
        """How far back a slice or an active set reaches from its bar (§4.4, §5)."""
        return self.window_candles * self.tf

    @property
    def events_from(self) -> int:
        return self.from_time - self.span


@attrs.frozen
class PackageInputs:
    """Everything a package is made of, as read from one consistent ledger snapshot.

    `events`/`heads` per factor as `record_snapshots` takes them; `catalog` the §5 patch
    entries in (visible_time, version_id) order, beginning with the latest version of each
    instruction visible at the first bar; `presence` the polylines' existence rows.
    """

    bars: Sequence[Bar]
    events: Mapping[str, Sequence[EventRow]]
    heads: Mapping[str, Sequence[HeadRow]]
    catalog: Sequence[Json]
    presence: Mapping[str, Sequence[PresenceRow]]


@attrs.frozen
class PackageWindow:
    """One window as stored: the §7.5 `window` object and its `factor_snapshots`, as JSON."""

    index: int
    window: bytes
    snapshots: bytes


@attrs.frozen
class Package:
    metadata: Json
    windows: list[PackageWindow]

    @property
    def size_bytes(self) -> int:
        return sum(len(w.window) + len(w.snapshots) for w in self.windows)


def cache_key(inputs: Mapping[str, object]) -> str:
    """First 24 hex digits of the SHA-256 of the canonical JSON (sorted keys, no spaces)."""
    text = json.dumps(inputs, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:24]


def window_bounds(target_idx: int, window_size: int, total: int) -> tuple[int, int, int]:
    """`(window_index, start_idx, end_idx)` of the window holding `target_idx` (§7.5)."""
    index = target_idx // window_size
    start = index * window_size
    return index, start, min(total, start + window_size)


def build_package(
    spec: PackageSpec, inputs: PackageInputs, progress: Callable[[], None] | None = None
) -> Package:
    """Build every window of the package in one pass over the bars.

    `progress`, when given, is called between stages and after each window: raising from
    it abandons the build (how a cancelled build stops early).
    Raises ValueError when there is no bar.
    """
    bars = inputs.bars
    if not bars:
        raise ValueError("a replay package needs at least one bar")
    times = [b[0] for b in bars]
    total, size, every = len(bars), spec.window_size, spec.snapshot_interval
    records = record_snapshots(spec.series_id, times, spec.span, inputs.events, inputs.heads)
    if progress is not None:
        progress()
    draw = draw_timeline(
        times,
        spec.span,
        inputs.catalog,
        inputs.presence,
        lambda idx: idx % every == 0 or idx % size == 0,
    )
    if progress is not None:
        progress()
    record_json: dict[int, bytes] = {}
    windows: list[PackageWindow] = []
    latest: dict[str, Json] = {}  # latest catalog version per instruction, swept forward
    swept = 0
    baseline: dict[str, int] = {}  # each factor's latest record before the window
    next_record = 0
    catalog = inputs.catalog
    for start in range(0, total, size):
        index, _, end = window_bounds(start, size, total)
        for entry in catalog[swept : draw.visible[start]]:
            latest[entry["instruction_id"]] = entry
        swept = draw.visible[start]
        first_record = next_record
        while next_record < len(records) and records[next_record].idx < end:
            next_record += 1
        chosen = sorted(
            [*baseline.values(), *range(first_record, next_record)],
            key=lambda i: (records[i].candle_time, records[i].factor_name),
        )
        for i in range(first_record, next_record):
            baseline[records[i].factor_name] = i
        window = {
            "window_index": index,
            "start_idx": start,
            "end_idx": end,
            "kline": [dict(zip(KLINE_KEYS, b, strict=True)) for b in bars[start:end]],
            "draw_catalog_base": sorted(latest.values(), key=lambda e: e["version_id"]),
            "draw_catalog_patch": list(catalog[swept : draw.visible[end - 1]]),
            **_draw_active(draw, start, end),
        }
        snapshots = _snapshots_json(chosen, records, record_json)
        windows.append(
            PackageWindow(index, dumps(window), snapshots)
        )
        if progress is not None:
            progress()
    return Package(metadata(spec, bars, records), windows)


def _draw_active(draw: DrawTimeline, start: int, end: int) -> Json:
    """A window's active-set checkpoints and diffs (§7.5), by candle index."""
    return {
        "draw_active_checkpoints": [
            {"at_idx": i, "active_ids": draw.checkpoints[i]}
            for i in range(start, end)
            if i in draw.checkpoints
        ],
        "draw_active_diffs": [
            {"at_idx": i, "add_ids": draw.diffs[i][0], "remove_ids": draw.diffs[i][1]}
            for i in range(start + 1, end)
            if i in draw.diffs
        ],
    }


def _snapshots_json(
    chosen: Sequence[int], records: Sequence[SnapshotRecord], cache: dict[int, bytes]
) -> bytes:
    """The JSON array of the chosen records; each record is encoded once per package (a
    baseline record recurs in every later window)."""
    parts = []
    for i in chosen:
        text = cache.get(i)
        if text is None:
            text = cache[i] = dumps(records[i].as_json())
        parts.append(text)
    return b"[" + b",".join(parts) + b"]"


def metadata(spec: PackageSpec, bars: Sequence[Bar], records: Sequence[SnapshotRecord]) -> Json:
    """The §7.4 `metadata` of a finished package."""
    return {
        "schema_version": SCHEMA_VERSION,
        "series_id": spec.series_id,
        "timeframe_s": spec.tf,
        "total_candles": len(bars),
        "from_candle_time": bars[0][0],
        "to_candle_time": bars[-1][0],
        "window_size": spec.window_size,
        "snapshot_interval": spec.snapshot_interval,
        "preload_offset": 0,
        "idx_to_time": IDX_TO_TIME,
        "factor_schema": factor_schema(records),
    }


def factor_schema(records: Sequence[SnapshotRecord]) -> list[Json]:
    """`[{factor_name, history_keys, head_keys}]` for every registered factor."""
    out = []
    for name in factor_names():
        keys = FACTOR_KEYS.get(name)
        if keys is None:
            history: set[str] = set()
            head: set[str] = set()
            for rec in records:
                if rec.factor_name == name and rec.snapshot is not None:
                    history.update(rec.snapshot["history"])
                    head.update(rec.snapshot["head"])
            keys = (tuple(sorted(history)), tuple(sorted(head)))
        out.append({"factor_name": name, "history_keys": list(keys[0]), "head_keys": list(keys[1])})
    return out
