"""Keep freed memory in the process, so XLA:CPU's per-chunk temporaries are reused, not faulted in.

XLA:CPU allocates the temporaries of each call (about 180 MB for a 16,384-path chunk) with malloc
and frees them when the call ends. With glibc's defaults, blocks that big live in per-thread
arenas or in their own mmap, and go back to the kernel on free; the next chunk then touches about
49,000 fresh pages, and the page faults cost about a fifth of a chunk's time on the 2-core CI
machine (median chunk 0.36-0.41 s -> 0.28-0.34 s with these settings; ``bench/malloc.py``).

``keep_freed_memory`` asks glibc (``mallopt``) for one arena, no mmap for big blocks and a 1 GiB
trim threshold: freed blocks stay in the heap and the next chunk reuses them. The process keeps
up to 1 GiB of freed memory instead of returning it. Threads choose their arena at their first
allocation, so this only helps when it runs before JAX starts its CPU client. It is process-wide,
so nothing calls it on import: the command line (``jp2040.cli.main``) and the benchmarks call
it first thing, and a notebook user may too. ``JP2040_MALLOC=default`` keeps glibc's defaults
(``engine``, or unset, applies the settings; any other value is an error). Off glibc (macOS,
musl) it does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

M_TRIM_THRESHOLD = -1  # glibc's mallopt parameter numbers (malloc.h)
M_MMAP_MAX = -4
M_ARENA_MAX = -8
TRIM_THRESHOLD_BYTES = 1 << 30
ENV_SWITCH = "JP2040_MALLOC"
CHOICES = ("engine", "default")

_applied: bool | None = None


def keep_freed_memory() -> bool:
    """Apply the settings once per process; True if glibc accepted all three."""
    global _applied
    if _applied is not None:
        return _applied
    choice = os.environ.get(ENV_SWITCH, "engine").strip().lower() or "engine"
    if choice not in CHOICES:
        raise ValueError(
            f"{ENV_SWITCH}: unknown value {os.environ[ENV_SWITCH]!r} (valid: {', '.join(CHOICES)})"
        )
    _applied = False
    if choice == "default" or not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    settings = ((M_ARENA_MAX, 1), (M_MMAP_MAX, 0), (M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES))
    _applied = all(mallopt(param, value) == 1 for param, value in settings)
    return _applied
