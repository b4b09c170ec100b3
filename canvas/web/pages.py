"""The chart page (§10): `GET /` and its files under `/static/`, with cache headers.

The page is static: plain JavaScript modules, CSS and the pinned chart library, shipped inside
the package (no build step, nothing fetched from another host). App files are revalidated on
every load (`no-cache` + ETag, so an upgrade shows at once and an unchanged file costs a 304);
the vendored library is referenced with its version in the URL and cached for a year.

Files are held in memory once read (about 300 KB in all) and re-read when their mtime changes,
so serving the page costs the event loop no file I/O while the API is busy.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import attrs
import trio
from quart import Blueprint, Response, current_app, request
from werkzeug.security import safe_join

from canvas.errors import NotFound

blueprint = Blueprint("pages", __name__)

STATIC_DIR = Path(__file__).parent / "static"
APP_CACHE = "no-cache"
VENDOR_CACHE = "public, max-age=31536000, immutable"
# Explicit types: the platform's mimetypes table varies, and module scripts need a JS type.
# Only these are served: the vendor folder also holds the fetch script, licence texts and the
# NOTICE, which ship in the package but are not web assets.
_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
}


@attrs.frozen
class StaticFile:
    data: bytes
    etag: str
    mtime_ns: int


@attrs.define(eq=False)
class StaticFiles:
    """The page's files by relative path, read once and kept while unchanged on disk."""

    root: Path
    files: dict[str, StaticFile] = attrs.Factory(dict)

    async def get(self, relative: str) -> StaticFile:
        """The file at `relative` under root; raises NotFound outside it or when missing."""
        joined = safe_join(str(self.root), relative)
        if joined is None or Path(relative).suffix not in _TYPES:
            raise NotFound()
        path = Path(joined)
        try:
            mtime_ns = path.stat().st_mtime_ns
        except OSError:
            raise NotFound() from None
        if not path.is_file():
            raise NotFound()
        known = self.files.get(relative)
        if known is not None and known.mtime_ns == mtime_ns:
            return known
        data = await trio.to_thread.run_sync(path.read_bytes)
        etag = '"' + hashlib.sha256(data).hexdigest()[:20] + '"'
        self.files[relative] = StaticFile(data, etag, mtime_ns)
        return self.files[relative]


@blueprint.record_once
def _attach(state) -> None:
    state.app.extensions["canvas.pages"] = StaticFiles(STATIC_DIR)


async def _send(relative: str, cache_control: str) -> Response:
    file = await current_app.extensions["canvas.pages"].get(relative)
    headers = {
        "Cache-Control": cache_control,
        "ETag": file.etag,
        "X-Content-Type-Options": "nosniff",
    }
    if file.etag in request.headers.get("If-None-Match", ""):
        return Response(b"", status=304, headers=headers)
    return Response(file.data, content_type=_TYPES[Path(relative).suffix], headers=headers)


@blueprint.get("/")
async def index() -> Response:
    """The single-page chart app; the view (chart, replay, ops) is chosen in the page."""
    return await _send("index.html", APP_CACHE)


@blueprint.get("/static/<path:filename>")
async def static_file(filename: str) -> Response:
    cache = VENDOR_CACHE if filename.startswith("vendor/") else APP_CACHE
    return await _send(filename, cache)
