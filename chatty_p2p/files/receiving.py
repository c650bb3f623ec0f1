"""The receiver's side of a bulk connection: ask for what is missing, land it.

One thread reads, decrypts, writes and hashes: each piece of a file is written
and hashed straight from the buffer TLS decrypted it into. A large file may come
in ranges over several lanes at once (``Lanes``), each landed by a thread of its
own; the ranges of a partial and how far each got are kept beside it
(``landing``), so a resume continues each one.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import blake3

from chatty_p2p.errors import (
    Cancelled,
    ChattyError,
    Paused,
    ProtocolError,
    TransferFailed,
    disk_full,
)
from chatty_p2p.files.landing import SYNC_FROM, Landing, open_partial, why_unwritable, write_all
from chatty_p2p.net.bulk import ALIVE_EVERY, REPORT_EVERY, Channel, Reporter
from chatty_p2p.protocol.bulk.receiver import BulkReceiver
from chatty_p2p.protocol.bulk.wire import (
    DISK_FULL,
    UNWRITABLE,
    AllSent,
    DataReceived,
    Entry,
    FileEnded,
    FileStarted,
    ManifestDone,
    Want,
)
from chatty_p2p.protocol.messages import MAX_LANES
from chatty_p2p.protocol.names import readable

log = logging.getLogger(__name__)


@dataclass
class Incoming:
    """What the receiver knows of an accepted transfer before a bulk connection."""

    transfer_id: str
    count: int
    size: int
    folder: Path
    entries: list[Entry] | None
    dests: list[str] | None
    pending: list[int]
    """Indexes of files not yet landed (ignored while the manifest is unknown)."""


def lanes_here() -> int:
    """Bulk connections this machine uses for one transfer at once: one per two cores
    (a lane keeps about a core busy on each side: TLS and BLAKE3), at most
    ``MAX_LANES``. ``CHATTY_LANES`` sets it instead (the benchmark measures lanes with
    it on a machine too small to choose them)."""
    chosen = os.environ.get("CHATTY_LANES", "")
    count = int(chosen) if chosen.isdigit() else (os.cpu_count() or 1) // 2
    return max(1, min(MAX_LANES, count))


RANGE_FROM = 256 << 20
"""Files from this size on travel in ranges, when both sides have lanes to spare."""
RANGE_MIN = 64 << 20
"""No range is smaller: below this a connection's set-up costs more than it saves."""


