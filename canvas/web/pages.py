"""The chart page (§10): `GET /` and its files under `/static/`, with cache headers.

The page is static: plain JavaScript modules, CSS and the pinned chart library, shipped inside
the package (no build step, nothing fetched from another host). App files are revalidated on
every load (`no-cache` + ETag, so an upgrade shows at once and an unchanged file costs a 304);
the vendored library is referenced with its version in the URL and cached for a year.
"""

from __future__ import annotations

from pathlib import Path

from quart import Blueprint, Response
from quart.helpers import send_from_directory

from canvas.errors import NotFound

blueprint = Blueprint("pages", __name__)

STATIC_DIR = Path(__file__).parent / "static"
APP_CACHE = "no-cache"
VENDOR_CACHE = "public, max-age=31536000, immutable"
# Explicit types: the platform's mimetypes table varies, and module scripts need a JS type.
_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".txt": "text/plain; charset=utf-8",
}
# Only what the browser loads is served: the vendor folder also holds the fetch script,
# licence texts and the NOTICE, which stay readable in the package but are not web assets.
_SERVED = {".html", ".js", ".css", ".svg", ".png"}


async def _send(relative: str, cache_control: str) -> Response:
    suffix = Path(relative).suffix
    if suffix not in _SERVED:
        raise NotFound()
    response = await send_from_directory(STATIC_DIR, relative, mimetype=_TYPES[suffix])
    response.headers["Cache-Control"] = cache_control
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


@blueprint.get("/")
async def index() -> Response:
    """The single-page chart app; the view (chart, replay, ops) is chosen in the page."""
    return await _send("index.html", APP_CACHE)


@blueprint.get("/static/<path:filename>")
async def static_file(filename: str) -> Response:
    cache = VENDOR_CACHE if filename.startswith("vendor/") else APP_CACHE
    return await _send(filename, cache)
