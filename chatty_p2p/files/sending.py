"""The sender's side of a bulk connection: the manifest if asked, then each piece
wanted, read, hashed and sent from one reused buffer.

A transfer's main connection reads the receiver's WANT, which lists every piece
with its lane (``bulk``); extra lanes of the same transfer stream the pieces WANT
gave them and count what they move in the same ``Plan``.
"""

from __future__ import annotations

import logging
import os
import time

from chatty_p2p.errors import (
    Cancelled,
    ChattyError,
    Interrupted,
    Paused,
    ProtocolError,
    TransferFailed,
    why_failed,
)
from chatty_p2p.files.landing import hashed_prefix
from chatty_p2p.net.bulk import (
    ALIVE_EVERY,
    BULK_TIMEOUT,
    REPORT_EVERY,
    Channel,
    Plan,
    Reporter,
)
from chatty_p2p.protocol.bulk.sender import BulkSender
from chatty_p2p.protocol.bulk.wire import (
    CHUNK,
    UNREADABLE,
    Entry,
    Opened,
    ResultReceived,
    Want,
    Wanted,
    WantsDone,
    data_header,
)
from chatty_p2p.protocol.frames import HEADER
from chatty_p2p.protocol.names import readable

log = logging.getLogger(__name__)


def serve(
    channel: Channel,
    proto: BulkSender,
    opened: Opened,
    entries: list[Entry],
    sources: list[str],
    reporter: Reporter,
    main: Channel | None = None,
) -> list[tuple[int, str]]:
    """Serve one bulk connection: the manifest if asked, then the wanted bytes; on a
    lane (``opened.lane``; ``main`` is its transfer's main connection), the pieces
    the main connection's WANT gave that lane. Returns the files the receiver reports
    as failed (the main connection's RESULT counts those of every lane)."""
    if not opened.lane:
        try:
            return _serve_pieces(channel, proto, opened, entries, sources, reporter, None)
        except ChattyError as exc:
            if channel.plan is not None and channel.plan.error is not None:
                raise channel.plan.error from exc  # a lane's failure stopped us
            raise
    assert main is not None
    try:
        if not main.planned.wait(BULK_TIMEOUT):
            raise Interrupted("the transfer's main connection never said what to send")
        return _serve_pieces(channel, proto, opened, entries, sources, reporter, main.plan)
    except ChattyError as exc:
        if main.plan is not None and main.plan.error is None:
            main.plan.error = exc
        main.abort()
        raise


def _serve_pieces(
    channel: Channel,
    proto: BulkSender,
    opened: Opened,
    entries: list[Entry],
    sources: list[str],
    reporter: Reporter,
    plan: Plan | None,
) -> list[tuple[int, str]]:
    ended = False
    try:
        channel.take(proto.set_manifest([e.size for e in entries]))
        if plan is None:
            if opened.manifest:
                channel.write(proto.entries(entries))
            wants: list[Want] = []
            while True:
                event = channel.next(proto)
                if isinstance(event, Wanted):
                    wants += event.files
                elif isinstance(event, WantsDone):
                    break
            left = sum(w.end - w.offset for w in wants)
            plan = channel.plan = Plan(wants, sum(e.size for e in entries) - left)
            channel.planned.set()
            log.debug("sending %d pieces, %d bytes already there", len(wants), plan.done)
        mine = [w for w in plan.wants if w.lane == opened.lane]
        _stream(channel, proto, mine, entries, sources, reporter, plan)
        channel.write(proto.end())
        channel.flush()
        reporter.progress(plan.done)
        while True:  # the receiver may still be landing: LANDED until its RESULT
            result = channel.next(proto)
            if isinstance(result, ResultReceived):
                ended = True
                return result.failed
    except OSError as exc:  # a drive unplugged, a file moved: put right, it can resume
        where = readable(str(exc.filename or "a file"))
        error = Paused(f"cannot read {where}: {why_failed(exc)}", UNREADABLE)
        channel.fail(error)
        raise error from exc
    except (TransferFailed, ProtocolError) as exc:
        channel.fail(exc)
        raise
    finally:
        if not ended and channel.landed is not None and not opened.lane:
            reporter.progress(channel.landed)  # stopped short: what the receiver has
        channel.close()


def _stream(
    channel: Channel,
    proto: BulkSender,
    wants: list[Want],
    entries: list[Entry],
    sources: list[str],
    reporter: Reporter,
    plan: Plan,
) -> None:
    """FILE, DATA ... FILE_END for each piece, read and hashed from one reused buffer."""
    buf = bytearray(HEADER.size + CHUNK)
    view = memoryview(buf)
    last = held = 0.0

    def hold() -> None:
        """While we hash what the receiver already has: an empty DATA frame, which
        the receiver takes as nothing but a sign of life."""
        nonlocal held
        if time.monotonic() - held >= ALIVE_EVERY:
            held = time.monotonic()
            channel.write(data_header(0))
            channel.flush()

    for want in wants:
        entry, path = entries[want.index], sources[want.index]
        if time.monotonic() - last > REPORT_EVERY:  # also for a folder of empty files
            last = time.monotonic()
            channel.poll(proto)
            reporter.progress(plan.done, entry.path, want.offset, entry.size)
        with open(path, "rb", buffering=0) as f:
            if os.fstat(f.fileno()).st_size != entry.size:
                raise TransferFailed(
                    f"{readable(path)} changed since it was offered; send it again"
                )
            channel.write(proto.file_start(want.index, want.offset))
            hasher = hashed_prefix(f.fileno(), want.start, want.offset, hold)
            f.seek(want.offset)
            left = want.end - want.offset
            while left:
                if channel.cancel.is_set():
                    raise Cancelled("cancelled")
                n = f.readinto(view[HEADER.size : HEADER.size + min(CHUNK, left)])
                if not n:
                    raise TransferFailed(f"{readable(path)} shrank while being sent")
                buf[: HEADER.size] = data_header(n)
                hasher.update(view[HEADER.size : HEADER.size + n])
                if channel.pipe.files_by_kernel:  # the pages just hashed, by the kernel
                    channel.write(view[: HEADER.size])
                    channel.send_file(f.fileno(), want.end - left, n)
                else:
                    channel.write(view[: HEADER.size + n])
                left -= n
                done = plan.moved(n)
                if time.monotonic() - last > REPORT_EVERY:
                    last = time.monotonic()
                    channel.poll(proto)
                    reporter.progress(done, entry.path, want.end - left, entry.size)
        channel.write(proto.file_end(hasher.hexdigest()))
