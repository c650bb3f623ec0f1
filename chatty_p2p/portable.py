"""Where Chatty runs on something other than Linux, and the few primitives that differ.

Chatty's Linux code uses what only Linux (or POSIX) has: a Unix control socket,
``fcntl.flock``, ``O_NOFOLLOW``, ``preadv``, rtnetlink, ``/sys`` and ``/proc``. Each
has a portable path for Windows and macOS. Whether to take it is read here alone:
``forced``, and ``linux_sources`` for what only Linux has. Code that needs what one
platform lacks also tests ``sys.platform`` itself, as in
``if sys.platform != "win32" and not portable.forced():``, because that is the test
mypy reads.

We cannot run Windows or macOS in CI, so ``CHATTY_PORTABLE=1`` forces the portable
paths on Linux too: the test suites run once more with it set (``scripts/test``),
and the code Windows runs is exercised there. It is for tests and for telling a
platform bug from a Chatty one; a user never needs it. ``mypy --platform win32``
and ``--platform darwin`` check the rest: a branch guarded by ``sys.platform`` is
only type-checked for the platform it can run on.

Standard library only, and nothing heavy: ``config`` imports this at every start.
"""

from __future__ import annotations

import errno
import os
import stat
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import filelock

SWITCH = "CHATTY_PORTABLE"

if sys.platform != "win32":
    import fcntl


def forced() -> bool:
    """Whether ``CHATTY_PORTABLE=1`` asks for the portable paths on this system."""
    return os.environ.get(SWITCH) == "1"


def system() -> str:
    """``sys.platform``, or, with the switch, a name no platform test takes for Linux:
    for code that reads Linux-only sources when the platform it is given says Linux."""
    return f"{SWITCH}=1 on {sys.platform}" if forced() else sys.platform


def linux_sources() -> bool:
    """Whether to read what only Linux has (``/sys``, ``/proc``, rtnetlink, nftables):
    on Linux, unless the switch is set. Elsewhere a reader polls, or says it did not
    look, instead."""
    return system().startswith("linux")


class Held(Protocol):
    """A lock held until ``close``."""

    def close(self) -> None: ...


class _Released:
    """A ``filelock`` lock, with ``close`` to let it go, as a flocked file has."""

    def __init__(self, lock: filelock.BaseFileLock) -> None:
        self._lock = lock

    def close(self) -> None:
        self._lock.release()


def lock(path: Path, note: str = "") -> Held | None:
    """An exclusive lock on the file ``path``, held until ``close`` or the process
    ends, or ``None`` at once if another holds it (it never waits).

    POSIX: ``flock`` on the file, which then holds ``note`` (a pid, for a person
    looking). Windows (or the switch): the ``filelock`` library, whose Windows lock is
    ``LockFileEx``; it is imported here because the check runs at every start and
    most starts never need it. A ``flock`` and a ``filelock`` on Linux exclude each
    other, so a process with the switch and one without still see each other's lock.
    The file holds no ``note`` there: Windows refuses writes to a locked byte from any
    other handle than the lock's own, which ``filelock`` does not share.
    """
    if sys.platform != "win32" and not forced():
        handle = open(path, "a+")  # noqa: SIM115 (held until close)
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            return None
        if note:
            handle.seek(0)
            handle.truncate()
            handle.write(note)
            handle.flush()
        return handle
    import filelock

    held = filelock.FileLock(path, timeout=0, thread_local=False)
    try:
        held.acquire()
    except filelock.Timeout:
        return None
    return _Released(held)


def open_nofollow(path: str | os.PathLike[str], flags: int, mode: int = 0o777) -> int:
    """``os.open`` that refuses a symbolic link as the last part of ``path`` (ELOOP),
    so that a link someone put in a download folder or a share never redirects a write
    or a read.

    POSIX: ``O_NOFOLLOW`` (the kernel refuses, atomically) and ``O_CLOEXEC``.

    Windows (or the switch) has neither flag: a link found there before the open is
    refused, and afterwards the file opened must be the one the path names (same device
    and inode, by ``lstat``). What is lost: a link put in place and taken away again
    between the two looks is not seen, and opening through it may have created an
    empty file at its target (``O_CREAT``). Making a symbolic link on Windows takes an
    administrator or developer mode, which narrows who could try. Handles on Windows
    are not inherited by child processes anyway (PEP 446). ``O_BINARY`` is added there:
    without it every byte read or written through the descriptor passes through the
    C runtime's newline translation.
    """
    if sys.platform != "win32" and not forced():
        return os.open(path, flags | os.O_NOFOLLOW | os.O_CLOEXEC, mode)
    if sys.platform == "win32":
        flags |= os.O_BINARY
    try:
        if stat.S_ISLNK(os.lstat(path).st_mode):
            raise _link_in_the_way(path)
    except FileNotFoundError:
        pass
    fd = os.open(path, flags, mode)
    try:
        opened, named = os.fstat(fd), os.lstat(path)
        if (opened.st_dev, opened.st_ino) != (named.st_dev, named.st_ino):
            raise _link_in_the_way(path)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _link_in_the_way(path: str | os.PathLike[str]) -> OSError:
    return OSError(errno.ELOOP, "a symbolic link is in the way", os.fsdecode(path))


def read_at(fd: int, view: memoryview, position: int) -> int:
    """Read into ``view`` from ``position`` of the open file ``fd``; how many bytes came
    (0 at its end). POSIX: ``preadv``, which leaves the file's offset alone. Windows
    (or the switch) has no positioned read, nor has a macOS before 11 under a Python
    built for older ones: a seek, then a read, which moves the offset; a caller seeks
    before it reads on its own."""
    if sys.platform != "win32" and not forced() and hasattr(os, "preadv"):
        return os.preadv(fd, [view], position)
    os.lseek(fd, position, os.SEEK_SET)
    with open(fd, "rb", buffering=0, closefd=False) as raw:
        return raw.readinto(view) or 0
