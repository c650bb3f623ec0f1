"""File transfer I/O: what to send, the bulk connection, and the loops that stream and land files.

Everything here is blocking and runs in worker threads, so the event loop (chat,
pings, the window) stays responsive whatever the disk and the network do. Bytes
move through a ``TlsPipe`` (about a megabyte per system call, see ``tlspipe``);
the receiver writes and hashes each piece of a file straight from the buffer it
was decrypted into, in the reading thread. The node talks to these loops through
a ``Reporter`` (called from the thread; the node hops back to its loop) and stops
them with a ``threading.Event`` plus a socket shutdown.

Landing files safely is the receiver's job here:

* bytes go to ``<download>/.chatty-partial/<transfer>/<index>``, never to the
  final name; a file is linked to its final name only after its hash matched,
  and without replacing anything (a taken name gets `` (1)``, `` (2)`` …);
* names come from ``protocol.names``; every folder on the way is checked with
  ``lstat`` and created by us, so nothing is written through a symlink;
* resuming hashes the partial bytes already on disk, then appends, so the
  final hash always covers the whole file.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import re
import socket
import ssl
import stat
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import blake3

from chatty_p2p import tls
from chatty_p2p.errors import (
    ChattyError,
    PeerError,
    ProtocolError,
    RemoteProtocolError,
    disk_full,
    unreachable,
    why_failed,
)
from chatty_p2p.identity import Identity
from chatty_p2p.protocol import preamble
from chatty_p2p.protocol.bulk import (
    CHUNK,
    DISK_FULL,
    RESUMABLE,
    UNREADABLE,
    UNWRITABLE,
    AllSent,
    BulkError,
    BulkReceiver,
    BulkSender,
    DataReceived,
    Entry,
    FileEnded,
    FileStarted,
    Landed,
    ManifestDone,
    Opened,
    ResultReceived,
    SenderEvent,
    Want,
    Wanted,
    WantsDone,
    data_header,
    error_frame,
)
from chatty_p2p.protocol.frames import HEADER
from chatty_p2p.protocol.names import UnsafePath, numbered, readable, safe_relpath
from chatty_p2p.protocol.session import MAX_LANES
from chatty_p2p.tlspipe import KernelTls, TlsPipe

log = logging.getLogger(__name__)

BULK_TIMEOUT = 15.0
"""A bulk link silent this long is given up; the transfer resumes when the peer is back."""
CONNECT_TIMEOUT = 3.0
PARTIAL_DIR = ".chatty-partial"
REPORT_EVERY = 0.25
ALIVE_EVERY = 1.0
"""How often a side busy with something other than moving bytes (landing many small
files, hashing what a resume already has) says it is alive: well inside
``BULK_TIMEOUT``, the silence after which the other side gives up."""
_SMALL_WRITE = 256 * 1024
FILE_MODE = 0o666
"""A received file's permissions before the umask, from a peer or a browser share alike:
those of any file its user makes, or a browser downloads (0644 with the usual umask,
0600 with a private one). The partial is created with them and keeps them."""
SYNC_FROM = 1 << 20
"""Files from this size on are fsynced before they get their final name. Below it the
cost per file (a journal commit each, 4 ms here) would cap a folder of small files at
a few hundred per second, for little gain: the kernel's ordered writes already keep a
linked file's data ahead of its name on the usual Linux file systems."""


class TransferFailed(ChattyError):
    """The transfer cannot go on; ``str()`` says why in words a user can act on."""


class Cancelled(ChattyError):
    """Stopped on purpose, by this side or the peer."""


class Interrupted(ChattyError):
    """The link went away; what is on disk stays and the transfer resumes later."""


class CancelledByPeer(ChattyError):
    """The sender says the transfer was cancelled there (while we were away)."""


class Paused(ChattyError):
    """The receiver cannot write (its disk is full, its folder unwritable) or the sender
    cannot read: what is on disk stays, and the transfer waits for a user to fix that
    and resume it. ``code`` is the bulk ERROR code that tells the other side (see
    ``bulk.RESUMABLE``); ``remote`` says the other side is the one that stopped."""

    def __init__(self, message: str, code: str, remote: bool = False) -> None:
        super().__init__(message)
        self.code = code
        self.remote = remote


class Reporter(Protocol):
    """Called from the worker thread; implementations must hop to their own loop."""

    def manifest(self, entries: list[Entry], dests: list[str]) -> None: ...
    def progress(self, done: int, file: str = "", file_done: int = 0, file_size: int = 0) -> None:
        """``done`` bytes of the batch are in place; ``file`` is the one on its way."""

    def file_done(self, index: int, saved: str) -> None: ...
    def file_failed(self, index: int, reason: str) -> None: ...


# ----- the sender's side ---------------------------------------------------


