"""Packaging (§9 rev 4): the wheel carries every package file and serves from an empty directory.

The wheel is built from a copy of the package sources, installed into a fresh virtual
environment outside the source tree, and `canvas serve` runs there with only options. Only the
third-party dependencies are borrowed from the test environment (a path entry, so the test
needs no network): Canvas itself can come from nowhere but the wheel.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import httpx
import pytest
from helpers import candle
from procs import announced, process, terminate

SOURCE = Path(__file__).resolve().parents[2]
PACKAGES = ("canvas", "actors")
SID = "sim:spot:WHL/USDT:1m"
READY = r"canvas ready on (http://127\.0\.0\.1:\d+)"
SKIP = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")


def run(args: list[str | Path], **kwargs) -> subprocess.CompletedProcess:
    proc = subprocess.run(args, check=False, capture_output=True, text=True, timeout=120, **kwargs)
    assert proc.returncode == 0, f"{args}\n{proc.stdout}\n{proc.stderr}"
    return proc


def build_wheel(tmp_path: Path) -> tuple[Path, set[str]]:
    """Build from a copy (the build writes into its source directory); return the wheel and
    the package files it must carry."""
    src = tmp_path / "src"
    src.mkdir()
    shutil.copy(SOURCE / "pyproject.toml", src)
    for package in PACKAGES:
        shutil.copytree(SOURCE / package, src / package, ignore=SKIP)
    # A stand-in for the chart page's files, nested, so package data is proven before they land.
    probe = src / "canvas" / "web" / "static" / "probe" / "probe.css"
    probe.parent.mkdir(parents=True, exist_ok=True)
    probe.write_text("body { margin: 0 }\n")
    expected = {
        p.relative_to(src).as_posix()
        for package in PACKAGES
        for p in (src / package).rglob("*")
        if p.is_file()
    }
    dist = tmp_path / "dist"
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", dist, src])
    (wheel,) = dist.glob("canvas-*.whl")
    return wheel, expected


def install(tmp_path: Path, wheel: Path) -> Path:
    """A fresh venv with the wheel installed; returns its bin directory."""
    venv = tmp_path / "venv"
    run([sys.executable, "-m", "venv", "--without-pip", venv])
    python = venv / "bin" / "python"
    run([sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "-q", wheel])
    # Dependencies from the test environment, as a plain path entry: its .pth files (the
    # editable install of this source tree among them) are not processed.
    target = run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"])
    deps = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    Path(target.stdout.strip(), "test_env_deps.pth").write_text("\n".join(sorted(deps)) + "\n")
    return venv / "bin"


def clean_env() -> dict[str, str]:
    drop = ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")
    return {
        k: v for k, v in os.environ.items() if k not in drop and not k.startswith("TRADE_CANVAS_")
    }


@pytest.mark.slow
async def test_wheel_installs_and_serves_from_an_empty_directory(tmp_path):
    wheel, expected = build_wheel(tmp_path)
    carried = set(zipfile.ZipFile(wheel).namelist())
    assert expected - carried == set(), "package files missing from the wheel"
    bin_dir = install(tmp_path, wheel)
    workdir = tmp_path / "run"
    workdir.mkdir()
    where = run(
        [
            bin_dir / "python",
            "-c",
            "import canvas, actors; print(canvas.__file__, actors.__file__)",
        ],
        cwd=workdir,
        env=clean_env(),
    )
    for path in where.stdout.split():
        assert Path(path).is_relative_to(bin_dir.parent), where.stdout

    log_path = tmp_path / "serve.log"
    serve = [bin_dir / "canvas", "serve", "--host", "127.0.0.1", "--port", "0"]
    serve += ["--data-dir", "ledgers"]
    with process(serve, log_path, cwd=workdir, env=clean_env()) as proc:
        base_url = await announced(proc, log_path, READY)
        async with httpx.AsyncClient(base_url=base_url, timeout=10) as client:
            r = await client.get("/healthz")
            assert r.status_code == 200 and r.json()["status"] == "ok", r.text
            r = await client.post(
                "/api/market/ingest/candle_closed",
                json={"series_id": SID, "candle": candle(600, o=2.5)},
            )
            assert r.status_code == 200, r.text
            r = await client.get("/api/market/candles", params={"series_id": SID})
            assert r.status_code == 200, r.text
            assert [(c["candle_time"], c["open"]) for c in r.json()["candles"]] == [(600, 2.5)]
            if (SOURCE / "canvas" / "web" / "static").is_dir():
                page = await client.get("/")
                assert page.status_code == 200 and "text/html" in page.headers["content-type"]
        assert any((workdir / "ledgers").rglob("*.sqlite")), "ledger not under the working dir"
        assert await terminate(proc) == 0, log_path.read_text()
