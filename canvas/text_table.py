"""Plain-text tables for terminal reports (`canvas inspect`): columns, times, durations."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence

import attrs


@attrs.frozen
class Column:
    """One table column: a title and whether its cells align right (numbers)."""

    title: str
    right: bool = False


def render_table(columns: Sequence[Column], rows: Iterable[Sequence[str]]) -> str:
    """A plain-text table: a header line, then one line per row, columns two spaces apart."""
    cells = [[c.title for c in columns], *[list(r) for r in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(columns))]
    lines = []
    for row in cells:
        parts = [
            cell.rjust(w) if col.right else cell.ljust(w)
            for cell, w, col in zip(row, widths, columns)
        ]
        lines.append("  ".join(parts).rstrip())
    return "\n".join(lines)


def iso_utc(unix_seconds: float | None) -> str:
    """`2025-01-01T00:00:00Z`, or `-` for None."""
    if unix_seconds is None:
        return "-"
    stamp = dt.datetime.fromtimestamp(unix_seconds, dt.UTC)
    return stamp.strftime("%Y-%m-%dT%H:%M:%SZ")


def duration(seconds: float | None) -> str:
    """`45s`, `12m`, `3h05m`, `2d04h`; `-` for None."""
    if seconds is None:
        return "-"
    s = round(seconds)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s" if s % 60 else f"{s // 60}m"
    if s < 86400:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    return f"{s // 86400}d{s % 86400 // 3600:02d}h"


def ago(t: float | None, now: float) -> str:
    """`3m ago`, or `-` for None."""
    return "-" if t is None else f"{duration(max(0.0, now - t))} ago"


def cell_text(value: object, width: int | None = None) -> str:
    """One line of `value` cut to `width` (with an ellipsis); `-` for None."""
    if value is None:
        return "-"
    text = str(value).replace("\n", " ")
    if width is not None and len(text) > width:
        return text[: width - 1] + "…"
    return text
