"""The download folder as one incoming transfer sees it.

Landing files safely is the receiver's job here:

* bytes go to ``<download>/.chatty-partial/<transfer>/<index>``, never to the
  final name; a file is linked to its final name only after its hash matched,
  and without replacing anything (a taken name gets `` (1)``, `` (2)`` …);
* names come from ``protocol.names``; every folder on the way is checked with
  ``lstat`` and created by us, and partials are opened refusing a symlink
  (``portable.open_nofollow``, which says what Windows loses), so nothing is
  written through a symlink;
* resuming hashes the partial bytes already on disk, then appends, so the
  final hash always covers the whole file.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path

import blake3

from chatty_p2p import portable
from chatty_p2p.errors import (
    ChattyError,
    TransferFailed,
    why_failed,
)
from chatty_p2p.protocol.bulk.wire import CHUNK, Entry, Want
from chatty_p2p.protocol.ids import ITEM_ID
from chatty_p2p.protocol.names import UnsafePath, numbered, readable, safe_relpath

log = logging.getLogger(__name__)

PARTIAL_DIR = ".chatty-partial"


FILE_MODE = 0o666
"""A received file's permissions before the umask, from a peer or a browser share alike:
those of any file its user makes, or a browser downloads (0644 with the usual umask,
0600 with a private one). The partial is created with them and keeps them."""
SYNC_FROM = 1 << 20
"""Files from this size on are fsynced before they get their final name. Below it the
cost per file (a journal commit each, 4 ms here) would cap a folder of small files at
a few hundred per second, for little gain: the kernel's ordered writes already keep a
linked file's data ahead of its name on the usual Linux file systems."""


