"""Transfers another protocol moves (LocalSend), kept in the same ledger as Chatty's own:
the faces list, accept, decline and cancel them alike, and both kinds end in one of
``FINISHED`` through ``Ledger.set``.

The other protocol's face moves the bytes and reports through a ``ForeignTransfer``;
the ledger tells it what the user decided through its ``Mover``. Such a transfer
cannot resume (LocalSend has no way to), so one a previous run left unfinished is
failed at start, with that reason.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from chatty_p2p.files.landing import Landing
from chatty_p2p.files.ledger import Ledger, LiveTransfer
from chatty_p2p.files.model import TransferInfo, TransferState
from chatty_p2p.protocol.bulk.wire import Entry

NO_RESUME = "interrupted; LocalSend transfers cannot resume, send it again"


class Mover(Protocol):
    """The other protocol's side of one transfer."""

    def answered(self, accepted: bool, reason: str) -> None:
        """The user accepted or declined the offer (or it expired: ``reason`` says)."""

    def cancel(self, reason: str) -> None:
        """Cancelled here: stop moving bytes and tell the other device if possible."""


class ForeignTransfer:
    """What the other protocol's face reports, made into the ledger's states."""

    def __init__(self, ledger: Ledger, live: LiveTransfer) -> None:
        self._ledger = ledger
        self._live = live

    @property
    def id(self) -> str:
        return self._live.record.id

    @property
    def state(self) -> str:
        return self._live.record.state

    @property
    def landing(self) -> Landing:
        """Where received bytes go (``files.landing``'s rules: partials, safe names)."""
        record = self._live.record
        return Landing(Path(record.folder), record.id)

    def info(self) -> TransferInfo:
        return self._ledger.info(self._live)

    def started(self) -> None:
        """A sender's offer was accepted: bytes move now."""
        if self._live.record.state == TransferState.OFFERED:
            self._ledger.set(self._live, TransferState.RUNNING)

    def manifest(self, entries: list[Entry], dests: list[str]) -> None:
        self._ledger.on_manifest(self._live, entries, dests)

    def progress(self, done: int, file: str = "", file_done: int = 0, file_size: int = 0) -> None:
        self._ledger.on_progress(self._live, done, (file, file_done, file_size))

    def landed(self, index: int, saved: str) -> None:
        self._ledger.on_file(self._live, index, "done", saved)

    def finish(self, failed: list[tuple[int, str]]) -> None:
        self._ledger.finish(self._live, failed)

    def end(self, state: TransferState, reason: str) -> None:
        """Ended by the other side or by the link: declined, cancelled, failed."""
        self._ledger.set(self._live, state, reason)
