"""What the user types: lines read from the terminal while a command runs on the
event loop, typed text made fit for a message, and Ctrl-C for a command that runs
until stopped. Used by ``chat``, ``pair``, ``share`` and ``daemon``; it imports
nothing of the CLI."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import threading
from collections.abc import Callable

from chatty_p2p import portable


def as_text(typed: str) -> str:
    """What was typed, as text a message can carry: bytes that were not valid in the
    terminal's encoding (which Python keeps as lone surrogates, and which no message can
    carry) become U+FFFD, as any text viewer would show them."""
    return typed.encode("utf-8", "surrogatepass").decode("utf-8", "replace")


def read_terminal(on_line: Callable[[str], None]) -> None:
    """Hand each line typed on stdin to ``on_line`` on the running loop, then ``""``
    at its end. The reader is a daemon thread: a question nobody answers must not keep
    the process alive once the command is over (``asyncio.run`` would wait for an
    ``asyncio.to_thread`` reader until the user pressed Enter). It reads the file
    descriptor, not ``sys.stdin``, whose lock it would hold while blocked, and the
    interpreter's exit would then abort on that lock. Bytes that are not text in the
    terminal's encoding are kept as surrogates, so a typed path still names its file."""
    loop = asyncio.get_running_loop()
    encoding = getattr(sys.stdin, "encoding", None) or "utf-8"

    def hand(line: bytes) -> None:
        loop.call_soon_threadsafe(on_line, line.decode(encoding, "surrogateescape"))

    def read() -> None:
        pending = b""
        try:
            with contextlib.suppress(OSError, ValueError):  # no stdin: as if at its end
                while chunk := os.read(sys.stdin.fileno(), 65536):
                    *lines, pending = (pending + chunk).split(b"\n")
                    for line in lines:
                        hand(line + b"\n")
            if pending:
                hand(pending)
            hand(b"")
        except RuntimeError:  # the loop is closed: the command is over
            pass

    threading.Thread(target=read, name="stdin", daemon=True).start()


def stop_signalled() -> asyncio.Event:
    """Set by Ctrl-C (SIGINT) or SIGTERM, so a command that runs until stopped ends
    through its own clean-up on the loop instead of a KeyboardInterrupt in the middle
    of it."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        if sys.platform != "win32" and not portable.forced():
            loop.add_signal_handler(sig, stop.set)
        else:  # Windows' event loops have no signal handlers: Python's own, then the loop
            signal.signal(sig, lambda *_: loop.call_soon_threadsafe(stop.set))
    return stop
