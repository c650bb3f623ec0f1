"""The bulk channel: one transfer's manifest and file bytes, on a connection of its own.

Why a separate connection: file data must never delay chat. The control
session carries only the small OFFER/ANSWER/CANCEL frames; each accepted
transfer opens its own TLS connection (preamble kind ``BULK``), which the
shell drives with blocking sockets in a thread, fast and without touching the
event loop.

The receiver dials and asks, the sender answers, in phases::

    receiver  OPEN {id, manifest}
    sender    ENTRIES {entries: [[path, kind, size, mtime], ...]} ... ENTRIES_END
              (only when the receiver asked for the manifest)
    receiver  WANT {files: [[index, offset], ...]} ... WANT_END
    sender    for each wanted file, in the order asked:
                  FILE {index, offset}  DATA (raw bytes) ...  FILE_END {hash}
              END
    receiver  (from before WANT on, about once a second) LANDED {done, files}
    receiver  RESULT {failed: [[index, reason], ...]}

Each side's phases, and the frames it takes in each, are the ``_SENDER_RULES`` and
``_RECEIVER_RULES`` tables below, checked before anything else: a frame outside
them is out of order (``RemoteProtocolError`` ``order``). The receiver's phases
follow the pieces it asked for, so the table also says that FILE comes only while
a piece is due, FILE_END only once its bytes are all in, END only after the last.
The fields are checked after that: every number against the offer and manifest.

Either side may end the exchange with ERROR {code, message}. A receiver that
cannot write (``DISK_FULL``, ``UNWRITABLE``) or a sender that cannot read
(``UNREADABLE``: a drive unplugged, a file moved) sends one of the
``RESUMABLE`` codes: its user can fix that, and both sides then keep the
transfer, paused, for ``chatty resume``; any other code ends it.

Neither side may stay silent for long (see ``net.bulk.BULK_TIMEOUT``), yet
some work moves no bytes. LANDED is how the receiver says it is alive while it
hashes the bytes a resume already has (before WANT) and while it lands what was
sent: writing and naming a folder of 100,000 empty files takes longer than the
silence allowed, and most of it happens after the sender's last byte. The
sender reads LANDED frames as it streams (without waiting for them), so they
never pile up, and learns of an ERROR within a moment rather than from a broken
pipe. While the sender hashes what the receiver already has, it sends empty
DATA frames, which change nothing.

Each side's socket is used by one thread at a time. Resuming is the same
exchange with non-zero offsets: the receiver asks only for what it lacks. The
hash in FILE_END covers the whole file, not just the bytes sent this time.

Lanes (protocol 3): a large file can travel in ranges over up to ``MAX_LANES``
connections at once, when both sides said in HELLO that they have the cores for
it (one stream keeps about a core busy on each side). The main connection's WANT
lists every piece, each tagged with its lane; the receiver then dials one more
connection per extra lane, whose OPEN names the lane (and the try, which the
main connection's OPEN named too: a lane only joins its own try) and goes straight to
streaming the pieces WANT gave it: the sender checked them all once, against one
manifest, and no piece is asked for twice. Each range's FILE_END hash covers that
range alone, because BLAKE3 cannot combine the hashes of parts: the receiver
checks each range, and the file is verified when all its ranges are. A resume
continues each range where it stopped. A lane ends with END and RESULT; the main
connection's RESULT comes last, once every lane has landed, and a lane that fails
stops the main connection, so the transfer ends one way on both sides.

Frames reuse ``frames``' layout with their own type numbers. Every number a
peer sends is checked against the manifest, so a sender cannot push more
bytes than the receiver consented to, or into a file it did not ask for.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum, IntEnum, auto
from typing import Any

from chatty_p2p.errors import LocalProtocolError, RemoteProtocolError
from chatty_p2p.protocol.frames import (
    FRAME_FORMAT,
    HEADER,
    MAX_PAYLOAD,
    Frame,
    encode_json,
    finite,
)
from chatty_p2p.protocol.ids import ITEM_ID
from chatty_p2p.protocol.names import readable
from chatty_p2p.protocol.session import (
    MAX_FILE_NAME,
    MAX_FILES,
    MAX_LANES,
    MAX_TOTAL_SIZE,
    clean_text,
)

CHUNK = MAX_PAYLOAD
"""File bytes per DATA frame."""
_BATCH_BYTES = 256 * 1024
"""Target size of one ENTRIES or WANT frame, well under ``MAX_PAYLOAD``."""
MAX_PATH_BYTES = 4 * MAX_FILE_NAME
"""The longest manifest path (UTF-8 bytes) a receiver takes; a sender refuses longer ones
up front, naming them, rather than offer a batch the receiver will refuse."""
_MAX_HELD = 256
"""Frames a sender keeps before it has the manifest to check them against."""
_ATTEMPT = re.compile(r"[0-9a-f]{0,32}")
_HASH = re.compile(r"[0-9a-f]{64}")


class BulkType(IntEnum):
    OPEN = 1
    ENTRIES = 2
    ENTRIES_END = 3
    WANT = 4
    WANT_END = 5
    FILE = 6
    DATA = 7
    FILE_END = 8
    END = 9
    RESULT = 10
    ERROR = 11
    LANDED = 12


class SenderPhase(Enum):
    """Where the sender's side is, named for what it reads next."""

    OPEN = auto()  # which transfer, on which lane
    WANT = auto()  # the pieces the receiver lacks (LANDED while it hashes what it has)
    STREAM = auto()  # nothing needed while pieces go out: LANDED as they land, RESULT last
    CLOSED = auto()  # RESULT or ERROR came: the receiver has nothing more to say


