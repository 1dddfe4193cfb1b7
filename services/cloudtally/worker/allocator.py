"""glibc malloc, tuned for a worker that allocates large short-lived buffers.

Each flush builds column arrays of up to a million rows and frees them. With glibc's
defaults three things keep that memory after the flush: a heap (arena) per thread
that allocated (up to 8 per core), a dynamic mmap threshold that rises to the size of
the largest block freed (so the next flush's arrays come from a heap, not fresh
mappings), and free pages left inside the heaps. So the worker caps the arenas, fixes
the mmap threshold (large blocks are mapped and unmapped on free) and trims the heaps
after a flush. Measured in docs/operations.md "Memory". No-op where glibc is absent.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import time
from collections.abc import Callable
from typing import TypeVar

log = logging.getLogger(__name__)

M_TRIM_THRESHOLD = -1  # glibc malloc.h
M_MMAP_THRESHOLD = -3
M_ARENA_MAX = -8
T = TypeVar("T")


def _libc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
    except OSError:
        return None
    return libc if libc is not None and hasattr(libc, "mallopt") else None


LIBC = _libc()


def tune(arena_max: int, mmap_threshold_kb: int) -> bool:
    """Cap the arenas and fix the mmap threshold (0 leaves glibc's default). Call it
    before the threads start: an arena, once made, stays. True if glibc took them."""
    if LIBC is None:
        return False
    ok = True
    if arena_max > 0:
        ok &= LIBC.mallopt(M_ARENA_MAX, arena_max) == 1
    if mmap_threshold_kb > 0:
        size = mmap_threshold_kb * 1024
        ok &= LIBC.mallopt(M_MMAP_THRESHOLD, size) == 1
        ok &= LIBC.mallopt(M_TRIM_THRESHOLD, 4 * size) == 1  # no longer dynamic either
    if not ok:
        log.warning("glibc refused the malloc settings (arena_max=%s, mmap=%s KiB)",
                    arena_max, mmap_threshold_kb)  # fmt: skip
    return bool(ok)


class Trimmer:
    """Return free heap pages to the system after a flush, at most every ``every_s``."""

    def __init__(self, every_s: float = 1.0) -> None:
        self.every_s = every_s
        self.last = 0.0

    def trim(self) -> None:
        now = time.monotonic()
        if LIBC is not None and now - self.last >= self.every_s:
            self.last = now
            LIBC.malloc_trim(0)

    def after(self, fn: Callable[[], T]) -> Callable[[], T]:
        """``fn``, then a trim (in the same thread: the flush's thread)."""

        def run() -> T:
            try:
                return fn()
            finally:
                self.trim()

        return run
