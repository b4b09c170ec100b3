"""The server's cap on glibc malloc arenas: worker threads share them instead of each growing
its own (the soak's steadily rising RSS). Each case runs in a fresh interpreter, since a cap
only holds for arenas not yet created."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from canvas.native_memory import _glibc

pytestmark = pytest.mark.skipif(_glibc() is None, reason="malloc arenas are glibc's")

# Eight threads allocate at once through the C library, then glibc prints one
# "Arena N:" block per arena to stderr.
SCRIPT = """
import ctypes, sys, threading
from canvas.native_memory import limit_malloc_arenas
if sys.argv[1] == "cap":
    assert limit_malloc_arenas()
libc = ctypes.CDLL(None)
libc.malloc.restype = ctypes.c_void_p
libc.free.argtypes = [ctypes.c_void_p]
barrier = threading.Barrier(8)
def work():
    barrier.wait()
    blocks = [libc.malloc(4096) for _ in range(64)]
    barrier.wait()
    for b in blocks:
        libc.free(b)
threads = [threading.Thread(target=work) for _ in range(8)]
for t in threads:
    t.start()
for t in threads:
    t.join()
libc.malloc_stats()
"""


def arenas_after_eight_threads(mode: str) -> int:
    env = {k: v for k, v in os.environ.items() if k != "MALLOC_ARENA_MAX"}
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT, mode],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return len(re.findall(r"^Arena \d+:", out.stderr, re.MULTILINE))


def test_worker_threads_share_the_capped_arenas():
    # Uncapped, glibc gives each new thread an arena of its own (up to 8 per core): the
    # growth the cap exists to stop, and the proof that counting arenas sees it.
    assert arenas_after_eight_threads("free") > 2
    assert arenas_after_eight_threads("cap") <= 2


def test_the_environment_setting_wins(monkeypatch):
    from canvas.native_memory import limit_malloc_arenas

    monkeypatch.setenv("MALLOC_ARENA_MAX", "4")
    assert limit_malloc_arenas() is False