class ReceiverPhase(Enum):
    """Where the receiver's side is, named for what it reads next."""

    NEW = auto()  # ``open`` not called yet: the sender speaks only when asked
    MANIFEST = auto()  # it asked for the manifest
    WANT = auto()  # it has the manifest and is to say what it lacks: the sender waits
    FILE = auto()  # a piece asked for on this connection is still due
    DATA = auto()  # bytes of the current piece are still due
    FILE_END = auto()  # the piece's bytes are all here (an empty DATA changes nothing)
    END = auto()  # every piece asked for on this connection came
    DONE = auto()  # END came; the sender still reads LANDED and RESULT, and may refuse them
    CLOSED = auto()  # ERROR came


_SENDER_RULES: dict[SenderPhase, frozenset[BulkType]] = {
    # OPEN leads to WANT, or straight to STREAM on an extra lane (its pieces came on lane 0).
    SenderPhase.OPEN: frozenset({BulkType.OPEN, BulkType.ERROR}),
    # WANT_END leads to STREAM.
    SenderPhase.WANT: frozenset(
        {BulkType.WANT, BulkType.WANT_END, BulkType.LANDED, BulkType.ERROR}
    ),
    # RESULT (like ERROR anywhere) leads to CLOSED.
    SenderPhase.STREAM: frozenset({BulkType.LANDED, BulkType.RESULT, BulkType.ERROR}),
    SenderPhase.CLOSED: frozenset(),
}
"""The frames the sender takes in each phase: anything else is out of order."""

_RECEIVER_RULES: dict[ReceiverPhase, frozenset[BulkType]] = {
    ReceiverPhase.NEW: frozenset({BulkType.ERROR}),
    # ENTRIES_END leads to WANT, and ``want`` (or ``open_lane``) to FILE or END.
    ReceiverPhase.MANIFEST: frozenset({BulkType.ENTRIES, BulkType.ENTRIES_END, BulkType.ERROR}),
    ReceiverPhase.WANT: frozenset({BulkType.ERROR}),
    # FILE leads to DATA, or to FILE_END when the piece is already whole.
    ReceiverPhase.FILE: frozenset({BulkType.FILE, BulkType.ERROR}),
    # The piece's last byte leads to FILE_END.
    ReceiverPhase.DATA: frozenset({BulkType.DATA, BulkType.ERROR}),
    # FILE_END leads to FILE while pieces are due, else to END.
    ReceiverPhase.FILE_END: frozenset({BulkType.DATA, BulkType.FILE_END, BulkType.ERROR}),
    # END leads to DONE.
    ReceiverPhase.END: frozenset({BulkType.END, BulkType.ERROR}),
    ReceiverPhase.DONE: frozenset({BulkType.ERROR}),
    ReceiverPhase.CLOSED: frozenset(),
}
"""The frames the receiver takes in each phase: anything else is out of order."""


