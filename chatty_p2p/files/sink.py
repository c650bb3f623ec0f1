"""Where a receiving transfer's bytes land: each piece written and hashed straight
from the buffer TLS decrypted it into, by the thread that read it; a file verified
and given its name once all its pieces are; the ranges of a large file, and how far
each got, kept beside its partial for a resume. The connections of one transfer
(its lanes) share one ``Batch``."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable

import blake3

from chatty_p2p.errors import ChattyError
from chatty_p2p.files.landing import SYNC_FROM, Landing, open_partial, write_all
from chatty_p2p.net.bulk import REPORT_EVERY, Reporter
from chatty_p2p.protocol.bulk.wire import Entry, Want


class Ranges:
    """The ranges of one file that travels in pieces: how far each got (saved beside
    the partial, for a resume) and which are verified. The file is complete when all
    are; its lanes share this, so every change happens under a lock."""

    def __init__(self, landing: Landing, index: int, ranges: list[list[int]]) -> None:
        self._landing, self._index = landing, index
        self._ranges = ranges
        self._verified: set[int] = set()
        self._lock = threading.Lock()
        self.failed = False

    def reached(self, start: int, position: int) -> None:
        with self._lock:
            for piece in self._ranges:
                if piece[0] == start:
                    piece[1] = position
            if not self.failed:
                self._landing.save_ranges(self._index, self._ranges)

    def verified(self, start: int) -> bool:
        """Record a range as verified; whether it was the file's last."""
        with self._lock:
            self._verified.add(start)
            return len(self._verified) == len(self._ranges)

    def fail(self) -> bool:
        """Record a range that failed; whether it is the file's first (the one to say so)."""
        with self._lock:
            first, self.failed = not self.failed, True
            return first


class Batch:
    """What the connections of one receiving transfer share: the bytes and files
    landed so far, the files that failed, the ranges of files that come in pieces,
    and the first failure of a lane (which ends the transfer: see ``Plan``)."""

    def __init__(
        self,
        landing: Landing,
        entries: list[Entry],
        dests: list[str],
        reporter: Reporter,
        done: int,
        ranges: dict[int, Ranges],
    ) -> None:
        self.landing, self.entries, self.dests = landing, entries, dests
        self.reporter = reporter
        self.ranges = ranges
        self.written = done
        """Bytes of the batch on disk, those of the files on their way included."""
        self.files = 0
        """Files landed (verified or failed) in this attempt."""
        self.failed: list[tuple[int, str]] = []
        self.error: ChattyError | None = None
        self._lock = threading.Lock()

    def add(self, n: int) -> int:
        with self._lock:
            self.written += n
            return self.written

    def land(self, index: int, got: str, expected: str) -> None:
        """A file's bytes are all here: verified, it gets its name; else it failed."""
        if got != expected:
            self.fail(index)
            return
        entry = self.entries[index]
        saved = self.landing.finish(index, self.dests[index], entry.mtime)
        with self._lock:
            self.files += 1
        self.reporter.file_done(index, str(saved))

    def fail(self, index: int) -> None:
        """A file whose bytes are not the sender's: its partial goes, it is reported."""
        self.landing.forget([index])
        reason = "hash mismatch: the received bytes differ from the sender's file"
        with self._lock:
            self.files += 1
            self.failed.append((index, reason))
        self.reporter.file_failed(index, reason)


class Sink:
    """Writes and hashes the pieces one connection brings, in the order they come."""

    def __init__(self, batch: Batch, prefixes: dict[tuple[int, int], blake3.blake3]) -> None:
        self._batch = batch
        self._prefixes = prefixes
        """Hashers of the bytes already in the partials of pieces that resume."""
        self._fd = -1
        self._want = Want(-1, 0, 0, 0)
        self._position = 0
        self._hasher = blake3.blake3()
        self._reported = 0.0

    def start(self, want: Want) -> None:
        self._want, self._position = want, want.offset
        prefix = self._prefixes.pop((want.index, want.start), None)
        self._hasher = blake3.blake3() if prefix is None else prefix
        # A range must not cut off the bytes of the ranges after it.
        whole = want.index not in self._batch.ranges
        self._fd = open_partial(self._batch.landing.partial(want.index), want.offset, whole)

    def data(self, data: memoryview) -> None:
        write_all(self._fd, data)
        self._hasher.update(data)
        self._position += len(data)
        written = self._batch.add(len(data))
        if time.monotonic() - self._reported > REPORT_EVERY:
            self._reported = time.monotonic()
            want = self._want
            entry = self._batch.entries[want.index]
            if (ranges := self._batch.ranges.get(want.index)) is not None:
                ranges.reached(want.start, self._position)
            self._batch.reporter.progress(written, entry.path, self._position, entry.size)

    def end(self, expected: str, tick: Callable[[], None]) -> None:
        """A piece is complete: its file synced if large (``SYNC_FROM``), verified and
        named once all its pieces are."""
        want, fd, batch = self._want, self._fd, self._batch
        self._fd = -1
        got = self._hasher.hexdigest()
        ranges = batch.ranges.get(want.index)
        try:
            if ranges is None:
                if batch.entries[want.index].size >= SYNC_FROM:
                    ticking(lambda: os.fsync(fd), tick)
            elif got != expected:
                if ranges.fail():
                    batch.fail(want.index)
                return
            else:
                ranges.reached(want.start, want.end)
                if not ranges.verified(want.start) or ranges.failed:
                    return  # other ranges still on their way
                ticking(lambda: os.fsync(fd), tick)  # one fsync covers every lane's writes
                got = expected  # every range verified: so is the file
        finally:
            os.close(fd)
        batch.land(want.index, got, expected)

    def close(self) -> None:
        if self._fd >= 0:
            if (ranges := self._batch.ranges.get(self._want.index)) is not None:
                ranges.reached(self._want.start, self._position)
            os.close(self._fd)
            self._fd = -1


def ticking(work: Callable[[], None], tick: Callable[[], None]) -> None:
    """``work`` in a helper thread, ``tick`` twice a second meanwhile: syncing a file of
    gigabytes to a slow disk can take longer than the link may stay silent."""
    error: list[BaseException] = []

    def run() -> None:
        try:
            work()
        except BaseException as exc:  # raised again in the caller's thread
            error.append(exc)

    worker = threading.Thread(target=run, name="chatty-sync", daemon=True)
    worker.start()
    while worker.is_alive():
        worker.join(0.5)
        tick()
    if error:
        raise error[0]
