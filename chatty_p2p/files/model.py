"""File transfers as the faces show them: ``TransferInfo``, the states, sizes in words."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

OFFER_TTL = 600.0
"""An offer nobody answers is declined as expired after this many seconds."""
MAX_PENDING_OFFERS = 16
"""Offers from one peer waiting for an answer; more are declined unseen and unstored."""
RESUMABLE = frozenset({"running", "resuming", "interrupted", "paused"})
"""States ``chatty resume`` continues; "paused" waits for it, the others resume by themselves.
"resuming" is the moment in between: asked to go on, waiting for the bulk link (the
receiver dialling, the sender waiting for it to); it becomes "running" once bytes can
move, or "interrupted" if the link cannot be made."""
AUTO_RESUME = RESUMABLE - {"paused"}


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
