"""glibc's malloc, tuned for a server whose helper threads allocate a little and often.

glibc gives every thread that allocates its own arena (up to 8 per core), and an arena keeps
what its threads freed for their next allocations. Our helper threads (one per pooled SQLite
connection, the executor's file and decode workers, libuv's pool) each touched a few MB now
and then, so every new thread grew the idle RSS by its arena's high-water mark, round after
round, until the arena count hit its cap (bench.rss_rounds, issue 8). Two arenas are plenty:
the event loop's thread does almost all the allocation, in the main arena.
"""
from __future__ import annotations

import ctypes
import os

M_ARENA_MAX = -8        # <malloc.h>
DEFAULT_ARENAS = 2


def limit_arenas(n: int = DEFAULT_ARENAS) -> bool:
    """Cap glibc's arenas at n, unless the operator set MALLOC_ARENA_MAX (glibc applied it
    already). Call it before any other thread allocates. False where there is no glibc."""
    if os.environ.get('MALLOC_ARENA_MAX'):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    return mallopt(M_ARENA_MAX, n) == 1
