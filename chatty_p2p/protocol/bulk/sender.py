"""The sender's side of the bulk channel: it answers OPEN and WANT, checks every
number the receiver sends against the manifest, and frames the files it streams.

Why apart from the receiver's side: a node sends on connections it accepted and
receives on ones it dialled, in different code (``files.sending`` drives this one),
so each side is imported where it runs, and the two meet only in ``wire``.
"""

from __future__ import annotations

import re
from typing import Any

from chatty_p2p.errors import RemoteProtocolError
from chatty_p2p.protocol.bulk.wire import (
    SENDER_RULES,
    BulkStream,
    BulkType,
    Entry,
    Landed,
    Opened,
    ResultReceived,
    SenderEvent,
    SenderPhase,
    Want,
    Wanted,
    WantsDone,
    batches,
    bounded,
    error_event,
    in_order,
)
from chatty_p2p.protocol.frames import encode_json
from chatty_p2p.protocol.ids import ITEM_ID
from chatty_p2p.protocol.messages import MAX_LANES
from chatty_p2p.protocol.text import clean_text

_MAX_HELD = 256
"""Frames a sender keeps before it has the manifest to check them against."""
_ATTEMPT = re.compile(r"[0-9a-f]{0,32}")


class BulkSender:
    """The sender's side: answers OPEN and WANT, streams files."""

    def __init__(self) -> None:
        self._stream = BulkStream()
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
        return batches("entries", [e.wire() for e in entries], BulkType.ENTRIES) + encode_json(
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
            in_order(SENDER_RULES[self._phase], kind)
            if kind is BulkType.ERROR:
                self._phase = SenderPhase.CLOSED
                events.append(error_event(body))
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
        lane = bounded(body.get("lane", 0), 0, MAX_LANES - 1, "OPEN lane")
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
                    bounded(body.get("done"), 0, sum(sizes), "LANDED done"),
                    bounded(body.get("files"), 0, len(sizes), "LANDED files"),
                )
        failed = body.get("failed")  # RESULT
        if not isinstance(failed, list):
            raise RemoteProtocolError("RESULT: 'failed' is not a list", "malformed")
        result: list[tuple[int, str]] = []
        for item in failed:
            if not isinstance(item, list) or len(item) != 2 or not isinstance(item[1], str):
                raise RemoteProtocolError("RESULT: bad item", "malformed")
            result.append(
                (bounded(item[0], 0, len(sizes) - 1, "RESULT index"), clean_text(item[1]))
            )
        if len({index for index, _ in result}) != len(result):
            raise RemoteProtocolError("RESULT: a file named twice", "malformed")
        return ResultReceived(result)

    def _want(self, item: Any, sizes: list[int]) -> Want:
        """One WANT item, checked: in the manifest, in order, overlapping no other."""
        if not isinstance(item, list) or len(item) not in (2, 5):
            raise RemoteProtocolError("WANT: bad item", "malformed")
        index = bounded(item[0], 0, len(sizes) - 1, "WANT index")
        size = sizes[index]
        if len(item) == 2:
            want = Want.whole(index, bounded(item[1], 0, size, "WANT offset"), size)
        else:
            start = bounded(item[2], 0, size, "WANT start")
            end = bounded(item[3], start, size, "WANT end")
            offset = bounded(item[1], start, end, "WANT offset")
            want = Want(index, offset, start, end, bounded(item[4], 0, MAX_LANES - 1, "WANT lane"))
        taken = self._wanted.setdefault(index, [])
        # An empty file is one empty range: it too may be asked for once only.
        low, high = want.start, max(want.end, want.start + 1)
        if any(low < b and a < high for a, b in taken):
            raise RemoteProtocolError("WANT: a piece of a file asked for twice", "malformed")
        taken.append((low, high))
        return want
