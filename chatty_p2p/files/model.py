"""File transfers as the faces show them: ``TransferInfo``, the states, sizes in words."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

OFFER_TTL = 600.0
"""An offer nobody answers is declined as expired after this many seconds."""
MAX_PENDING_OFFERS = 16
"""Offers from one peer waiting for an answer; more are declined unseen and unstored."""


class TransferState(StrEnum):
    """Where a transfer stands; both sides keep the same one (see ``files.manager``).
    Strings on the wire of the faces (JSON, the store), so a face may compare with
    ``"done"`` as well as with ``TransferState.DONE``."""

    OFFERED = "offered"
    """Waiting for the receiver's answer (or, outgoing, for the peer to be back)."""
    RESUMING = "resuming"
    """Asked to go on, waiting for the bulk link (the receiver dialling, the sender
    waiting for it to); "running" once bytes can move, "interrupted" if it cannot."""
    RUNNING = "running"
    INTERRUPTED = "interrupted"
    """The link went away; it resumes by itself when the peer is back."""
    PAUSED = "paused"
    """A disk full, a folder unwritable, a file unreadable: waits for ``chatty resume``."""
    DONE = "done"
    FAILED = "failed"
    DECLINED = "declined"
    CANCELLED = "cancelled"
    EXPIRED = "expired"


FINISHED = frozenset(
    {
        TransferState.DONE,
        TransferState.FAILED,
        TransferState.DECLINED,
        TransferState.CANCELLED,
        TransferState.EXPIRED,
    }
)
"""States that never change again."""
RESUMABLE = frozenset(
    {
        TransferState.RUNNING,
        TransferState.RESUMING,
        TransferState.INTERRUPTED,
        TransferState.PAUSED,
    }
)
"""States ``chatty resume`` continues: "paused" waits for it, the others go on by themselves."""
AUTO_RESUME = RESUMABLE - {TransferState.PAUSED}


def human_size(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if n < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    raise AssertionError  # pragma: no cover


def items(n: int) -> str:
    return "1 item" if n == 1 else f"{n} items"


@dataclass(frozen=True)
class TransferInfo:
    """A transfer as the faces show it."""

    id: str
    peer_id: str
    peer_name: str
    outgoing: bool
    state: str
    count: int
    size: int
    names: list[str]
    done_bytes: int
    resumed_from: int
    """Bytes already in place when the latest connection started: what a resume saved."""
    file: str
    """The file on its way (its path in the batch), with its own progress."""
    file_done: int
    file_size: int
    rate: float
    eta: float | None
    folder: str
    error: str
    saved: list[str]
    created: float

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)

    @property
    def summary(self) -> str:
        what = ", ".join(self.names[:3]) + (" …" if len(self.names) > 3 else "")
        return f"{what} ({items(self.count)}, {human_size(self.size)})"


@dataclass(frozen=True)
class FileInfo:
    """One file (or folder) of a transfer, as the faces show it (``Node.transfer_files``):
    what a transfers view lists under a batch."""

    path: str
    """Its path in the batch, as the sender named it."""
    kind: str
    """``"file"`` or ``"dir"``."""
    size: int
    state: str
    """``"pending"``, ``"done"`` (saved here, or sent) or ``"failed"``."""
    local: str
    """Sending: the file read. Receiving: where it was saved, once ``"done"`` (its real
    name: ``report (1).pdf`` when ``report.pdf`` was taken); ``""`` before."""

    @property
    def name(self) -> str:
        """The name to show: the saved one once saved, else the last part of ``path``."""
        return (self.local or self.path).replace("\\", "/").rstrip("/").rsplit("/", 1)[-1]

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def files_of(
    outgoing: bool,
    state: str,
    rows: list[tuple[str, str, int, str, str]],
) -> list[FileInfo]:
    """``FileInfo``s from a transfer's stored manifest: each row is (path, kind, size,
    local path, stored status). A sender records no file as sent, so its files are
    ``"done"`` with the transfer; a receiver's local path counts once the file landed
    (before, it is only the name planned, which a taken name changes)."""
    out = []
    for path, kind, size, local, status in rows:
        if outgoing:
            status = "done" if state == TransferState.DONE else status
        elif status != "done":
            local = ""
        out.append(FileInfo(path=path, kind=kind, size=size, state=status, local=local))
    return out
