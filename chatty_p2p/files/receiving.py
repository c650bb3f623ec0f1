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

from chatty_p2p.errors import (
    Cancelled,
    ChattyError,
    Paused,
    ProtocolError,
    TransferFailed,
    disk_full,
)
from chatty_p2p.files.landing import Landing, why_unwritable
from chatty_p2p.files.sink import Batch, Ranges, Sink
from chatty_p2p.net.bulk import ALIVE_EVERY, Channel, Reporter
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
) -> tuple[list[Want], dict[int, Ranges]]:
    """What to ask for: each pending file from where its partial ends or, for a large
    file with ``lanes`` to spare, in ranges, one per lane. A file that came in ranges
    before resumes each range where it stopped (on whatever lanes there are now);
    with a peer that knows no ranges (``ranged`` false) it starts again, whole."""
    wants: list[Want] = []
    books: dict[int, Ranges] = {}
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
        books[index] = Ranges(landing, index, ranges)
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
    """Fetch what is missing and land it (``Sink``); returns the files that failed,
    with why. About once a second it tells the sender what has landed: the sender is
    done long before a folder of many small files is. With ``lanes``, the main
    connection's RESULT waits for every lane. A write that fails (a full disk, a
    read-only folder) raises ``Paused``, after telling the sender why: what is on
    disk stays for ``chatty resume``."""
    proto = BulkReceiver(incoming.transfer_id, incoming.count, incoming.size, secrets.token_hex(8))
    batch: Batch | None = None
    threads: list[threading.Thread] = []
    try:
        # OPEN goes first: whatever fails after it reaches the sender as an ERROR
        # about this transfer, which it could not tell apart before.
        channel.write(proto.open(incoming.entries))
        landing.prepare()
        channel.flush()
        entries, dests, pending = _manifest(channel, proto, incoming, landing, reporter)
        count = lanes.count if lanes is not None else 1
        wants, books = plan_pieces(landing, entries, pending, count, lanes is not None)
        log.debug("asking for %d pieces: %s", len(wants), wants[:3])
        left = sum(w.end - w.offset for w in wants)
        batch = Batch(landing, entries, dests, reporter, incoming.size - left, books)
        reporter.progress(batch.written)
        tick = _ticker(channel, proto, batch)
        # The bytes already here are hashed now, before asking: during the stream the
        # sender could not wait that long for us to read on.
        mine = [w for w in wants if w.lane == 0]
        prefixes = {(w.index, w.start): landing.hashed(w, tick) for w in mine if w.offset > w.start}
        channel.write(proto.want(wants))
        channel.flush()
        threads = _start_lanes(lanes, channel, incoming, batch, wants, proto.attempt)
        sink = Sink(batch, prefixes)
        try:
            _land(channel, proto, sink, tick)
        finally:
            sink.close()
        _wait_for(threads, tick)
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


def _wait_for(threads: list[threading.Thread], tick: Callable[[], None]) -> None:
    """Until the lanes have landed their pieces, telling the sender we are alive."""
    for thread in threads:
        while thread.is_alive():
            thread.join(0.5)
            tick()


def _manifest(
    channel: Channel,
    proto: BulkReceiver,
    incoming: Incoming,
    landing: Landing,
    reporter: Reporter,
) -> tuple[list[Entry], list[str], list[int]]:
    """The batch's entries, where each lands, and the files still to fetch: as stored
    for a resume, or from the sender's manifest the first time (asked for in OPEN)."""
    if incoming.entries is not None and incoming.dests is not None:
        return incoming.entries, incoming.dests, incoming.pending
    while not isinstance(channel.next(proto), ManifestDone):
        pass
    entries = proto.entries
    dests = landing.place(entries)
    reporter.manifest(entries, dests)
    return entries, dests, [i for i, e in enumerate(entries) if e.kind == "file"]


def _start_lanes(
    lanes: Lanes | None,
    main: Channel,
    incoming: Incoming,
    batch: Batch,
    wants: list[Want],
    attempt: str,
) -> list[threading.Thread]:
    """A thread for each extra lane WANT gave pieces to, each dialling its own
    connection (``_lane``)."""
    threads = []
    for lane in sorted({w.lane for w in wants} - {0}):
        assert lanes is not None
        thread = threading.Thread(
            target=_lane,
            args=(lanes, main, incoming, batch, lane, wants, attempt),
            name=f"chatty-lane-{lane}",
            daemon=True,
        )
        thread.start()
        threads.append(thread)
    return threads


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
    batch: Batch,
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
        sink = Sink(batch, prefixes)
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


def _land(channel: Channel, proto: BulkReceiver, sink: Sink, tick: Callable[[], None]) -> None:
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


def _ticker(channel: Channel, proto: BulkReceiver, batch: Batch) -> Callable[[], None]:
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
    batch: Batch | None,
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