def build_manifest(paths: list[Path]) -> tuple[list[Entry], list[str]]:
    """Entries for files and folders, and the local path each file is read from.

    Files inside folders keep their relative paths; an empty folder is an entry
    of its own so it arrives too. Symlinked files are followed, symlinked folders
    are not (they could loop). Two top-level items with one name are numbered.
    """
    entries: list[Entry] = []
    sources: list[str] = []
    taken: set[str] = set()
    for raw in paths:
        path = Path(raw).expanduser().absolute()
        try:
            st = path.stat()
        except OSError as exc:
            raise ChattyError(f"cannot send {readable(str(raw))}: {why_failed(exc)}") from exc
        name = readable(path.name) or "root"
        top, n = name, 0
        while top in taken:
            n += 1
            top = numbered(name, n)
        taken.add(top)
        if stat.S_ISREG(st.st_mode):
            _check_readable(path)
            entries.append(Entry(top, "file", st.st_size, st.st_mtime))
            sources.append(str(path))
        elif stat.S_ISDIR(st.st_mode):
            _walk(path, top, entries, sources)
        else:
            raise ChattyError(f"cannot send {readable(str(raw))}: not a regular file or folder")
    return entries, sources


def _walk(root: Path, top: str, entries: list[Entry], sources: list[str]) -> None:
    def fail(exc: OSError) -> None:
        raise ChattyError(f"cannot read {readable(str(exc.filename))}: {why_failed(exc)}")

    for folder, dirs, files in os.walk(root, onerror=fail):
        dirs.sort()
        rel = os.path.relpath(folder, root)
        prefix = top if rel == "." else readable(f"{top}/{Path(rel).as_posix()}")
        kept = 0
        for name in sorted(files):
            full = os.path.join(folder, name)
            try:
                st = os.stat(full)
            except OSError:
                continue  # a dangling symlink
            if not stat.S_ISREG(st.st_mode):
                continue  # sockets, fifos, devices
            _check_readable(Path(full))
            entries.append(Entry(f"{prefix}/{readable(name)}", "file", st.st_size, st.st_mtime))
            sources.append(full)
            kept += 1
        dirs[:] = [d for d in dirs if not os.path.islink(os.path.join(folder, d))]
        if not kept and not dirs:
            entries.append(Entry(prefix, "dir", 0, os.stat(folder).st_mtime))
            sources.append("")


def _check_readable(path: Path) -> None:
    if not os.access(path, os.R_OK):
        raise ChattyError(f"cannot send {readable(str(path))}: permission denied")


