"""`canvas demo` runs with the shared logging setup: JSON lines on request, SIGTERM exits 0."""

from __future__ import annotations

import json
import os
import sys

import httpx
import pytest
from procs import announced, process, terminate

URL = r"Canvas on (http://127\.0\.0\.1:\d+)"


@pytest.mark.slow
async def test_demo_serves_and_logs_json_lines(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRADE_CANVAS_")}
    env |= {"TRADE_CANVAS_LOG_FORMAT": "json", "TRADE_CANVAS_DEMO_TYPO": "1"}
    out, err = tmp_path / "out.log", tmp_path / "err.log"
    demo = [sys.executable, "-m", "canvas.cli", "demo", "--data-dir", str(tmp_path / "d")]
    with process(demo, out, err, cwd=tmp_path, env=env) as proc:
        base_url = await announced(proc, out, URL)
        async with httpx.AsyncClient(base_url=base_url, timeout=10) as client:
            assert (await client.get("/healthz")).status_code == 200
        assert await terminate(proc) == 0, err.read_text()
    docs = [json.loads(line) for line in err.read_text().splitlines()]
    assert docs and all({"time", "level", "logger", "message"} <= set(d) for d in docs)
    assert any("TRADE_CANVAS_DEMO_TYPO" in d["message"] for d in docs)
    assert any(d["message"].startswith("canvas ready on") for d in docs)
