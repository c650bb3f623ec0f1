"""The ledger of transfers a node has in hand: one ``LiveTransfer`` per stored record
that may still change, the one way a state changes (``set``), what the faces see of
a transfer (``info``), and the news a worker thread brings (``ThreadReporter``).

Every state change goes through ``set``: it records what has landed, stores the new
state, emits the event and, for a transfer that can never resume, removes its
partial bytes. Both sides of a transfer end in one of ``FINISHED``; only ``set``
gets them there.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from chatty_p2p.errors import ChattyError
from chatty_p2p.files.landing import Landing
from chatty_p2p.files.model import FINISHED, TransferInfo, TransferState
from chatty_p2p.files.peers import Peers
from chatty_p2p.protocol.bulk.wire import Entry
from chatty_p2p.protocol.names import readable
from chatty_p2p.store import Store, TransferRecord

log = logging.getLogger(__name__)

SAVE_EVERY = 1.0
"""Landed files are recorded in batches at most this far apart (and before any state
change): one SQLite transaction per file would cost a folder of 100,000 tiny files
seconds of the event loop."""


@dataclass
class LiveTransfer:
    """A transfer in hand: its record and what only this run knows of it."""

    record: TransferRecord
    cancel: threading.Event = field(default_factory=threading.Event)
    channel: Any = None
    generation: int = 0
    attempt: str = ""
    """The receiver's try that the sender's main bulk connection serves (its OPEN's
    ``attempt``): only lanes of that try join it."""
    sender_asked: bool = False
    """The sender asked us (the receiver) to resume while this run of the transfer was
    under way: if the run ends it, the sender hears how (``Pump.tell_ended``), since
    it asked because it missed the end on its side."""
    samples: deque[tuple[float, int]] = field(default_factory=lambda: deque(maxlen=20))
    saved: list[str] = field(default_factory=list)
    attempts: int = 0
    timer: asyncio.TimerHandle | None = None
    task: asyncio.Task[None] | None = None
    last_saved: float = 0.0
    resumed_from: int = -1
    current: tuple[str, int, int] = ("", 0, 0)
    landed: list[tuple[int, str, str | None]] = field(default_factory=list)
    """Files landed but not yet recorded: (index, status, saved path)."""
    recorded: float = 0.0


class TransferNews(Protocol):
    """Where the faces hear of transfers (the node's ``Announcer``, which makes each call
    the event of its kind: ``files`` is below the node and the events, so it names the
    kind by the method it calls rather than importing the event types)."""

    def transfer_changed(self, info: TransferInfo) -> None:
        """A transfer began or changed state."""

    def transfer_offered(self, info: TransferInfo) -> None:
        """A peer offers files; the user is asked."""

    def transfer_progress(self, info: TransferInfo) -> None:
        """Bytes moved."""

    def warn(self, peer_id: str, text: str) -> None:
        """Something about a peer's transfers the user should read (refused offers)."""


