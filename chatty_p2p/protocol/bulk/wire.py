"""What both sides of the bulk channel share: the frame types and how they are
built, the manifest's entries and the pieces asked for, the events each side's
``receive_data`` returns, each side's phases with the rules tables that say which
frames a phase takes, and the decoder that splits the stream into frames.

Why one module: the tables are the protocol's order at a glance, and both state
machines (``sender``, ``receiver``) read them and the same decoder; kept apart
from either side, neither side imports the other. The exchange itself is told in
the package's notes (``protocol.bulk``).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum, IntEnum, auto
from typing import Any

from chatty_p2p.errors import RemoteProtocolError
from chatty_p2p.protocol.frames import (
    FRAME_FORMAT,
    HEADER,
    MAX_PAYLOAD,
    Frame,
    encode_json,
)
from chatty_p2p.protocol.messages import MAX_FILE_NAME
from chatty_p2p.protocol.names import readable
from chatty_p2p.protocol.text import clean_text

CHUNK = MAX_PAYLOAD
"""File bytes per DATA frame."""
_BATCH_BYTES = 256 * 1024
"""Target size of one ENTRIES or WANT frame, well under ``MAX_PAYLOAD``."""
MAX_PATH_BYTES = 4 * MAX_FILE_NAME
"""The longest manifest path (UTF-8 bytes) a receiver takes; a sender refuses longer ones
up front, naming them, rather than offer a batch the receiver will refuse."""


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


SENDER_RULES: dict[SenderPhase, frozenset[BulkType]] = {
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

RECEIVER_RULES: dict[ReceiverPhase, frozenset[BulkType]] = {
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


def batches(key: str, items: list[list[Any]], frame_type: BulkType) -> bytes:
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


def bounded(value: Any, low: int, high: int, what: str) -> int:
    """``value``, a whole number from ``low`` to ``high`` (a bool is none); else the
    peer's ``what`` is malformed."""
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise RemoteProtocolError(f"{what} out of range", "malformed")
    return value


def in_order(allowed: frozenset[BulkType], kind: BulkType) -> None:
    """Where each side checks a frame against its rules table, before anything else."""
    if kind not in allowed:
        raise RemoteProtocolError(f"bulk {kind.name} out of order", "order")


def error_event(body: dict[str, Any]) -> BulkError:
    code, message = body.get("code"), body.get("message")
    return BulkError(
        clean_text(code, 64) if isinstance(code, str) else "unknown",
        clean_text(message) if isinstance(message, str) else "",
    )


class BulkStream:
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
