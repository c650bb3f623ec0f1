"""Giving memory back to the system once a crowd of peers has left.

Why: glibc keeps what Python frees in its heap for reuse. After 256 strangers
each left a megabyte of unfinished frame and hung up, nothing held those
buffers any more, yet the node's resident size stayed 30 MB up for good, which
a user reads as a leak (and the next flood would find the same pages free, so
it is not one, but nobody can tell). ``malloc_trim`` hands free pages back. It
costs a few milliseconds, so it runs at most once per ``TRIM_DELAY``, a moment
after peers leave, not for each one.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import sys
from collections.abc import Callable

TRIM_DELAY = 2.0


def _find_trim() -> Callable[[int], int] | None:
    """glibc's ``malloc_trim``, or ``None`` where there is none (macOS, musl)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        trim: Callable[[int], int] = libc.malloc_trim
    except (OSError, AttributeError):
        return None
    return trim


_TRIM = _find_trim()


class Trimmer:
    """Call ``soon()`` whenever something big may have been freed."""

    def __init__(self) -> None:
        self._pending: asyncio.TimerHandle | None = None

    def soon(self) -> None:
        if _TRIM is None or self._pending is not None:
            return
        self._pending = asyncio.get_running_loop().call_later(TRIM_DELAY, self._trim)

    def _trim(self) -> None:
        self._pending = None
        if _TRIM is not None:
            _TRIM(0)

    def cancel(self) -> None:
        if self._pending is not None:
            self._pending.cancel()
            self._pending = None
