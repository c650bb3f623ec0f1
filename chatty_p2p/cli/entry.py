"""``chatty``'s entry point: parse the command line, run the command (or open the
window), and turn what a user can act on into one line.

Errors a user can act on, and failures of the data dir (unwritable, full,
a damaged database), are printed as one plain line and exit 1; nothing here
prints a traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import sys
from collections.abc import Mapping
from pathlib import Path

from chatty_p2p import config
from chatty_p2p.cli.parser import parse
from chatty_p2p.errors import ChattyError


def main(argv: list[str] | None = None) -> int:
    # A file name that is not UTF-8 is printed with escapes, never as a crash.
    if isinstance(sys.stdout, io.TextIOWrapper):
        sys.stdout.reconfigure(errors="backslashreplace")
    try:
        args = parse(argv)  # --help and --version print here
        config.check_interfaces(args.interface)
        status = _window(args) if args.command is None else _run(args)
        sys.stdout.flush()  # here, where a reader that went away is caught, not at exit
        return status
    except ChattyError as exc:  # an argument of the wrong form (see cli/args.py)
        fail(str(exc))
        return 1
    except BrokenPipeError:
        # The reader went away (`chatty history PEER | head`): the standard remedy, so
        # that the interpreter's last flush at exit does not complain either.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


def configure_logging(args: argparse.Namespace) -> None:
    """The log a user sees. By default one plain line per warning, as every other error
    here (no time, no module); the daemon, whose event lines already say what happened
    (a declined offer, a full disk), shows only errors, which are bugs. ``-v`` brings the
    whole log back, timed and by module; ``-vv`` adds debugging."""
    # Lazy for start-up, not for a cycle: --version and --help never log.
    import logging

    if args.verbose:
        level = logging.INFO if args.verbose == 1 else logging.DEBUG
        layout = "%(asctime)s %(name)s: %(message)s"
    else:
        level = logging.ERROR if args.command == "daemon" else logging.WARNING
        layout = "chatty: %(message)s"
    logging.basicConfig(level=level, format=layout, stream=sys.stderr)
    if args.verbose < 2:
        # zeroconf reports every unroutable address family (say, IPv6 without a route) with a
        # traceback on each send; that is noise for a user, and `chatty -vv` shows it.
        logging.getLogger("zeroconf").setLevel(logging.CRITICAL)


def _run(args: argparse.Namespace) -> int:
    # Lazy for start-up, not for a cycle: --version and --help never get here.
    import asyncio

    configure_logging(args)
    try:
        result: int = asyncio.run(args.func(args))
        return result
    except ChattyError as exc:
        fail(str(exc))
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        raise
    except Exception as exc:
        if (reason := storage_failure(exc, args)) is None:
            raise
        fail(reason)
    return 1


def fail(message: str) -> None:
    print(f"chatty: {message}", file=sys.stderr, flush=True)


def missing_display(env: Mapping[str, str]) -> str | None:
    """Why Qt would find no display ("DISPLAY=:99 cannot be reached", or "" when none
    is set at all); None when one answers, or when the caller chose a platform
    (``QT_QPA_PLATFORM``, as ``offscreen`` in tests)."""
    if env.get("QT_QPA_PLATFORM"):
        return None
    reasons = []
    if wayland := env.get("WAYLAND_DISPLAY", ""):
        # A relative name lives in XDG_RUNTIME_DIR; Path() keeps an absolute one as is.
        if Path(env.get("XDG_RUNTIME_DIR", "/nonexistent"), wayland).is_socket():
            return None
        reasons.append(f"WAYLAND_DISPLAY={wayland} has no socket")
    if x11 := env.get("DISPLAY", ""):
        if _x11_answers(x11):
            return None
        reasons.append(f"DISPLAY={x11} cannot be reached")
    return "; ".join(reasons)


def _x11_answers(display: str) -> bool:
    """Whether an X server listens for ``display`` (``:0``, ``:0.0``, ``host:10``,
    ``unix:1``): on its socket in ``/tmp/.X11-unix`` (or the abstract one of that
    name), or on TCP port 6000 + n of the host."""
    # Lazy for start-up, not for a cycle: only the window looks for a display.
    import socket

    host, _, rest = display.rpartition(":")
    number = rest.split(".")[0]
    if not number.isdigit():
        return False
    if host in ("", "unix") and sys.platform != "win32":  # Windows has no X11 socket
        path = f"/tmp/.X11-unix/X{number}"
        for where in (path, "\0" + path):
            with socket.socket(socket.AF_UNIX) as unix:
                unix.settimeout(2)
                with contextlib.suppress(OSError):
                    unix.connect(where)
                    return True
        if host == "unix":
            return False
        host = "localhost"
    try:
        socket.create_connection((host, 6000 + int(number)), timeout=2).close()
    except OSError:
        return False
    return True


def storage_failure(exc: BaseException, args: argparse.Namespace) -> str | None:
    """One line for a failure of the disk under a command (an unwritable or full data
    dir, a damaged database), naming the folder and what to do; None for anything else,
    which is a bug and keeps its traceback."""
    sqlite3 = sys.modules.get("sqlite3")
    directory = config.data_dir(args.data_dir)
    fix = "make it a folder you can write to, or choose another with --data-dir (or CHATTY_HOME)"
    if isinstance(exc, OSError):
        named = isinstance(exc.filename, str | bytes) and exc.filename
        where = Path(os.fsdecode(exc.filename)) if named else directory
        reason = exc.strerror or str(exc)
        if where == directory or directory in where.parents:
            return f"cannot use the data folder {directory} ({reason}): {fix}"
        return f"cannot use {where}: {reason}"
    if sqlite3 is not None and isinstance(exc, sqlite3.Error):
        return f"cannot use the database in {directory} ({exc}): {fix}"
    return None


def _window(args: argparse.Namespace) -> int:
    """``chatty`` with no command. Qt aborts (SIGABRT, blaming a missing libxcb-cursor0)
    when it cannot reach a display, so on Linux the display is looked for first."""
    missing = missing_display(os.environ) if sys.platform.startswith("linux") else None
    if missing is not None:
        why = f" ({missing})" if missing else ""
        fail(f"no display found{why}; run `chatty daemon` for a headless node")
        return 1
    try:
        # Lazy for start-up, not for a cycle: Qt is for the window alone, and may be
        # missing where only the commands are used.
        from chatty_p2p.gui.app import run
    except ImportError as exc:  # PySide6 or the system's Qt libraries missing
        fail(f"the window cannot start ({exc}); `chatty daemon` runs without it")
        return 1
    try:
        return run(args)
    except Exception as exc:
        if (reason := storage_failure(exc, args)) is None:
            raise
        fail(reason)
        return 1