class Landing:
    """The download folder as seen by one incoming transfer."""

    def __init__(self, folder: Path, transfer_id: str) -> None:
        self.folder = folder
        self.partials = folder / PARTIAL_DIR / transfer_id

    def prepare(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        for part in (self.partials.parent, self.partials):
            _real_dir(part, create=True)

    def partial(self, index: int) -> Path:
        return self.partials / str(index)

    def hashed(self, want: Want, tick: Callable[[], None]) -> blake3.blake3:
        """A hasher fed the bytes of a partial a piece already has (``hashed_prefix``)."""
        fd = portable.open_nofollow(self.partial(want.index), os.O_RDONLY)
        try:
            return hashed_prefix(fd, want.start, want.offset, tick)
        finally:
            os.close(fd)

    def _ranges_file(self, index: int) -> Path:
        return self.partials / f"{index}.ranges"

    def ranges(self, index: int, size: int) -> list[list[int]] | None:
        """The ranges of a partial that came in pieces, as ``[start, done, end]`` each:
        ``None`` for a file that came whole, or whose record is unusable (then the
        partial goes too, and the file starts again: its bytes cannot be told apart)."""
        record = self._ranges_file(index)
        if not record.exists():
            return None
        try:
            ranges = json.loads(record.read_text())
            starts = [r[0] for r in ranges]
            ends = [r[2] for r in ranges]
            if (
                starts != [0, *ends[:-1]]
                or ends[-1] != size
                or any(not r[0] <= r[1] <= r[2] for r in ranges)
            ):
                raise ValueError(ranges)
        except (OSError, ValueError, TypeError, IndexError, KeyError):
            log.info("the ranges of partial %s are unusable; it starts again", index)
            self.forget([index])
            return None
        return [[int(v) for v in r] for r in ranges]

    def save_ranges(self, index: int, ranges: list[list[int]]) -> None:
        """Record how far each range of a partial got (replaced whole, never half-written)."""
        record = self._ranges_file(index)
        temporary = record.with_suffix(".new")
        temporary.write_text(json.dumps(ranges))
        os.replace(temporary, record)

    def have(self, index: int, size: int) -> int:
        """Bytes of this file already on disk from an earlier attempt."""
        try:
            return min(os.lstat(self.partial(index)).st_size, size)
        except FileNotFoundError:
            return 0

    def place(self, entries: list[Entry]) -> list[str]:
        """A safe relative destination per entry. Each top-level folder gets a fresh
        name in the download folder (``photos`` taken: ``photos (1)``), created now."""
        tops: dict[str, str] = {}
        dests = []
        unsafe = False
        for entry in entries:
            try:
                parts = list(safe_relpath(entry.path))
            except UnsafePath as exc:
                raise TransferFailed(f"refusing the batch: {exc}") from exc
            if not unsafe and (entry.path.startswith("/") or ".." in entry.path.split("/")):
                # No Chatty builds such a path: the sender is broken or hostile. Once a batch.
                unsafe = True
                log.warning("unsafe path %r from the sender, saved as %r", entry.path, parts)
            if len(parts) > 1 or entry.kind == "dir":
                top = parts[0]
                if top not in tops:
                    tops[top] = self._new_folder(top)
                parts[0] = tops[top]
            dests.append("/".join(parts))
        for entry, dest in zip(entries, dests, strict=True):
            if entry.kind == "dir":
                self._parent_dirs(dest + "/x")
        return dests

    def _new_folder(self, name: str) -> str:
        n, candidate = 0, name
        while True:
            try:
                (self.folder / candidate).mkdir()
                return candidate
            except FileExistsError:
                n += 1
                candidate = numbered(name, n)

    def _parent_dirs(self, dest: str) -> Path:
        """Create (or check) each folder above ``dest``; none may be a symlink."""
        current = self.folder
        for part in dest.split("/")[:-1]:
            current = current / part
            _real_dir(current, create=True)
        return current

    def finish(self, index: int, dest: str, mtime: float) -> Path:
        """Give a verified partial its final name, never replacing anything there.

        The partial stays, a second name of the same file, until the store has
        recorded the file as landed (``forget``): if this run is killed before
        that, the next one lands the file again, finds it already under one of
        its names and so does not make a copy named `` (1)``."""
        partial = self.partial(index)
        with contextlib.suppress(OverflowError, ValueError):  # a time this system cannot store
            os.utime(partial, (mtime, mtime))
        parent = self._parent_dirs(dest)
        name = dest.rsplit("/", 1)[-1]
        n, candidate = 0, name
        while True:
            final = parent / candidate
            try:
                os.link(partial, final, follow_symlinks=False)
                return final
            except FileExistsError:
                if _same_file(partial, final):
                    return final
                n += 1
                candidate = numbered(name, n)
            except OSError as exc:  # a file system without hard links
                if exc.errno not in (errno.EPERM, errno.EOPNOTSUPP, errno.EXDEV):
                    raise
                if os.path.lexists(final):
                    n += 1
                    candidate = numbered(name, n)
                    continue
                os.rename(partial, final)
                return final

    def forget(self, indexes: list[int]) -> None:
        """Drop the partials of files the store now records as landed (see ``finish``)."""
        for index in indexes:
            self.partial(index).unlink(missing_ok=True)
            self._ranges_file(index).unlink(missing_ok=True)

    def discard(self) -> None:
        """Remove every partial of this transfer (cancelled, failed, finished). What
        cannot be removed now (a disk gone read-only) goes at the next start-up
        (``remove_leftovers``): ending the transfer must not fail for it."""
        if self.partials.is_dir() and not self.partials.is_symlink():
            with contextlib.suppress(OSError):
                for child in self.partials.iterdir():
                    child.unlink(missing_ok=True)
                self.partials.rmdir()
                self.partials.parent.rmdir()  # only when no other transfer uses it


def _same_file(a: Path, b: Path) -> bool:
    try:
        sa, sb = os.lstat(a), os.lstat(b)
    except OSError:
        return False
    return (sa.st_dev, sa.st_ino) == (sb.st_dev, sb.st_ino)


def why_unwritable(folder: Path, exc: OSError) -> str:
    """Plain words for why nothing can be saved in ``folder``. A file where the folder
    (or a folder above it) should be is named as such: the system's words for it, "File
    exists" or "Not a directory", leave a person guessing what is wrong."""
    shown = readable(str(folder))
    if exc.errno in (errno.EEXIST, errno.ENOTDIR):
        return f"cannot write in {shown}: a file is in the way where a folder should be"
    return f"cannot write in {shown}: {why_failed(exc)}"


def check_folder(folder: Path) -> None:
    """Make ``folder`` if it is missing and try a file in it; ``ChattyError`` in plain
    words if files cannot be saved there. Run when the download folder is set, so that
    a file in its place or a read-only disk is refused then, not found by a transfer."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        raise ChattyError(why_unwritable(folder, exc)) from exc


def remove_leftovers(folders: set[Path], keep: set[tuple[Path, str]]) -> None:
    """Remove the partial bytes in these download folders of every transfer not in
    ``keep`` (folder, id): those of transfers that ended, or that the store forgot,
    would otherwise stay for ever (a crash between the end and the clean-up).
    Only transfer ids are touched: ``chatty share`` keeps its uploads there too."""
    for folder in folders:
        try:
            children = [p.name for p in (folder / PARTIAL_DIR).iterdir()]
        except OSError:  # no partials there, or the folder is gone or unreadable
            continue
        for name in children:
            if ITEM_ID.fullmatch(name) and (folder, name) not in keep:
                log.info("removing the leftovers of transfer %s in %s", name[:8], folder)
                with contextlib.suppress(OSError):
                    Landing(folder, name).discard()


def _real_dir(path: Path, create: bool) -> None:
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        if not create:
            raise
        # Another transfer into the same folder may create it at the same moment.
        with contextlib.suppress(FileExistsError):
            path.mkdir(mode=0o755)
        st = os.lstat(path)
    if not stat.S_ISDIR(st.st_mode):
        raise TransferFailed(f"{path} is in the way (not a folder); nothing written through it")


def open_partial(path: Path, offset: int, truncate: bool) -> int:
    """Open a partial for writing at ``offset`` (its bytes before are hashed already:
    ``Landing.hashed``); ``truncate`` drops what is after it (not for a range)."""
    fd = portable.open_nofollow(path, os.O_RDWR | os.O_CREAT, FILE_MODE)
    try:
        if truncate:
            os.ftruncate(fd, offset)
        os.lseek(fd, offset, os.SEEK_SET)
    except BaseException:
        os.close(fd)
        raise
    return fd


def hashed_prefix(fd: int, start: int, end: int, tick: Callable[[], None]) -> blake3.blake3:
    """A hasher fed bytes ``start`` to ``end`` of an open file: how a resumed file's (or
    range's) hash still covers all of it, on both sides. That can take minutes (many
    gigabytes, a slow disk): ``tick`` is called between reads to keep the link alive."""
    hasher = blake3.blake3()
    view = memoryview(bytearray(min(CHUNK, end - start)))  # most start at once: no buffer
    position = start
    while position < end:
        n = portable.read_at(fd, view[: min(CHUNK, end - position)], position)
        if not n:
            raise TransferFailed("a file is shorter than the bytes already transferred")
        hasher.update(view[:n])
        position += n
        tick()
    return hasher


def write_all(fd: int, data: bytes | memoryview) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]
