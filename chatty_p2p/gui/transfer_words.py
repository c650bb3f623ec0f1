"""What the transfers panel says about a transfer and its files, in words: the state,
the direction, the progress and rate, and which buttons fit. Plain functions of a
``TransferInfo`` (and a ``FileInfo``), with no Qt, so that each is read and tested alone.
"""

from __future__ import annotations

from chatty_p2p.events import (
    FINISHED,
    RESUMABLE,
    FileInfo,
    TransferInfo,
    TransferState,
    human_size,
)

ACTIONS = ("Accept", "Decline", "Open", "Show in folder", "Retry", "Cancel")
"""The panel's buttons, in the order they stand."""


def direction(t: TransferInfo) -> str:
    return f"to {t.peer_name}" if t.outgoing else f"from {t.peer_name}"


LOST = (
    "ssleoferror",
    "sslzeroreturnerror",
    "eof occurred in violation of protocol",
    "broken pipe",
    "connection reset",
    "closed by the other side",
    "the other side closed the connection",
    "connection lost",
)
"""Raw reasons (lower case) that all mean the link to the peer went away."""
SILENT = ("timed out", "timeouterror")
"""Raw reasons that mean the peer stopped answering."""


def reason_words(t: TransferInfo) -> str:
    """``t.error`` in words a user can act on, for the reasons the network gives
    ("connection lost (SSLEOFError)": the connection to desk was lost); the raw
    reason itself when it is none of those (it is already meant for people)."""
    raw = t.error.lower()
    peer = t.peer_name
    next_steps: dict[str, str] = {
        TransferState.INTERRUPTED: f"; it resumes when {peer} is back",
        TransferState.PAUSED: "; Retry goes on",
    }
    then = next_steps.get(t.state, "")
    if any(s in raw for s in SILENT):
        return f"{peer} stopped answering{then}"
    if any(s in raw for s in LOST):
        return f"the connection to {peer} was lost{then}"
    return t.error


def state_words(t: TransferInfo) -> str:
    """The state as a sentence starts: "done", "sending", "paused: disk full"…"""
    match t.state:
        case TransferState.OFFERED:
            said = (
                f"waiting for {t.peer_name} to accept" if t.outgoing else "waiting for your answer"
            )
        case TransferState.RUNNING:
            said = "sending" if t.outgoing else "receiving"
        case TransferState.EXPIRED:
            said = "expired: nobody answered"
        case _:
            said = str(t.state)
    if t.error and t.state not in (TransferState.RUNNING, TransferState.DONE):
        said += f": {reason_words(t)}"
    return said


def state_tooltip(t: TransferInfo) -> str:
    """The state in words, and the raw reason under it when the words replaced it
    (for a bug report, or someone who knows what "SSLEOFError" means)."""
    said = state_words(t)
    if t.error and t.error not in said:
        said += f"\n(reported: {t.error})"
    return said


def progress_words(t: TransferInfo) -> str:
    """How far: "40% (1.2 MB of 3.0 MB)" while it goes, the size once it ended."""
    if t.state in FINISHED or t.state == TransferState.OFFERED or t.size <= 0:
        return human_size(t.size)
    percent = 100 * t.done_bytes // t.size
    return f"{percent}% ({human_size(t.done_bytes)} of {human_size(t.size)})"


def rate_words(t: TransferInfo) -> str:
    """ "2.5 MB/s, 12 s left" while bytes move; nothing otherwise."""
    if t.state != TransferState.RUNNING or t.rate <= 0:
        return ""
    said = f"{human_size(t.rate)}/s"
    if t.eta is not None:
        said += f", {_duration(t.eta)} left"
    return said


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{seconds // 60:.0f} min"
    return f"{seconds // 3600:.0f} h {seconds % 3600 // 60:.0f} min"


def file_state_words(f: FileInfo, t: TransferInfo) -> str:
    """A file's state: "saved", "saved, renamed: report.pdf was taken" (its row shows
    the name it got, "report (1).pdf"), "sent", "receiving 40%" for the one on its way,
    "not received" when the transfer ended without it."""
    if f.kind == "dir":
        return "folder"
    if f.state == "done":
        if t.outgoing:
            return "sent"
        sent_as = f.path.rstrip("/").rsplit("/", 1)[-1]
        return "saved" if f.name == sent_as else f"saved, renamed: {sent_as} was taken"
    if f.state == "failed":
        return "failed"
    if t.state == TransferState.RUNNING and t.file == f.path and t.file_size > 0:
        verb = "sending" if t.outgoing else "receiving"
        return f"{verb} {100 * t.file_done // t.file_size}%"
    if t.state in FINISHED:
        return "not received" if not t.outgoing else "not sent"
    return "waiting"


def actions_for(t: TransferInfo, files: list[FileInfo]) -> set[str]:
    """The buttons that make sense for ``t`` in its state."""
    if t.state == TransferState.OFFERED and not t.outgoing:
        return {"Accept", "Decline"}
    fit: set[str] = set()
    if t.state not in FINISHED:
        fit.add("Cancel")
    if t.state in RESUMABLE and t.state != TransferState.RUNNING:
        fit.add("Retry")
    landed = any(f.state == "done" and f.local for f in files) or bool(t.saved)
    if not t.outgoing and (landed or t.state == TransferState.DONE):
        fit |= {"Open", "Show in folder"}
    return fit


def saved_paths(t: TransferInfo, files: list[FileInfo]) -> list[str]:
    """Every file received and saved, by its real path: the store's record, which
    outlives the run that received them (a ``TransferInfo``'s own ``saved`` does not)."""
    paths = [f.local for f in files if f.kind == "file" and f.state == "done" and f.local]
    return paths if not t.outgoing and paths else list(t.saved)