class Channel:
    """A bulk connection's TLS pipe, with a frame reader and a small write buffer."""

    def __init__(self, pipe: TlsPipe | KernelTls, cancel: threading.Event) -> None:
        self.pipe = pipe
        self.cancel = cancel
        self.local_host = str(pipe.sock.getsockname()[0]).removeprefix("::ffff:")
        """Our end's address, to drop the link at once when it leaves the machine."""
        self._out = bytearray()
        self._in = bytearray(HEADER.size + CHUNK)
        """Decrypted bytes, reused for every read: DATA events are views of it (see
        ``bulk.DataReceived``), used up before the next read."""
        self._in_view = memoryview(self._in)
        self._events: deque[object] = deque()
        self.landed: int | None = None
        """Bytes the receiver last said it has (its LANDED): the sender's figure for a
        transfer that stops short, rather than the bytes it wrote into socket buffers."""
        self.plan: Plan | None = None
        """A main connection's pieces, once WANT said them (the sender's side)."""
        self.planned = threading.Event()
        self._lanes: list[Channel] = []
        self._aborted = False

    def write(self, data: bytes | memoryview) -> None:
        """Queue small frames; big ones go straight out after what is queued."""
        if len(data) < _SMALL_WRITE:
            self._out += data
            if len(self._out) >= _SMALL_WRITE:
                self.flush()
        else:
            self.flush()
            self._send(data)

    def flush(self) -> None:
        if self._out:
            self._send(self._out)
            self._out = bytearray()

    def _send(self, data: bytes | bytearray | memoryview) -> None:
        try:
            self.pipe.send(data)
        except (OSError, ssl.SSLError) as exc:
            raise self._lost(exc) from exc

    def send_file(self, fd: int, offset: int, count: int) -> None:
        """File bytes, straight from the page cache, after what is queued: only where
        the kernel encrypts (``pipe.files_by_kernel``)."""
        assert isinstance(self.pipe, KernelTls)
        self.flush()
        try:
            self.pipe.sendfile(fd, offset, count)
        except OSError as exc:
            raise self._lost(exc) from exc

    def next(self, proto: BulkSender | BulkReceiver) -> object:
        """The next event from the peer, reading as needed (after sending what is queued:
        the peer may be waiting for it)."""
        while not self._events:
            self.flush()
            self._read(proto)
        event = self._events.popleft()
        if isinstance(event, Landed):
            self.landed = event.done
        if isinstance(event, BulkError):
            reason = event.message or event.code
            if event.code in RESUMABLE:
                raise Paused(reason, event.code, remote=True)
            if event.code == "cancelled":
                raise CancelledByPeer(reason)
            raise TransferFailed(f"the peer stopped the transfer: {reason}")
        return event

    def take(self, events: list[SenderEvent]) -> None:
        """Events the protocol gave outside a read, to come before what is read next."""
        self._events.extend(events)

    def poll(self, proto: BulkSender) -> None:
        """Take in what the peer has already sent, without waiting: the sender calls
        this as it streams, so the receiver's LANDED frames never pile up and its
        ERROR stops us at once (raised here) instead of as a broken pipe later."""
        self.pipe.sock.setblocking(False)
        gone: ChattyError | None = None
        try:
            while True:
                self._read(proto)
        except BlockingIOError:
            pass
        except ChattyError as exc:  # the link is gone: first, did the peer say why?
            gone = exc
        finally:
            self.pipe.sock.settimeout(BULK_TIMEOUT)
        while self._events:
            event = self.next(proto)  # raises for an ERROR
            if not isinstance(event, Landed):  # nothing else may come mid-stream
                raise TransferFailed(f"the peer sent {type(event).__name__} mid-stream")
        if gone is not None:
            raise gone

    def _read(self, proto: BulkSender | BulkReceiver) -> None:
        try:
            n = self.pipe.recv_into(self._in_view)
        except BlockingIOError:
            raise
        except (OSError, ssl.SSLError) as exc:
            raise self._lost(exc) from exc
        if not n:
            raise self._lost(None)
        try:
            self._events.extend(proto.receive_data(self._in_view[:n]))
        except RemoteProtocolError as exc:
            with contextlib.suppress(OSError, ssl.SSLError):
                self.pipe.send(error_frame(exc.code, str(exc)))
            raise TransferFailed(f"the peer broke the protocol: {exc}") from exc

    def fail(self, error: ChattyError) -> None:
        """Tell the peer why we stop, if the link still carries it."""
        with contextlib.suppress(OSError, ssl.SSLError):
            self.flush()
            self.pipe.send(error_frame(getattr(error, "code", "failed"), str(error)))

    def _lost(self, exc: BaseException | None) -> ChattyError:
        if self.cancel.is_set():
            return Cancelled("cancelled")
        if isinstance(exc, TimeoutError | socket.timeout):
            return Interrupted(f"no data for {BULK_TIMEOUT:.0f} s")
        return Interrupted(f"connection lost ({why_failed(exc)})")

    def add_lane(self, lane: Channel) -> None:
        """Another connection of this (main) connection's transfer: stopped with it."""
        self._lanes.append(lane)
        if self._aborted:
            lane.abort()

    def abort(self) -> None:
        """Unblock the worker from another thread (see ``TlsPipe.abort``), and those of
        the transfer's lanes."""
        self._aborted = True
        self.pipe.abort()
        for lane in list(self._lanes):
            lane.abort()

    def close(self) -> None:
        """Orderly end (see ``TlsPipe.close``), after what is still queued."""
        with contextlib.suppress(ChattyError):
            self.flush()
        self.pipe.close()


def accept_bulk(
    pipe: TlsPipe | KernelTls, cancel: threading.Event
) -> tuple[Channel, BulkSender, Opened]:
    """Read what an authenticated bulk connection asks for (its TLS is done, see
    ``connection.server_pipe``). The caller checks that this peer may have it."""
    pipe.sock.settimeout(BULK_TIMEOUT)
    channel = Channel(pipe, cancel)
    proto = BulkSender()
    try:
        event = channel.next(proto)
    except ChattyError:
        pipe.sock.close()
        raise
    assert isinstance(event, Opened)
    return channel, proto, event


class Plan:
    """Every piece the receiver asked for on a transfer's main connection, shared with
    the transfer's lanes: each streams the pieces WANT gave it, and counts what it
    moves here, so the transfer has one figure for its progress.

    A lane that fails leaves its reason here and stops the main connection, which
    then ends the transfer with that reason: the receiver does the same with its
    lanes, so both sides end a transfer in one state whichever connection broke."""

    def __init__(self, wants: list[Want], done: int) -> None:
        self.wants = wants
        self._done = done
        self._lock = threading.Lock()
        self.error: ChattyError | None = None

    def moved(self, n: int) -> int:
        """Count ``n`` more bytes sent; the batch's bytes done so far."""
        with self._lock:
            self._done += n
            return self._done

    @property
    def done(self) -> int:
        return self._done


