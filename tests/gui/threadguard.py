"""Catches Qt touched off the GUI thread: the mistake that made Settings → Save crash.

Qt's widgets, pixmaps and icons belong to the GUI thread; reading a ``QLineEdit`` from
the node's thread compiles, usually returns the right text, and now and then crashes
the process (a segfault on X11). Nothing in Qt says so at the time, so the tests watch
for it: ``ThreadGuard`` sets a profile function (``threading.setprofile``) on every
thread started while it is installed (the node's, its executor's, a headless peer's)
and records each call those threads make into a method of a Qt object that is not
theirs to touch. The main thread, where the ``QApplication`` lives, is never profiled.

Signals are the door between the threads and stay open: ``signal.emit`` is a method
of the signal, not of its ``QObject``, so it is never recorded.

What it cannot see: a Python method of a ``QObject`` subclass that calls no Qt method,
or a Python attribute read off a widget. ``NodeBridge.call`` closes that gap from the
other side: it refuses work for the node's thread that would take a ``QObject`` along.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from types import FrameType

from PySide6.QtCore import QObject
from PySide6.QtGui import QCursor, QIcon, QPixmap

GUI_ONLY: tuple[type, ...] = (QObject, QPixmap, QIcon, QCursor)
"""Classes whose methods only the GUI thread may call (a ``QObject`` of another
thread's affinity is not in this code base; the bridge hands the node plain values)."""

THREAD_SAFE = frozenset({"deleteLater", "thread"})
"""``QObject`` methods Qt documents as safe from any thread."""

_REPO = str(Path(__file__).resolve().parents[2]) + os.sep


def _where(frame: FrameType | None, limit: int = 4) -> str:
    """The innermost frames of our own code (chatty_p2p/, tests/), innermost first."""
    spots: list[str] = []
    while frame is not None and len(spots) < limit:
        file = frame.f_code.co_filename
        if file.startswith(_REPO) and "/.venv" not in file:
            spots.append(f"{file[len(_REPO) :]}:{frame.f_lineno} in {frame.f_code.co_name}")
        frame = frame.f_back
    return " <- ".join(spots) or "(no frame of ours)"


class ThreadGuard:
    """Install before the threads start (a test's first fixture does), uninstall after
    they ended; ``violations`` lists every off-thread Qt call, once per call site."""

    def __init__(self) -> None:
        self.violations: list[str] = []
        self._seen: set[tuple[str, int, str]] = set()
        self._lock = threading.Lock()

    def _profile(self, frame: FrameType, event: str, arg: object) -> None:
        if event != "c_call":
            return
        owner = getattr(arg, "__self__", None)
        if not isinstance(owner, GUI_ONLY):
            return
        name = getattr(arg, "__name__", "?")
        if name in THREAD_SAFE:
            return
        key = (frame.f_code.co_filename, frame.f_lineno, name)
        with self._lock:
            if key in self._seen:
                return
            self._seen.add(key)
            self.violations.append(
                f"{type(owner).__name__}.{name}() on thread "
                f"{threading.current_thread().name!r}, at {_where(frame)}"
            )

    def install(self) -> None:
        threading.setprofile(self._profile)

    def uninstall(self) -> None:
        threading.setprofile(None)  # type: ignore[arg-type]

    def report(self) -> str:
        return "Qt touched off the GUI thread:\n  " + "\n  ".join(self.violations)
