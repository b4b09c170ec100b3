"""Helpers shared by the browser tests: the demo handle, screenshots, waiting for the page."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "browser"
DEMO_SERIES = "binance:futures:BTC/USDT:1m"
ENABLE_HINT = "Chromium not found: `apt-get install -y chromium` to run the browser tests"
# Failed loads the page expects and handles: the factor catalog is optional (§4.9 arrived in
# rev 4; an older server answers 404 and the legend falls back to the features it sees).
OPTIONAL_ROUTES = ("/api/factor/catalog",)


def chromium_path() -> str | None:
    """The system Chromium: $CANVAS_CHROMIUM when set (only that), else `chromium` on PATH."""
    explicit = os.environ.get("CANVAS_CHROMIUM")
    candidates = [explicit] if explicit else [shutil.which("chromium"), "/usr/bin/chromium"]
    for candidate in candidates:
        if candidate and Path(candidate).exists():
            return candidate
    return None


class Demo:
    """A running `canvas demo`: its URL and a plain HTTP client for checking the page."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.http = httpx.Client(base_url=base_url, timeout=30)

    def candles(self, series_id: str, **params) -> list[dict]:
        r = self.http.get("/api/market/candles", params={"series_id": series_id, **params})
        assert r.status_code == 200, r.text
        return r.json()["candles"]

    def ingest(self, series_id: str, candles: list[dict]) -> None:
        if len(candles) == 1:
            r = self.http.post(
                "/api/market/ingest/candle_closed",
                json={"series_id": series_id, "candle": candles[0]},
            )
        else:
            r = self.http.post(
                "/api/market/ingest/candles_closed_batch",
                json={"series_id": series_id, "candles": candles},
            )
        assert r.status_code == 200, r.text


class ConsoleLog:
    """Console errors and uncaught exceptions of one page, less the expected optional 404s."""

    def __init__(self, page) -> None:
        self.errors: list[str] = []
        page.on("console", self._console)
        page.on("pageerror", lambda exc: self.errors.append(f"pageerror: {exc}"))

    def _console(self, msg) -> None:
        if msg.type != "error":
            return
        url = (msg.location or {}).get("url", "")
        if "status of 404" in msg.text and url.split("?")[0].endswith(OPTIONAL_ROUTES):
            return
        self.errors.append(f"{msg.text} at {url}")


def screenshot(page, name: str) -> Path:
    """Save a screenshot of the page as a test artefact."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path))
    return path


def wait_live(page, timeout_ms: int = 15000) -> dict:
    """Wait until the live chart has drawn and its WebSocket is subscribed; its state."""
    page.wait_for_function(
        "() => { const s = window.__canvas && window.__canvas.state();"
        " return s && s.phase === 'live' && s.wsOpens >= 1 && s.firstPaintMs !== null; }",
        timeout=timeout_ms,
    )
    return page.evaluate("window.__canvas.state()")
