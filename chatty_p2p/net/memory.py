"""Giving memory back to the system once a crowd of peers has left.

Why: a closed asyncio TLS connection is a knot of reference cycles (transport,
protocol, stream reader and writer, the exception that ended it), so its
buffers (a read buffer, a stream buffer of up to 128 KiB, the rest of a frame)
wait for the cycle collector's rare full pass: after 256 strangers left, 114 MB
of them were still held, never freed for minutes. Then glibc keeps what Python
frees in its heap for reuse, so the resident size stays up anyway, which a user
reads as a leak. So a moment after peers leave, one full collection, then
``malloc_trim`` hands the free pages back. Together they cost tens of
milliseconds, so they run at most once per ``TRIM_DELAY``, not for each peer.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import gc
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
        if self._pending is not None:
            return
        self._pending = asyncio.get_running_loop().call_later(TRIM_DELAY, self._trim)

    def _trim(self) -> None:
        self._pending = None
        gc.collect()
        if _TRIM is not None:
            _TRIM(0)

    def cancel(self) -> None:
        if self._pending is not None:
            self._pending.cancel()
            self._pending = None
