"""Files a LocalSend device sends us: its prepare-upload becomes an offer in the node's
transfers (asked like any other, never accepted unasked), then each upload's body is
written where ``files.landing`` says, under its rules (a partial first, a safe name,
never replacing a file), and checked against the size offered and the SHA-256, when
the sender gave one.

LocalSend allows one receiving session at a time; so does Chatty (another gets 409).
A session's uploads must come from the address its prepare-upload came from, with
its session id and each file's token; anything else gets 403.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import secrets
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from chatty_p2p.errors import ChattyError, why_failed
from chatty_p2p.files.foreign import ForeignTransfer
from chatty_p2p.files.landing import open_partial, write_all
from chatty_p2p.files.model import TransferState
from chatty_p2p.protocol.bulk.wire import Entry
from chatty_p2p.protocol.localsend import FileMeta, UploadRequest


@dataclass
class Incoming:
    """One accepted prepare-upload, until its last file landed or it was cancelled."""

    session: str
    host: str
    transfer: ForeignTransfer
    files: dict[str, tuple[int, FileMeta]]
    tokens: dict[str, str]
    dests: list[str]
    done_bytes: int = 0
    finished: dict[int, str] = field(default_factory=dict)
    """Files ended, each with its failure ("" when it landed)."""
    cancelled: bool = False


class IncomingMover:
    """The receiving side's ``files.foreign.Mover``: the user's answer wakes the
    waiting prepare-upload; a cancel stops the uploads at their next chunk."""

    def __init__(self) -> None:
        self.decided: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self.session: Incoming | None = None

    def answered(self, accepted: bool, reason: str) -> None:
        if not self.decided.done():
            self.decided.set_result(accepted)

    def cancel(self, reason: str) -> None:
        if self.session is not None:
            self.session.cancelled = True
        if not self.decided.done():
            self.decided.set_result(False)


def accepted_session(request: UploadRequest, host: str, transfer: ForeignTransfer) -> Incoming:
    """The session of an offer just accepted: where each file will land (folders made
    now, names made safe), and a token for each."""
    now = time.time()
    entries = [Entry("/".join(f.parts), "file", f.size, now) for f in request.files]
    landing = transfer.landing
    landing.prepare()
    dests = landing.place(entries)
    transfer.manifest(entries, dests)
    files = {f.id: (i, f) for i, f in enumerate(request.files)}
    tokens = {f.id: secrets.token_urlsafe(18) for f in request.files}
    return Incoming(uuid.uuid4().hex, host, transfer, files, tokens, dests)


async def receive_file(
    session: Incoming, file_id: str, body: AsyncIterator[bytes]
) -> tuple[int, str]:
    """Write one upload's body: (HTTP status, reason). The file ends failed on a wrong
    size or hash (the transfer goes on with the others), and the transfer ends once
    every file has."""
    index, meta = session.files[file_id]
    if index in session.finished:
        return 409, "this file was sent already"
    landing = session.transfer.landing
    fd = await asyncio.to_thread(open_partial, landing.partial(index), 0, True)
    hasher = hashlib.sha256() if meta.sha256 else None
    got = 0
    try:
        async for chunk in body:
            if session.cancelled:
                return 409, "cancelled"
            got += len(chunk)
            if got > meta.size:
                return _failed(session, index, f"{meta.name}: more bytes than offered")
            if hasher is not None:
                hasher.update(chunk)
            await asyncio.to_thread(write_all, fd, chunk)
            session.transfer.progress(session.done_bytes + got, meta.name, got, meta.size)
    except OSError as exc:
        return _failed(session, index, f"{meta.name}: {why_failed(exc)}", status=500)
    finally:
        os.close(fd)
    if got != meta.size:
        return _failed(session, index, f"{meta.name}: {got} of {meta.size} bytes arrived")
    if hasher is not None and hasher.hexdigest() != meta.sha256:
        return _failed(session, index, f"{meta.name}: its SHA-256 does not match")
    try:
        saved = await asyncio.to_thread(landing.finish, index, session.dests[index], time.time())
    except OSError as exc:
        return _failed(session, index, f"{meta.name}: {why_failed(exc)}", status=500)
    session.done_bytes += got
    session.transfer.landed(index, str(saved))
    _ended(session, index, "")
    return 200, ""


def _failed(session: Incoming, index: int, reason: str, status: int = 400) -> tuple[int, str]:
    with contextlib.suppress(OSError):
        session.transfer.landing.partial(index).unlink(missing_ok=True)
    _ended(session, index, reason)
    return status, reason


def _ended(session: Incoming, index: int, reason: str) -> None:
    session.finished[index] = reason
    if len(session.finished) == len(session.files):
        failed = [(i, why) for i, why in session.finished.items() if why]
        session.transfer.finish(failed)


def cancelled_by_sender(session: Incoming) -> None:
    session.cancelled = True
    if session.transfer.state not in (TransferState.DONE, TransferState.FAILED):
        with contextlib.suppress(ChattyError):
            session.transfer.end(TransferState.CANCELLED, "cancelled by the sender")
