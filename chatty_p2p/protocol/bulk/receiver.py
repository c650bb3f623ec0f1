"""The receiver's side of the bulk channel: it asks for the manifest and the bytes
it lacks, and checks every frame the sender sends against the offer its user
consented to and the pieces it asked for.

It stands alone for the reason the sender's side does: ``files.receiving`` drives
it in the thread that dialled, where the sender's checks are never needed.
"""

from __future__ import annotations

import re
from typing import Any

from chatty_p2p.errors import LocalProtocolError, RemoteProtocolError
from chatty_p2p.protocol.bulk.wire import (
    MAX_PATH_BYTES,
    RECEIVER_RULES,
    AllSent,
    BulkStream,
    BulkType,
    DataReceived,
    EntriesReceived,
    Entry,
    FileEnded,
    FileStarted,
    ManifestDone,
    ReceiverEvent,
    ReceiverEvents,
    ReceiverPhase,
    Want,
    batches,
    bounded,
    error_event,
    in_order,
)
from chatty_p2p.protocol.frames import encode_json, finite
from chatty_p2p.protocol.messages import MAX_FILES, MAX_TOTAL_SIZE

_HASH = re.compile(r"[0-9a-f]{64}")


class BulkReceiver:
    """The receiver's side: asks for the manifest and the missing bytes, checks
    every frame the sender sends against what was asked."""

    def __init__(self, transfer_id: str, count: int, size: int, attempt: str = "") -> None:
        self._stream = BulkStream()
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
        return batches("files", items, BulkType.WANT) + encode_json(BulkType.WANT_END, {})

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
            in_order(RECEIVER_RULES[self._phase], kind)
            if kind is BulkType.ERROR:
                self._phase = ReceiverPhase.CLOSED
                events.append(error_event(body))
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
            size = bounded(size, 0, MAX_TOTAL_SIZE if kind == "file" else 0, "ENTRIES size")
            when = finite(mtime)
            if when is None:
                raise RemoteProtocolError("ENTRIES: bad mtime", "malformed")
            parsed.append(Entry(path, kind, size, when))
        self._entries.extend(parsed)
        return parsed

    @property
    def entries(self) -> list[Entry]:
        return self._entries