def plan_pieces(
    landing: Landing, entries: list[Entry], pending: list[int], lanes: int, ranged: bool
) -> tuple[list[Want], dict[int, _Ranges]]:
    """What to ask for: each pending file from where its partial ends or, for a large
    file with ``lanes`` to spare, in ranges, one per lane. A file that came in ranges
    before resumes each range where it stopped (on whatever lanes there are now);
    with a peer that knows no ranges (``ranged`` false) it starts again, whole."""
    wants: list[Want] = []
    books: dict[int, _Ranges] = {}
    for index in pending:
        size = entries[index].size
        ranges = landing.ranges(index, size)
        if ranges is not None and not ranged:
            landing.forget([index])
            ranges = None
        if ranges is None and lanes > 1 and size >= RANGE_FROM and not landing.have(index, size):
            n = min(lanes, size // RANGE_MIN)
            cuts = [size * k // n for k in range(n + 1)]
            ranges = [[cuts[k], cuts[k], cuts[k + 1]] for k in range(n)]
            landing.save_ranges(index, ranges)
        if ranges is None:
            wants.append(Want.whole(index, landing.have(index, size), size))
            continue
        books[index] = _Ranges(landing, index, ranges)
        lanes_now = max(1, lanes)
        wants += [Want(index, d, s, e, k % lanes_now) for k, (s, d, e) in enumerate(ranges)]
    return wants, books


def receive(
    channel: Channel,
    incoming: Incoming,
    landing: Landing,
    reporter: Reporter,
    lanes: Lanes | None = None,
) -> list[tuple[int, str]]:
    """Fetch what is missing and land it; returns the files that failed, with why.

    One thread reads, decrypts, writes and hashes: each piece of a file is written
    and hashed from the buffer TLS decrypted it into (``_Sink``), with no copy and no
    hand-over to another thread. This thread also tells the sender, about once a
    second, what has landed: the sender is done long before a folder of many small
    files is (see ``bulk``). With ``lanes``, a large file's ranges come over more
    connections at once, each landed by a thread of its own; the main connection's
    RESULT waits for them all.

    A write that fails (a full disk, a read-only folder) raises ``Paused``, after
    telling the sender why: what is on disk stays for ``chatty resume``."""
    attempt = secrets.token_hex(8)
    proto = BulkReceiver(incoming.transfer_id, incoming.count, incoming.size, attempt)
    batch: _Batch | None = None
    threads: list[threading.Thread] = []
    try:
        # OPEN goes first: whatever fails after it reaches the sender as an ERROR
        # about this transfer, which it could not tell apart before.
        channel.write(proto.open(incoming.entries))
        landing.prepare()
        channel.flush()
        entries, dests, pending = incoming.entries, incoming.dests, incoming.pending
        if entries is None or dests is None:
            while not isinstance(channel.next(proto), ManifestDone):
                pass
            entries = proto.entries
            dests = landing.place(entries)
            reporter.manifest(entries, dests)
            pending = [i for i, e in enumerate(entries) if e.kind == "file"]
        count = lanes.count if lanes is not None else 1
        wants, books = plan_pieces(landing, entries, pending, count, lanes is not None)
        log.debug("asking for %d pieces: %s", len(wants), wants[:3])
        left = sum(w.end - w.offset for w in wants)
        batch = _Batch(landing, entries, dests, reporter, incoming.size - left, books)
        reporter.progress(batch.written)
        tick = _ticker(channel, proto, batch)
        # The bytes already here are hashed now, before asking: during the stream the
        # sender could not wait that long for us to read on.
        mine = [w for w in wants if w.lane == 0]
        prefixes = {(w.index, w.start): landing.hashed(w, tick) for w in mine if w.offset > w.start}
        channel.write(proto.want(wants))
        channel.flush()
        for lane in sorted({w.lane for w in wants} - {0}):
            assert lanes is not None
            thread = threading.Thread(
                target=_lane,
                args=(lanes, channel, incoming, batch, lane, wants, attempt),
                name=f"chatty-lane-{lane}",
                daemon=True,
            )
            thread.start()
            threads.append(thread)
        sink = _Sink(batch, prefixes)
        try:
            _land(channel, proto, sink, tick)
        finally:
            sink.close()
        for thread in threads:
            while thread.is_alive():
                thread.join(0.5)
                tick()
        if batch.error is not None:
            raise batch.error
        reporter.progress(batch.written)
        channel.write(proto.result(batch.failed))
        channel.flush()
        return batch.failed
    except OSError as exc:
        error = _cannot_write(exc, landing, channel, proto, batch)
        raise error from exc
    except (TransferFailed, ProtocolError) as exc:
        channel.fail(exc)
        raise
    except ChattyError as exc:
        if batch is not None and batch.error is not None and batch.error is not exc:
            raise batch.error from exc  # a lane's failure stopped us
        raise
    finally:
        if any(thread.is_alive() for thread in threads):
            channel.abort()  # and with it the lanes, which stop at once
        for thread in threads:
            thread.join(10)
        channel.close()


@dataclass
class Lanes:
    """What a receiver needs to use more connections for one transfer."""

    count: int
    """Connections in all, the main one included (both sides' lanes, the fewer)."""
    dial: Callable[[], Channel]
    """Another authenticated bulk connection to the sender."""


def _lane(
    lanes: Lanes,
    main: Channel,
    incoming: Incoming,
    batch: _Batch,
    lane: int,
    wants: list[Want],
    attempt: str,
) -> None:
    """One extra lane of a receiving transfer, in a thread of its own: hash what its
    pieces have already, dial, OPEN naming the lane, land what comes, RESULT. A
    failure is left in ``batch.error`` and stops the main connection (see ``Plan``)."""
    channel: Channel | None = None
    proto = BulkReceiver(incoming.transfer_id, incoming.count, incoming.size, attempt)
    try:
        mine = [w for w in wants if w.lane == lane]
        prefixes = {
            (w.index, w.start): batch.landing.hashed(w, lambda: None)
            for w in mine
            if w.offset > w.start
        }
        channel = lanes.dial()
        main.add_lane(channel)
        channel.write(proto.open_lane(lane, batch.entries, wants))
        channel.flush()
        sink = _Sink(batch, prefixes)
        try:
            _land(channel, proto, sink, _ticker(channel, proto, batch))
        finally:
            sink.close()
        channel.write(proto.result([]))
        channel.flush()
    except BaseException as exc:
        error: BaseException = exc
        if isinstance(exc, OSError):
            error = _cannot_write(exc, batch.landing, channel, proto, batch)
        elif isinstance(exc, TransferFailed | ProtocolError) and channel is not None:
            channel.fail(exc)
        if batch.error is None:
            batch.error = error if isinstance(error, ChattyError) else TransferFailed(str(error))
        main.abort()
    finally:
        if channel is not None:
            channel.close()


def _land(channel: Channel, proto: BulkReceiver, sink: _Sink, tick: Callable[[], None]) -> None:
    """Land what comes on one connection until the sender's END."""
    while True:
        event = channel.next(proto)
        if isinstance(event, DataReceived):
            sink.data(event.data)
        elif isinstance(event, FileStarted):
            sink.start(event.want)
        elif isinstance(event, FileEnded):
            sink.end(event.hash, tick)
        elif isinstance(event, AllSent):
            return
        if channel.cancel.is_set():
            raise Cancelled("cancelled")
        tick()


def _ticker(channel: Channel, proto: BulkReceiver, batch: _Batch) -> Callable[[], None]:
    """A function that tells the sender, at most once per ``ALIVE_EVERY``, what has
    landed (LANDED): how a receiver busy landing says it is alive."""
    told = time.monotonic()

    def tick() -> None:
        nonlocal told
        if time.monotonic() - told >= ALIVE_EVERY:
            told = time.monotonic()
            channel.write(proto.landed(batch.written, batch.files))
            channel.flush()

    return tick


def _cannot_write(
    exc: OSError,
    landing: Landing,
    channel: Channel | None,
    proto: BulkReceiver,
    batch: _Batch | None,
) -> Paused:
    """The pause a failed write means, told to the sender with what is on disk now
    (what a resume will not fetch again, which the sender then shows too)."""
    if batch is not None:
        batch.reporter.progress(batch.written)
    if disk_full(exc):
        error = Paused(f"the disk holding {readable(str(landing.folder))} is full", DISK_FULL)
    else:
        error = Paused(why_unwritable(landing.folder, exc), UNWRITABLE)
    if channel is not None:
        if batch is not None:
            with contextlib.suppress(ChattyError):
                channel.write(proto.landed(batch.written, batch.files))
        channel.fail(error)
    return error


class _Ranges:
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


class _Batch:
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
        ranges: dict[int, _Ranges],
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


class _Sink:
    """Writes and hashes the pieces one connection brings, in the order they come."""

    def __init__(self, batch: _Batch, prefixes: dict[tuple[int, int], blake3.blake3]) -> None:
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
                    _ticking(lambda: os.fsync(fd), tick)
            elif got != expected:
                if ranges.fail():
                    batch.fail(want.index)
                return
            else:
                ranges.reached(want.start, want.end)
                if not ranges.verified(want.start) or ranges.failed:
                    return  # other ranges still on their way
                _ticking(lambda: os.fsync(fd), tick)  # one fsync covers every lane's writes
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


def _ticking(work: Callable[[], None], tick: Callable[[], None]) -> None:
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
