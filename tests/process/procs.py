"""Helpers for tests that run Canvas as a separate process (its output goes to files)."""

from __future__ import annotations

import re
import signal
import subprocess
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import trio
from helpers import eventually


@contextmanager
def process(
    args: Sequence[Any], stdout: Path, stderr: Path | None = None, **kwargs: Any
) -> Iterator[subprocess.Popen]:
    """Start `args` with its output in files (stderr with stdout unless given); kill it at
    the end of the block if it is still running."""
    with open(stdout, "wb") as out:
        err = subprocess.STDOUT if stderr is None else open(stderr, "wb")  # noqa: SIM115
        try:
            proc = subprocess.Popen(list(args), stdout=out, stderr=err, **kwargs)
        finally:
            if stderr is not None:
                err.close()
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


async def announced(proc: subprocess.Popen, path: Path, pattern: str, timeout: float = 30) -> str:
    """Wait until `path` has a match for `pattern` (the process still running); group 1."""

    async def found() -> str | None:
        assert proc.poll() is None, path.read_text()
        match = re.search(pattern, path.read_text())
        return match.group(1) if match else None

    return await eventually(found, timeout=timeout)


async def terminate(proc: subprocess.Popen, timeout: float = 15) -> int:
    """SIGTERM, then wait (at most `timeout` seconds) for the exit status."""
    proc.send_signal(signal.SIGTERM)
    with trio.fail_after(timeout):
        while proc.poll() is None:
            await trio.sleep(0.05)
    return proc.returncode
