"""The chart page's files (§10): served from the package with cache headers, nothing missing."""

from __future__ import annotations

import hashlib
import importlib.util
import re

from helpers import http_client, running_server

from canvas.web.pages import STATIC_DIR

VENDOR_JS = "vendor/lightweight-charts.standalone.production.js"


def _fetch_vendor_module():
    spec = importlib.util.spec_from_file_location(
        "fetch_vendor", STATIC_DIR / "vendor/fetch_vendor.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_vendored_library_matches_its_pin():
    """The committed chart library is byte for byte the pinned npm build."""
    pins = _fetch_vendor_module().FILES
    for name, pinned in pins.values():
        assert hashlib.sha256((STATIC_DIR / "vendor" / name).read_bytes()).hexdigest() == pinned
    assert (STATIC_DIR / "vendor/NOTICE").read_text().count("Apache License 2.0") == 1


async def test_index_and_cache_headers(tmp_path):
    async with running_server(tmp_path) as server, http_client(server) as client:
        r = await client.get("/")
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/html")
        assert r.headers["cache-control"] == "no-cache"
        etag = r.headers["etag"]
        assert '<script type="module" src="/static/js/main.js">' in r.text
        again = await client.get("/", headers={"If-None-Match": etag})
        assert again.status_code == 304

        r = await client.get("/static/js/main.js")
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/javascript")
        assert r.headers["cache-control"] == "no-cache"
        r = await client.get(f"/static/{VENDOR_JS}", params={"v": "5.2.1"})
        assert r.status_code == 200
        assert "max-age=31536000" in r.headers["cache-control"]
        assert b"Lightweight Charts" in r.content[:400]

        for missing in (
            "/static/nope.js",
            "/static/vendor/fetch_vendor.py",
            "/static/vendor/NOTICE",
            "/static/../pages.py",
            "/static/%2e%2e/pages.py",
        ):
            r = await client.get(missing)
            assert r.status_code == 404, missing
            assert r.json() == {"detail": "not_found"}
        r = await client.post("/", json={})
        assert r.status_code == 405


async def test_every_referenced_file_is_served(tmp_path):
    """Each src/href of the page and each module import resolves: no 404 in the browser."""
    html = (STATIC_DIR / "index.html").read_text()
    wanted = set(re.findall(r'(?:src|href)="(/static/[^"?]+)', html))
    for js in (STATIC_DIR / "js").glob("*.js"):
        for name in re.findall(r'from "\./([\w-]+\.js)"', js.read_text()):
            wanted.add(f"/static/js/{name}")
    assert "/static/js/live.js" in wanted
    async with running_server(tmp_path) as server, http_client(server) as client:
        for path in sorted(wanted):
            r = await client.get(path)
            assert r.status_code == 200, path
