"""Handing freed memory back to the system.

glibc keeps the pages of freed small objects in its arenas, so a process that once parsed a
million log lines or ran a metrics evaluation stays that large (it reuses the space, but the
system cannot). After such one-off peaks the code that made them calls `release_free_memory`.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import platform
from collections.abc import Callable


def _find_malloc_trim() -> Callable[[int], int] | None:
    """glibc's malloc_trim, or None on other C libraries (musl, macOS, Windows)."""
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return None
    try:
        trim = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
    except (OSError, AttributeError):
        return None
    trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
    return trim


_MALLOC_TRIM = _find_malloc_trim()


def release_free_memory() -> None:
    """Return the C allocator's free pages to the system (glibc only; a no-op elsewhere)."""
    if _MALLOC_TRIM is not None:
        _MALLOC_TRIM(0)
