"""`canvas demo` runs with the shared logging setup: JSON lines on request, SIGTERM exits 0."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys

import httpx
import trio
from helpers import eventually

URL = re.compile(r"Canvas on (http://127\.0\.0\.1:\d+)")


async def test_demo_serves_and_logs_json_lines(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRADE_CANVAS_")}
    env |= {"TRADE_CANVAS_LOG_FORMAT": "json", "TRADE_CANVAS_DEMO_TYPO": "1"}
    out, err = tmp_path / "out.log", tmp_path / "err.log"
    with open(out, "wb") as stdout, open(err, "wb") as stderr:
        proc = subprocess.Popen(
            [sys.executable, "-m", "canvas.cli", "demo", "--data-dir", str(tmp_path / "d")],
            cwd=tmp_path,
            env=env,
            stdout=stdout,
            stderr=stderr,
        )
    try:

        async def announced() -> str | None:
            assert proc.poll() is None, err.read_text()
            found = URL.search(out.read_text())
            return found.group(1) if found else None

        base_url = await eventually(announced, timeout=30)
        async with httpx.AsyncClient(base_url=base_url, timeout=10) as client:
            assert (await client.get("/healthz")).status_code == 200
        proc.send_signal(signal.SIGTERM)
        with trio.fail_after(15):
            while proc.poll() is None:
                await trio.sleep(0.05)
        assert proc.returncode == 0, err.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    docs = [json.loads(line) for line in err.read_text().splitlines()]
    assert docs and all({"time", "level", "logger", "message"} <= set(d) for d in docs)
    assert any("TRADE_CANVAS_DEMO_TYPO" in d["message"] for d in docs)
    assert any(d["message"].startswith("canvas ready on") for d in docs)
