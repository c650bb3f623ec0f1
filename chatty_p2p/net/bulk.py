"""The bulk connection file transfers use on both sides: dialled, answered, framed, timed.

A ``Channel`` wraps one TLS transport (``tlspipe``: memory BIOs, or kernel TLS for
a sender where the platform offers it) with a frame reader over a reused buffer
and a small write buffer. Everything here blocks and runs in worker threads, so
the event loop (chat, pings, the window) stays responsive whatever the disk and
the network do. The node talks to the loops (``sending``, ``receiving``) through a
``Reporter`` (called from the thread; the node hops back to its loop) and stops
them with a ``threading.Event`` plus a socket shutdown (``Channel.abort``).
"""

from __future__ import annotations

import contextlib
import logging
import socket
import ssl
import threading
from collections import deque
from typing import Protocol

from chatty_p2p.errors import (
    Cancelled,
    CancelledByPeer,
    ChattyError,
    Interrupted,
    Paused,
    PeerError,
    RemoteProtocolError,
    TransferFailed,
    unreachable,
    why_failed,
)
from chatty_p2p.identity import Identity
from chatty_p2p.net import tls
from chatty_p2p.net.tlspipe import KernelTls, TlsPipe
from chatty_p2p.protocol import preamble
from chatty_p2p.protocol.bulk.receiver import BulkReceiver
from chatty_p2p.protocol.bulk.sender import BulkSender
from chatty_p2p.protocol.bulk.wire import (
    CHUNK,
    RESUMABLE,
    BulkError,
    Entry,
    Landed,
    Opened,
    SenderEvent,
    Want,
    error_frame,
)
from chatty_p2p.protocol.frames import HEADER

log = logging.getLogger(__name__)

BULK_TIMEOUT = 15.0
"""A bulk link silent this long is given up; the transfer resumes when the peer is back."""
CONNECT_TIMEOUT = 3.0
REPORT_EVERY = 0.25
ALIVE_EVERY = 1.0
"""How often a side busy with something other than moving bytes (landing many small
files, hashing what a resume already has) says it is alive: well inside
``BULK_TIMEOUT``, the silence after which the other side gives up."""
_SMALL_WRITE = 256 * 1024


class Reporter(Protocol):
    """Called from the worker thread; implementations must hop to their own loop."""

    def manifest(self, entries: list[Entry], dests: list[str]) -> None: ...
    def progress(self, done: int, file: str = "", file_done: int = 0, file_size: int = 0) -> None:
        """``done`` bytes of the batch are in place; ``file`` is the one on its way."""

    def file_done(self, index: int, saved: str) -> None: ...
    def file_failed(self, index: int, reason: str) -> None: ...


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
    ``accepting.server_pipe``). The caller checks that this peer may have it."""
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
