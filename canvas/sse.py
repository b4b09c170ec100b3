"""Server-sent events framing (§2.11): one-line JSON events, error events, keep-alive pings."""

from __future__ import annotations

import json


def compact_json(data: object) -> str:
    """One-line JSON: control characters are escaped, so it is safe as one SSE `data:` line."""
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def _field(value: str) -> str:
    if "\n" in value or "\r" in value or "\0" in value:
        raise ValueError(f"SSE field may not contain CR, LF or NUL: {value!r}")
    return value


def sse_event(event_id: int | str, event: str, data: object) -> str:
    """`id: <id>\\nevent: <event>\\ndata: <compact JSON>\\n\\n`."""
    return f"id: {_field(str(event_id))}\nevent: {_field(event)}\ndata: {compact_json(data)}\n\n"


def sse_error(message: str, at_ms: int) -> str:
    """`event: error` with `{"type":"error","message":...,"at_ms":...}`."""
    body = compact_json({"type": "error", "message": message, "at_ms": at_ms})
    return f"event: error\ndata: {body}\n\n"


def sse_ping(unix_seconds: int) -> str:
    """The keep-alive comment `: ping <unix_seconds>\\n\\n`."""
    return f": ping {int(unix_seconds)}\n\n"
