"""Compact JSON responses built without Quart's sorting encoder (hot path)."""

from __future__ import annotations

import json
from typing import Any

from quart import Response


def json_response(obj: Any, status: int = 200) -> Response:
    body = json.dumps(obj, separators=(",", ":"), allow_nan=False)
    return Response(body, status=status, content_type="application/json")