def send(
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
            return _serve(channel, proto, opened, entries, sources, reporter, None)
        except ChattyError as exc:
            if channel.plan is not None and channel.plan.error is not None:
                raise channel.plan.error from exc  # a lane's failure stopped us
            raise
    assert main is not None
    try:
        if not main.planned.wait(BULK_TIMEOUT):
            raise Interrupted("the transfer's main connection never said what to send")
        return _serve(channel, proto, opened, entries, sources, reporter, main.plan)
    except ChattyError as exc:
        if main.plan is not None and main.plan.error is None:
            main.plan.error = exc
        main.abort()
        raise


def _serve(
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
            hasher = _hashed_prefix(f.fileno(), want.start, want.offset, hold)
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


# ----- the receiver's side -------------------------------------------------


def dial_bulk(
    addresses: list[tuple[str, int]],
    identity: Identity,
    peer_id: str,
    cancel: threading.Event,
) -> Channel:
    """A bulk connection to the first address that answers and proves to be ``peer_id``."""
    errors = []
    for host, port in addresses:
        try:
            raw = socket.create_connection((host, port), timeout=CONNECT_TIMEOUT)
        except OSError as exc:
            errors.append((host, why_failed(exc)))
            continue
        try:
            raw.settimeout(BULK_TIMEOUT)
            raw.sendall(preamble.encode_request(preamble.ChannelKind.BULK, identity.cert_der))
            reply = recv_exactly(raw, preamble.REPLY.size)
            status = preamble.parse_reply(reply)
            if status is not preamble.Status.OK:
                raise PeerError(f"the peer refused the bulk connection ({status.name.lower()})")
            pipe = TlsPipe.wrap(raw, tls.client_context(identity), server=False)
            pipe.handshake(BULK_TIMEOUT)
            raw.settimeout(BULK_TIMEOUT)
            tls.peer_id(pipe.obj, peer_id)
            return Channel(pipe, cancel)
        except (OSError, ssl.SSLError, ChattyError) as exc:
            raw.close()
            if isinstance(exc, ChattyError) and not isinstance(exc, RemoteProtocolError):
                raise
            errors.append((host, why_failed(exc)))
    raise Interrupted(unreachable("the peer", errors))


def recv_exactly(sock: socket.socket, n: int) -> bytes:
    """``n`` bytes from a blocking socket, or ``PeerError`` if it closes first."""
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise PeerError("the peer closed the connection")
        data += chunk
    return data


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
        """A hasher fed the bytes of a partial a piece already has (``_hashed_prefix``)."""
        fd = os.open(self.partial(want.index), os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        try:
            return _hashed_prefix(fd, want.start, want.offset, tick)
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


_TRANSFER_ID = re.compile(r"[0-9a-f]{32}")


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
            if _TRANSFER_ID.fullmatch(name) and (folder, name) not in keep:
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
    proto = BulkReceiver(incoming.transfer_id, incoming.count, incoming.size)
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
                args=(lanes, channel, incoming, batch, lane, wants),
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
) -> None:
    """One extra lane of a receiving transfer, in a thread of its own: hash what its
    pieces have already, dial, OPEN naming the lane, land what comes, RESULT. A
    failure is left in ``batch.error`` and stops the main connection (see ``Plan``)."""
    channel: Channel | None = None
    proto = BulkReceiver(incoming.transfer_id, incoming.count, incoming.size)
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
        self._fd = _open_partial(self._batch.landing.partial(want.index), want.offset, whole)

    def data(self, data: memoryview) -> None:
        _write_all(self._fd, data)
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


def _open_partial(path: Path, offset: int, truncate: bool) -> int:
    """Open a partial for writing at ``offset`` (its bytes before are hashed already:
    ``Landing.hashed``); ``truncate`` drops what is after it (not for a range)."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, FILE_MODE)
    try:
        if truncate:
            os.ftruncate(fd, offset)
        os.lseek(fd, offset, os.SEEK_SET)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _hashed_prefix(fd: int, start: int, end: int, tick: Callable[[], None]) -> blake3.blake3:
    """A hasher fed bytes ``start`` to ``end`` of an open file: how a resumed file's (or
    range's) hash still covers all of it, on both sides. That can take minutes (many
    gigabytes, a slow disk): ``tick`` is called between reads to keep the link alive."""
    hasher = blake3.blake3()
    view = memoryview(bytearray(min(CHUNK, end - start)))  # most start at once: no buffer
    position = start
    while position < end:
        n = os.preadv(fd, [view[: min(CHUNK, end - position)]], position)
        if not n:
            raise TransferFailed("a file is shorter than the bytes already transferred")
        hasher.update(view[:n])
        position += n
        tick()
    return hasher


def _write_all(fd: int, data: memoryview) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]