DISK_FULL = "disk-full"
UNWRITABLE = "unwritable"
UNREADABLE = "unreadable"
RESUMABLE = frozenset({DISK_FULL, UNWRITABLE, UNREADABLE})
"""ERROR codes after which the transfer waits, paused, for its user to fix things."""


@dataclass(frozen=True, slots=True)
class Entry:
    """One manifest line: a file, or a folder (``kind == "dir"``) so empty ones arrive too."""

    path: str
    kind: str
    size: int
    mtime: float

    def wire(self) -> list[Any]:
        return [self.path, self.kind, self.size, self.mtime]


# ----- events --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Want:
    """A piece the receiver asks for: bytes ``offset`` to ``end`` of file ``index``,
    which the receiver holds from ``start`` to ``offset`` already. A whole file is
    ``start`` 0 and ``end`` its size; a range is one piece of a large file (see the
    module's notes on lanes), on connection ``lane``. FILE_END's hash covers
    ``start`` to ``end``, whatever a resume skipped."""

    index: int
    offset: int
    start: int
    end: int
    lane: int = 0

    @classmethod
    def whole(cls, index: int, offset: int, size: int) -> Want:
        return cls(index, offset, 0, size)

    def wire(self, size: int) -> list[int]:
        """``[index, offset]`` for a whole file (as version 2 wrote it), else all five."""
        if self.start == 0 and self.end == size and self.lane == 0:
            return [self.index, self.offset]
        return [self.index, self.offset, self.start, self.end, self.lane]


@dataclass(frozen=True, slots=True)
class Opened:
    transfer_id: str
    manifest: bool
    lane: int = 0
    """0: the transfer's main connection; else an extra lane for ranges WANT gave it."""
    attempt: str = ""
    """Which try at the transfer this connection belongs to: a lane joins only the main
    connection of its own try. One dialled as a try broke may reach the sender after
    the next try began; joined to it, it would stream that try's pieces to nobody and
    break it. Empty from a receiver that names none."""


@dataclass(frozen=True, slots=True)
class Wanted:
    files: list[Want]


@dataclass(frozen=True, slots=True)
class WantsDone:
    pass


@dataclass(frozen=True, slots=True)
class ResultReceived:
    failed: list[tuple[int, str]]


@dataclass(frozen=True, slots=True)
class Landed:
    """The receiver's news while it lands: ``done`` bytes of the batch on its disk (what
    a resume would not fetch again, so partly received files count) and ``files``
    files landed. The sender shows ``done`` when the transfer stops short."""

    done: int
    files: int


@dataclass(frozen=True, slots=True)
class EntriesReceived:
    entries: list[Entry]


@dataclass(frozen=True, slots=True)
class ManifestDone:
    pass


@dataclass(frozen=True, slots=True)
class FileStarted:
    want: Want


@dataclass(frozen=True, slots=True)
class DataReceived:
    """A piece of the current file. ``data`` is a view of the buffer given to
    ``receive_data``: use it (write it, hash it) before that buffer is reused."""

    data: memoryview


@dataclass(frozen=True, slots=True)
class FileEnded:
    index: int
    hash: str


@dataclass(frozen=True, slots=True)
class AllSent:
    pass


@dataclass(frozen=True, slots=True)
class BulkError:
    code: str
    message: str


SenderEvent = Opened | Wanted | WantsDone | Landed | ResultReceived | BulkError
ReceiverEvent = EntriesReceived | ManifestDone | FileStarted | DataReceived | FileEnded | AllSent
ReceiverEvents = ReceiverEvent | BulkError


def data_header(length: int) -> bytes:
    """The frame header for ``length`` raw bytes that follow: the sender writes
    header and file bytes from one buffer, without building a frame in between."""
    return HEADER.pack(FRAME_FORMAT, BulkType.DATA, length)


def error_frame(code: str, message: str) -> bytes:
    return encode_json(BulkType.ERROR, {"code": code, "message": readable(message[:512])})


