"""Browser tests: the real `canvas demo` in a subprocess, driven by headless system Chromium.

Playwright's sync API runs outside trio (plain `def` tests and fixtures). The browser is the
machine's Chromium (Debian's `chromium` package), never one Playwright downloads. Without it
the tests are skipped with one line saying how to enable them, except in CI (CI=true), where a
missing browser is a failure. Screenshots of each view go to test-artifacts/browser/.
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
from browserlib import DEMO_SERIES, ENABLE_HINT, ROOT, ConsoleLog, Demo, chromium_path


def pytest_terminal_summary(terminalreporter) -> None:
    """One line at the end of the run when the browser tests could not run."""
    skipped = terminalreporter.stats.get("skipped", [])
    if any(ENABLE_HINT in str(getattr(r, "longrepr", "")) for r in skipped):
        terminalreporter.write_line(f"browser tests skipped — {ENABLE_HINT}")


def pytest_collection_modifyitems(items) -> None:
    """Every browser test drives a real Chromium against a demo process: all are `slow`."""
    here = os.path.dirname(__file__)
    for item in items:
        if str(item.path).startswith(here + os.sep):
            item.add_marker(pytest.mark.slow)


def _require_browser() -> str:
    path = chromium_path()
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        path = None
    if path is None:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(ENABLE_HINT + " (CI requires them)")
        pytest.skip(ENABLE_HINT)
    return path


def _read_url(proc: subprocess.Popen, deadline: float) -> str:
    """The Canvas URL from the demo's first stdout line ("... Canvas on http://...")."""
    while time.monotonic() < deadline:
        ready, _, _ = select.select([proc.stdout], [], [], 0.2)
        if ready:
            line = proc.stdout.readline().decode()
            if "Canvas on " in line:
                return line.split("Canvas on ", 1)[1].split()[0]
        if proc.poll() is not None:
            break
    raise RuntimeError("canvas demo did not start")


@pytest.fixture(scope="session")
def demo(tmp_path_factory) -> Iterator[Demo]:
    """`canvas demo` (simulated exchange + Canvas, debug API and health on) on a free port."""
    _require_browser()
    data = tmp_path_factory.mktemp("demo")
    env = {
        **os.environ,
        "TRADE_CANVAS_PORT": "0",
        # Small pivot windows: a few hundred candles already carry pivots and pens.
        "TRADE_CANVAS_PIVOT_WINDOW_MAJOR": "10",
        "TRADE_CANVAS_PIVOT_WINDOW_MINOR": "3",
        # A burst of more candles than this reaches the page as a gap it re-reads over HTTP.
        "TRADE_CANVAS_MARKET_WS_CATCHUP_LIMIT": "50",
        "TRADE_CANVAS_ENABLE_FACTOR_REBUILD": "1",
    }
    command = [sys.executable, "-m", "canvas.cli", "demo", "--data-dir", str(data)]
    with open(data / "demo.log", "wb") as log:
        proc = subprocess.Popen(
            [*command, "--speed", "20"], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=log
        )
        demo = None
        try:
            demo = Demo(_read_url(proc, time.monotonic() + 60))
            deadline = time.monotonic() + 60
            while len(demo.candles(DEMO_SERIES, limit=300)) < 300:
                assert time.monotonic() < deadline, "the demo did not bootstrap its candles"
                time.sleep(0.1)
            yield demo
        finally:
            if demo is not None:
                demo.http.close()
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            proc.stdout.close()


@pytest.fixture(scope="session")
def browser():
    path = _require_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=path, args=["--no-sandbox"])
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def page(browser, demo):
    """A fresh browser context and page (own localStorage) with every feature switched on."""
    context = browser.new_context(viewport={"width": 1400, "height": 800})
    context.add_init_script(
        "if (!localStorage.getItem('canvas.features.v1'))"
        " localStorage.setItem('canvas.features.v1', JSON.stringify({'pivot.minor': true}))"
    )
    page = context.new_page()
    page.console = ConsoleLog(page)
    try:
        yield page
    finally:
        context.close()
