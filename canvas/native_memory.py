"""Bound the C heap of the server process (glibc malloc arenas).

The ledgers' SQLite work runs in Trio's worker threads, and glibc gives each new thread its own
malloc arena until there are 8 per core. SQLite page-cache pages and apsw row buffers are then
allocated in one arena and freed from another thread or reused from a third, so freed memory
stays scattered over many arenas that glibc rarely returns to the system: the soak saw the
server's RSS climb day after day while every Python-level structure stayed flat (tracemalloc),
and a `malloc_trim(0)` gave back a fifth of the RSS at once. With two arenas the same run stays
flat. The server sets the cap at start-up, before any worker thread exists.
"""

from __future__ import annotations

import ctypes
import logging
import os

log = logging.getLogger(__name__)

# mallopt parameter number of M_ARENA_MAX in glibc's <malloc.h>.
M_ARENA_MAX = -8
# The main arena plus one shared by every worker thread.
SERVER_ARENAS = 2


def limit_malloc_arenas(arenas: int = SERVER_ARENAS) -> bool:
    """Cap glibc's malloc arenas at `arenas` for this process; True when this set the cap.

    A no-op returning False where the C library is not glibc (musl, macOS: no per-thread
    arenas to cap) and where the environment sets MALLOC_ARENA_MAX (left in force).
    """
    if "MALLOC_ARENA_MAX" in os.environ:
        return False  # the operator's own setting, already read by glibc at start-up
    libc = _glibc()
    if libc is None:
        return False
    ok = bool(libc.mallopt(M_ARENA_MAX, arenas))
    if not ok:
        log.warning("could not cap malloc arenas at %d", arenas)
    return ok


def _glibc() -> ctypes.CDLL | None:
    try:
        libc = ctypes.CDLL(None)  # the process's own symbols, the C library's among them
    except OSError:
        return None
    # gnu_get_libc_version exists in glibc only; mallopt's parameter numbers are glibc's.
    if not hasattr(libc, "gnu_get_libc_version") or not hasattr(libc, "mallopt"):
        return None
    libc.mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    libc.mallopt.restype = ctypes.c_int
    return libc