def _batches(key: str, items: list[list[Any]], frame_type: BulkType) -> bytes:
    """``items`` split into frames of about ``_BATCH_BYTES`` each."""
    out = bytearray()
    batch: list[list[Any]] = []
    size = 0
    for item in items:
        batch.append(item)
        size += 32 + sum(len(str(v).encode("utf-8")) for v in item)
        if size >= _BATCH_BYTES:
            out += encode_json(frame_type, {key: batch})
            batch, size = [], 0
    if batch:
        out += encode_json(frame_type, {key: batch})
    return bytes(out)


def _int(value: Any, low: int, high: int, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise RemoteProtocolError(f"{what} out of range", "malformed")
    return value


def _in_order(allowed: frozenset[BulkType], kind: BulkType) -> None:
    """Where each side checks a frame against its rules table, before anything else."""
    if kind not in allowed:
        raise RemoteProtocolError(f"bulk {kind.name} out of order", "order")


def _error_event(body: dict[str, Any]) -> BulkError:
    code, message = body.get("code"), body.get("message")
    return BulkError(
        clean_text(code, 64) if isinstance(code, str) else "unknown",
        clean_text(message) if isinstance(message, str) else "",
    )


class _Stream:
    """Splits the bulk stream into frames, passing DATA payloads through as they come.

    A control frame (JSON, small) is gathered whole, as ``frames.FrameDecoder`` would.
    A DATA payload is not: each piece of it is handed out as a slice of the caller's
    buffer, so a megabyte of file bytes is never copied into a frame and out again
    (the receiver writes and hashes it straight from where TLS decrypted it). A DATA
    frame may thus come out in several pieces; an empty one (a keepalive) comes out
    as one empty piece. Only a partial header or control payload is kept between
    calls, at most ``MAX_PAYLOAD`` bytes, the limit checked before any is kept."""

    def __init__(self) -> None:
        self._head = bytearray()
        self._kind: BulkType | None = None
        self._left = 0
        """Payload bytes of the current frame still to come."""
        self._body = bytearray()

    def feed(self, data: bytes | memoryview) -> list[tuple[BulkType, memoryview, dict[str, Any]]]:
        """Every frame (or DATA piece) now complete, in order; DATA pieces are views
        of ``data``, valid while it is. What follows an ERROR in the same ``data`` is
        dropped: garbage behind a peer's last word must not hide that word (anything
        sent later is refused by the side's rules: it is closed)."""
        view = memoryview(data)
        out: list[tuple[BulkType, memoryview, dict[str, Any]]] = []
        while view and not (out and out[-1][0] is BulkType.ERROR):
            if self._kind is None:
                take = HEADER.size - len(self._head)
                self._head += view[:take]
                view = view[take:]
                if len(self._head) < HEADER.size:
                    break
                self._start(out)
                continue
            piece = view[: self._left]
            view = view[len(piece) :]
            self._left -= len(piece)
            if self._kind is BulkType.DATA:
                out.append((BulkType.DATA, piece, {}))
            else:
                self._body += piece
            if not self._left:
                self._end(out)
        return out

    def _start(self, out: list[tuple[BulkType, memoryview, dict[str, Any]]]) -> None:
        version, frame_type, length = HEADER.unpack(self._head)
        self._head.clear()
        if version != FRAME_FORMAT:
            raise RemoteProtocolError(
                f"unsupported frame format {version} (this build speaks {FRAME_FORMAT})", "version"
            )
        if length > MAX_PAYLOAD:
            raise RemoteProtocolError(
                f"frame of {length} bytes exceeds the {MAX_PAYLOAD}-byte limit", "too-large"
            )
        try:
            self._kind = BulkType(frame_type)
        except ValueError:
            raise RemoteProtocolError(f"unknown bulk frame {frame_type}", "malformed") from None
        self._left = length
        if not length:
            if self._kind is BulkType.DATA:
                out.append((BulkType.DATA, memoryview(b""), {}))
            self._end(out)

    def _end(self, out: list[tuple[BulkType, memoryview, dict[str, Any]]]) -> None:
        kind, self._kind = self._kind, None
        assert kind is not None
        if kind is not BulkType.DATA:
            body = Frame(kind, bytes(self._body)).json()
            self._body = bytearray()
            out.append((kind, memoryview(b""), body))


class BulkSender:
    """The sender's side: answers OPEN and WANT, streams files."""

    def __init__(self) -> None:
        self._stream = _Stream()
        self._phase = SenderPhase.OPEN
        self._sizes: list[int] | None = None
        self._held: list[tuple[BulkType, dict[str, Any]]] = []
        """Frames that came behind OPEN before ``set_manifest``: a receiver sends OPEN
        and WANT together when it knows the manifest, and one read may bring both.
        Their order is checked as they come; their numbers wait for the sizes."""
        self._wanted: dict[int, list[tuple[int, int]]] = {}
        """The ranges of each file asked for so far, to refuse overlaps."""

    def set_manifest(self, sizes: list[int]) -> list[SenderEvent]:
        """The sizes of the transfer OPEN named, in manifest order (WANTs are checked
        against them); returns the events of frames that waited for them."""
        self._sizes = sizes
        held, self._held = self._held, []
        return [self._handle(kind, body, sizes) for kind, body in held]

    def entries(self, entries: list[Entry]) -> bytes:
        return _batches("entries", [e.wire() for e in entries], BulkType.ENTRIES) + encode_json(
            BulkType.ENTRIES_END, {}
        )

    def file_start(self, index: int, offset: int) -> bytes:
        return encode_json(BulkType.FILE, {"index": index, "offset": offset})

    def file_end(self, digest: str) -> bytes:
        return encode_json(BulkType.FILE_END, {"hash": digest})

    def end(self) -> bytes:
        return encode_json(BulkType.END, {})

    def receive_data(self, data: bytes | memoryview) -> list[SenderEvent]:
        events: list[SenderEvent] = []
        for kind, _payload, body in self._stream.feed(data):
            _in_order(_SENDER_RULES[self._phase], kind)
            if kind is BulkType.ERROR:
                self._phase = SenderPhase.CLOSED
                events.append(_error_event(body))
                break
            if kind is BulkType.OPEN:
                events.append(self._open(body))
                continue
            if kind is BulkType.WANT_END:
                self._phase = SenderPhase.STREAM
            elif kind is BulkType.RESULT:
                self._phase = SenderPhase.CLOSED
            if self._sizes is not None:
                events.append(self._handle(kind, body, self._sizes))
            elif len(self._held) < _MAX_HELD:
                self._held.append((kind, body))
            else:
                raise RemoteProtocolError("too many frames before the manifest", "malformed")
        return events

    def _open(self, body: dict[str, Any]) -> Opened:
        transfer_id = body.get("id")
        if not isinstance(transfer_id, str) or not ITEM_ID.fullmatch(transfer_id):
            raise RemoteProtocolError("OPEN: bad transfer id", "malformed")
        lane = _int(body.get("lane", 0), 0, MAX_LANES - 1, "OPEN lane")
        manifest = body.get("manifest", False)
        if not isinstance(manifest, bool):
            raise RemoteProtocolError("OPEN: 'manifest' is not true or false", "malformed")
        attempt = body.get("attempt", "")
        if not isinstance(attempt, str) or not _ATTEMPT.fullmatch(attempt):
            raise RemoteProtocolError("OPEN: bad attempt", "malformed")
        self._phase = SenderPhase.STREAM if lane else SenderPhase.WANT
        return Opened(transfer_id, manifest and not lane, lane, attempt)

    def _handle(self, kind: BulkType, body: dict[str, Any], sizes: list[int]) -> SenderEvent:
        """The event of a frame after OPEN (its order already checked), its numbers
        checked against the manifest's ``sizes``."""
        match kind:
            case BulkType.WANT:
                files = body.get("files")
                if not isinstance(files, list):
                    raise RemoteProtocolError("WANT: 'files' is not a list", "malformed")
                return Wanted([self._want(item, sizes) for item in files])
            case BulkType.WANT_END:
                return WantsDone()
            case BulkType.LANDED:
                return Landed(
                    _int(body.get("done"), 0, sum(sizes), "LANDED done"),
                    _int(body.get("files"), 0, len(sizes), "LANDED files"),
                )
        failed = body.get("failed")  # RESULT
        if not isinstance(failed, list):
            raise RemoteProtocolError("RESULT: 'failed' is not a list", "malformed")
        result: list[tuple[int, str]] = []
        for item in failed:
            if not isinstance(item, list) or len(item) != 2 or not isinstance(item[1], str):
                raise RemoteProtocolError("RESULT: bad item", "malformed")
            result.append((_int(item[0], 0, len(sizes) - 1, "RESULT index"), clean_text(item[1])))
        if len({index for index, _ in result}) != len(result):
            raise RemoteProtocolError("RESULT: a file named twice", "malformed")
        return ResultReceived(result)

    def _want(self, item: Any, sizes: list[int]) -> Want:
        """One WANT item, checked: in the manifest, in order, overlapping no other."""
        if not isinstance(item, list) or len(item) not in (2, 5):
            raise RemoteProtocolError("WANT: bad item", "malformed")
        index = _int(item[0], 0, len(sizes) - 1, "WANT index")
        size = sizes[index]
        if len(item) == 2:
            want = Want.whole(index, _int(item[1], 0, size, "WANT offset"), size)
        else:
            start = _int(item[2], 0, size, "WANT start")
            end = _int(item[3], start, size, "WANT end")
            offset = _int(item[1], start, end, "WANT offset")
            want = Want(index, offset, start, end, _int(item[4], 0, MAX_LANES - 1, "WANT lane"))
        taken = self._wanted.setdefault(index, [])
        # An empty file is one empty range: it too may be asked for once only.
        low, high = want.start, max(want.end, want.start + 1)
        if any(low < b and a < high for a, b in taken):
            raise RemoteProtocolError("WANT: a piece of a file asked for twice", "malformed")
        taken.append((low, high))
        return want


class BulkReceiver:
    """The receiver's side: asks for the manifest and the missing bytes, checks
    every frame the sender sends against what was asked."""

    def __init__(self, transfer_id: str, count: int, size: int, attempt: str = "") -> None:
        self._stream = _Stream()
        self.transfer_id = transfer_id
        self.attempt = attempt
        """Names one try at the transfer, in the OPEN of its main connection and of its
        lanes alike (see ``Opened.attempt``): the same for all of them, new at each try."""
        self._count = count
        self._size = size
        self._entries: list[Entry] = []
        self._phase = ReceiverPhase.NEW
        self._queue: list[Want] = []
        """The pieces still due on this connection, the next one last."""
        self._index = 0
        self._due = 0
        """The file of the piece being streamed, and its bytes still due."""

    def open(self, entries: list[Entry] | None) -> bytes:
        """Start; ``entries`` is the manifest already stored (a resume), or None to ask."""
        if entries is not None:
            self._entries = entries
            self._phase = ReceiverPhase.WANT
        else:
            self._phase = ReceiverPhase.MANIFEST
        return self._open_frame({"manifest": entries is None})

    def _open_frame(self, fields: dict[str, Any]) -> bytes:
        body = {"id": self.transfer_id, **fields}
        if self.attempt:
            body["attempt"] = self.attempt
        return encode_json(BulkType.OPEN, body)

    def want(self, files: list[Want]) -> bytes:
        """Ask for these pieces and start streaming. Those of lane 0 come here, in this
        order; the others on their lanes (``open_lane``)."""
        if self._phase is not ReceiverPhase.WANT:
            raise LocalProtocolError("WANT before the manifest is complete")
        for want in files:
            entry = self._entries[want.index]
            if entry.kind != "file" or not 0 <= want.start <= want.offset <= want.end <= entry.size:
                raise LocalProtocolError(f"cannot want {want}")
        self._expect([w for w in files if w.lane == 0])
        items = [w.wire(self._entries[w.index].size) for w in files]
        return _batches("files", items, BulkType.WANT) + encode_json(BulkType.WANT_END, {})

    def open_lane(self, lane: int, entries: list[Entry], files: list[Want]) -> bytes:
        """Start an extra lane of a transfer whose main connection asked for ``files``
        (those of this lane come here, in order): OPEN, and straight to streaming."""
        self._entries = entries
        self._expect([w for w in files if w.lane == lane])
        return self._open_frame({"manifest": False, "lane": lane})

    def _expect(self, pieces: list[Want]) -> None:
        """Stream ``pieces``, in this order."""
        self._queue = pieces[::-1]
        self._phase = ReceiverPhase.FILE if pieces else ReceiverPhase.END

    def landed(self, done: int, files: int) -> bytes:
        return encode_json(BulkType.LANDED, {"done": done, "files": files})

    def result(self, failed: list[tuple[int, str]]) -> bytes:
        return encode_json(BulkType.RESULT, {"failed": [list(f) for f in failed]})

    def receive_data(self, data: bytes | memoryview) -> list[ReceiverEvents]:
        events: list[ReceiverEvents] = []
        for kind, payload, body in self._stream.feed(data):
            _in_order(_RECEIVER_RULES[self._phase], kind)
            if kind is BulkType.ERROR:
                self._phase = ReceiverPhase.CLOSED
                events.append(_error_event(body))
                break
            events.append(self._handle(kind, payload, body))
        return events

    def _handle(self, kind: BulkType, payload: memoryview, body: dict[str, Any]) -> ReceiverEvent:
        """The event of a frame in order, checked against the offer and the pieces asked for."""
        match kind:
            case BulkType.ENTRIES:
                return EntriesReceived(self._parse_entries(body))
            case BulkType.ENTRIES_END:
                self._check_manifest()
                self._phase = ReceiverPhase.WANT
                return ManifestDone()
            case BulkType.FILE:
                want = self._queue.pop()
                index, offset = body.get("index"), body.get("offset")
                if not all(type(n) is int for n in (index, offset)):  # True == 1, 0.0 == 0
                    raise RemoteProtocolError(
                        "FILE: index and offset must be integers", "malformed"
                    )
                if (index, offset) != (want.index, want.offset):
                    raise RemoteProtocolError("FILE is not the one asked for next", "order")
                self._index, self._due = want.index, want.end - want.offset
                self._phase = ReceiverPhase.DATA if self._due else ReceiverPhase.FILE_END
                return FileStarted(want)
            case BulkType.DATA:
                if len(payload) > self._due:
                    raise RemoteProtocolError("more bytes than the file has", "malformed")
                self._due -= len(payload)
                if not self._due:
                    self._phase = ReceiverPhase.FILE_END
                return DataReceived(payload)
            case BulkType.FILE_END:
                digest = body.get("hash")
                if not isinstance(digest, str) or not _HASH.fullmatch(digest):
                    raise RemoteProtocolError("FILE_END: bad hash", "malformed")
                self._phase = ReceiverPhase.FILE if self._queue else ReceiverPhase.END
                return FileEnded(self._index, digest)
        self._phase = ReceiverPhase.DONE  # END
        return AllSent()

    def _check_manifest(self) -> None:
        """The whole manifest against the offer the user consented to."""
        if len(self._entries) != self._count:
            raise RemoteProtocolError(
                f"manifest has {len(self._entries)} entries, the offer said {self._count}",
                "malformed",
            )
        total = sum(e.size for e in self._entries)
        if total != self._size:
            raise RemoteProtocolError(
                f"manifest adds up to {total} bytes, the offer said {self._size}", "malformed"
            )

    def _parse_entries(self, body: dict[str, Any]) -> list[Entry]:
        raw = body.get("entries")
        if not isinstance(raw, list) or len(self._entries) + len(raw) > min(self._count, MAX_FILES):
            raise RemoteProtocolError("ENTRIES: more entries than offered", "malformed")
        parsed = []
        for item in raw:
            if not isinstance(item, list) or len(item) != 4:
                raise RemoteProtocolError("ENTRIES: bad entry", "malformed")
            path, kind, size, mtime = item
            if not isinstance(path, str) or not 0 < len(path.encode("utf-8")) <= MAX_PATH_BYTES:
                raise RemoteProtocolError("ENTRIES: bad path", "malformed")
            if kind not in ("file", "dir"):
                raise RemoteProtocolError("ENTRIES: bad kind", "malformed")
            size = _int(size, 0, MAX_TOTAL_SIZE if kind == "file" else 0, "ENTRIES size")
            when = finite(mtime)
            if when is None:
                raise RemoteProtocolError("ENTRIES: bad mtime", "malformed")
            parsed.append(Entry(path, kind, size, when))
        self._entries.extend(parsed)
        return parsed

    @property
    def entries(self) -> list[Entry]:
        return self._entries