class Ledger:
    """Every transfer in hand, by key (peer, id, direction)."""

    def __init__(
        self,
        store: Store,
        *,
        news: TransferNews,
        peers: Peers,
        forget: Callable[[Landing, list[int]], None],
    ) -> None:
        """``forget`` drops the partials of files now recorded as landed (in the
        background, or not at all while the node stops: see ``Landing.finish``)."""
        self._store = store
        self._news = news
        self._peers = peers
        self._forget = forget
        self.live: dict[tuple[str, str, bool], LiveTransfer] = {}

    def info(self, live: LiveTransfer) -> TransferInfo:
        record = live.record
        rate = 0.0
        if len(live.samples) >= 2 and record.state == TransferState.RUNNING:
            (t0, d0), (t1, d1) = live.samples[0], live.samples[-1]
            rate = (d1 - d0) / (t1 - t0) if t1 > t0 else 0.0
        left = record.size - record.done_bytes
        return TransferInfo(  # file names may come from a disk whose names are not UTF-8
            id=record.id,
            peer_id=record.peer_id,
            peer_name=self._peers.name(record.peer_id),
            outgoing=record.outgoing,
            state=record.state,
            count=record.count,
            size=record.size,
            names=record.names,
            done_bytes=record.done_bytes,
            resumed_from=max(live.resumed_from, 0),
            file=live.current[0],
            file_done=live.current[1],
            file_size=live.current[2],
            rate=rate,
            eta=left / rate if rate > 0 else None,
            folder=readable(record.folder),
            error=record.error,
            saved=[readable(path) for path in live.saved],
            created=record.created,
        )

    def all(self) -> list[TransferInfo]:
        """Recent transfers, newest first, live figures where running."""
        out = []
        for record in self._store.transfers():
            live = self.live.get(record.key)
            out.append(self.info(live) if live is not None else self.info(LiveTransfer(record)))
        return out

    def find(self, spec: str) -> LiveTransfer:
        """A transfer by id or unique id prefix."""
        spec = spec.lower()
        matches = set(self._store.transfer_keys(spec)) if spec else set()
        if not matches:
            raise ChattyError(f"no transfer with id {spec!r}; see `chatty transfers`")
        if len(matches) > 1:
            raise ChattyError(f"{spec!r} matches {len(matches)} transfers; give more of the id")
        key = matches.pop()
        live = self.live.get(key)
        if live is None:
            record = self._store.transfer(key)
            assert record is not None
            live = self.live_for(record)
        return live

    def live_for(self, record: TransferRecord) -> LiveTransfer:
        live = self.live.get(record.key)
        if live is None:
            live = self.live[record.key] = LiveTransfer(record)
        return live

    def set(self, live: LiveTransfer, state: TransferState, error: str = "") -> None:
        record = live.record
        error = readable(error)
        if record.state in FINISHED or (record.state, record.error) == (state, error):
            return
        self.record_landed(live)
        record.state, record.error = state, error
        log.info(
            "transfer %s %s: %s %s", record.id[:8], "out" if record.outgoing else "in", state, error
        )
        self._store.update_transfer(record)
        if live.timer is not None and state != TransferState.OFFERED:
            live.timer.cancel()
            live.timer = None
        self._news.transfer_changed(self.info(live))
        if state in FINISHED:
            self.live.pop(record.key, None)
            if not record.outgoing:  # it can never resume: its partial bytes go
                Landing(Path(record.folder), record.id).discard()

    def finish(self, live: LiveTransfer, failed: list[tuple[int, str]]) -> None:
        record = live.record
        if failed:
            reasons = sorted({reason for _, reason in failed})
            files = "1 file" if len(failed) == 1 else f"{len(failed)} files"
            self.set(live, TransferState.FAILED, f"{files} failed: {'; '.join(reasons)}")
        else:
            record.done_bytes = record.size
            self.set(live, TransferState.DONE)

    def on_manifest(self, live: LiveTransfer, entries: list[Entry], dests: list[str]) -> None:
        self._store.add_entries(live.record.key, entries, dests)

    def on_progress(self, live: LiveTransfer, done: int, current: tuple[str, int, int]) -> None:
        record = live.record
        record.done_bytes = done
        live.current = current
        if live.resumed_from < 0:
            live.resumed_from = done
        now = time.monotonic()
        live.samples.append((now, done))
        while len(live.samples) > 2 and now - live.samples[0][0] > 3:
            live.samples.popleft()
        live.attempts = 0
        if now - live.last_saved > 2:
            live.last_saved = now
            self._store.update_transfer(record)
        self._news.transfer_progress(self.info(live))

    def on_file(self, live: LiveTransfer, index: int, status: str, saved: str | None) -> None:
        live.landed.append((index, status, saved))
        if saved is not None and len(live.saved) < 100:
            live.saved.append(saved)
        if time.monotonic() - live.recorded > SAVE_EVERY:
            self.record_landed(live)

    def record_landed(self, live: LiveTransfer) -> None:
        live.recorded = time.monotonic()
        if live.landed:
            self._store.set_entries(live.record.key, live.landed)
            landing = Landing(Path(live.record.folder), live.record.id)
            self._forget(landing, [index for index, status, _ in live.landed if status == "done"])
            live.landed = []


class ThreadReporter:
    """Carries a worker thread's news onto the event loop, in order."""

    def __init__(self, ledger: Ledger, live: LiveTransfer, generation: int) -> None:
        self._ledger, self._live, self._gen = ledger, live, generation
        self._loop = asyncio.get_running_loop()

    def _call(self, fn: Callable[..., None], *args: Any) -> None:
        def run() -> None:
            if self._live.generation == self._gen:
                fn(self._live, *args)

        self._loop.call_soon_threadsafe(run)

    def manifest(self, entries: list[Entry], dests: list[str]) -> None:
        self._call(self._ledger.on_manifest, entries, dests)

    def progress(self, done: int, file: str = "", file_done: int = 0, file_size: int = 0) -> None:
        self._call(self._ledger.on_progress, done, (file, file_done, file_size))

    def file_done(self, index: int, saved: str) -> None:
        self._call(self._ledger.on_file, index, "done", saved)

    def file_failed(self, index: int, reason: str) -> None:
        self._call(self._ledger.on_file, index, "failed", None)
