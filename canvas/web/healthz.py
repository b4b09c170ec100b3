"""`GET /healthz` (conventions, rev 4): liveness for load balancers and service managers."""

from __future__ import annotations

import time
from importlib.metadata import PackageNotFoundError, version

from quart import Blueprint, current_app

from canvas.web.json_response import json_response

blueprint = Blueprint("healthz", __name__)

_STARTED = "canvas.healthz.started"


def package_version() -> str:
    """Canvas's version from the installed package's metadata."""
    try:
        return version("canvas")
    except PackageNotFoundError:
        # Only when run from a source tree that was never installed (pip install -e . fixes it).
        return "0.0.0"


@blueprint.record_once
def _note_start(state) -> None:
    # Monotonic: uptime must not jump when the wall clock is corrected.
    state.app.extensions[_STARTED] = time.monotonic()


@blueprint.get("/healthz")
async def healthz():
    """Always 200 while serving: no flag, token or series is consulted."""
    uptime = time.monotonic() - current_app.extensions[_STARTED]
    return json_response({"status": "ok", "uptime_s": int(uptime), "version": package_version()})
