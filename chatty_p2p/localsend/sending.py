"""Files Chatty sends to a LocalSend device: prepare-upload with the list (the device
asks its user; the request waits for that), then one upload per file the device
wants, with progress and cancel as for Chatty's own transfers.

What the device answers is said in plain words: declined (403), busy with another
transfer (409), asking for a PIN (401: the transfer fails saying so, and goes again
with the PIN the user types), finished with nothing to send (204).
"""

from __future__ import annotations

import asyncio
import contextlib
import mimetypes
import urllib.parse
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from chatty_p2p.errors import ChattyError, RemoteProtocolError
from chatty_p2p.files.foreign import ForeignTransfer
from chatty_p2p.files.model import OFFER_TTL, TransferState
from chatty_p2p.localsend import client
from chatty_p2p.protocol.localsend import (
    API,
    Device,
    FileMeta,
    parse_upload_answer,
    upload_request,
)

CHUNK = 256 * 1024
ANSWERS = {
    403: "declined",
    409: "busy: it is receiving from another device",
    401: "it asks for a PIN (send again with the PIN it shows)",
    429: "it refuses: too many tries with a wrong PIN",
}


class OutgoingMover:
    """The sending side's ``files.foreign.Mover``: a cancel stops the task and tells
    the device (``/cancel``), as LocalSend's own app does."""

    def __init__(self, target: Device, host: str) -> None:
        self.task: asyncio.Task[None] | None = None
        self.target = target
        self.host = host
        self.session = ""

    def answered(self, accepted: bool, reason: str) -> None:
        """Only the receiving side is asked."""

    def cancel(self, reason: str) -> None:
        if self.task is not None:
            self.task.cancel()
        if self.session:
            query = urllib.parse.urlencode({"sessionId": self.session})
            target, host = self.target, self.host
            asyncio.get_running_loop().create_task(_tell_cancel(target, host, query))


async def _tell_cancel(target: Device, host: str, query: str) -> None:
    with contextlib.suppress(ChattyError):
        await client.request(host, target.port, target.protocol, "POST", f"{API}cancel?{query}")


async def send_text(me: Device, target: Device, host: str, text: str) -> None:
    """A message, as LocalSend sends one: a single text file whose preview is all of it.
    The device shows it and answers 204 (or 200 and takes it as a file, then sent)."""
    body = text.encode("utf-8")
    meta = FileMeta("0", "message.txt", len(body), "text/plain", preview=text)
    reply = await _prepare(_Target(me, target, host), [meta], client.READ_TIMEOUT)
    if reply.status == 204:
        return
    if reply.status != 200:
        why = ANSWERS.get(reply.status, f"it answered HTTP {reply.status}")
        raise ChattyError(f"{target.alias} did not take the message: {why}")
    session, tokens = parse_upload_answer(reply.body, {"0"})
    if "0" in tokens:
        query = urllib.parse.urlencode({"sessionId": session, "fileId": "0", "token": tokens["0"]})
        await client.request(
            host, target.port, target.protocol, "POST", f"{API}upload?{query}", body
        )


async def send(
    me: Device,
    target: Device,
    host: str,
    transfer: ForeignTransfer,
    files: list[tuple[str, str, int]],
    mover: OutgoingMover,
    pin: str = "",
) -> None:
    """The whole transfer; it ends in one of ``FINISHED``, whatever happens. ``pin``
    goes with the offer when the device asks for one."""
    try:
        await _offer_and_upload(_Target(me, target, host, pin), transfer, files, mover)
    except asyncio.CancelledError:
        return  # cancelled here: ``FileTransfers.cancel`` set the state
    except (ChattyError, OSError) as exc:
        transfer.end(TransferState.FAILED, str(exc))


@dataclass(frozen=True)
class _Target:
    me: Device
    device: Device
    host: str
    pin: str = ""


async def _offer_and_upload(
    to: _Target,
    transfer: ForeignTransfer,
    files: list[tuple[str, str, int]],
    mover: OutgoingMover,
) -> None:
    target, host = to.device, to.host
    metas = [
        FileMeta(str(i), path, size, mimetypes.guess_type(path)[0] or "application/octet-stream")
        for i, (path, _, size) in enumerate(files)
    ]
    reply = await _prepare(to, metas, OFFER_TTL)
    if reply.status == 204:
        transfer.finish([])
        return
    if reply.status != 200:
        why = ANSWERS.get(reply.status, f"it answered HTTP {reply.status}")
        state = TransferState.DECLINED if reply.status == 403 else TransferState.FAILED
        transfer.end(state, f"{target.alias}: {why}")
        return
    try:
        session, tokens = parse_upload_answer(reply.body, {m.id for m in metas})
    except RemoteProtocolError as exc:
        transfer.end(TransferState.FAILED, f"{target.alias}: {exc}")
        return
    mover.session = session
    transfer.started()
    done = 0
    failed: list[tuple[int, str]] = []
    for meta, (_, source, size) in zip(metas, files, strict=True):
        token = tokens.get(meta.id)
        if token is None:
            continue  # the device did not want this one
        query = urllib.parse.urlencode({"sessionId": session, "fileId": meta.id, "token": token})
        answer = await client.request(
            host,
            target.port,
            target.protocol,
            "POST",
            f"{API}upload?{query}",
            stream=_read(source, size, _ticker(transfer, meta, done)),
            length=size,
        )
        if answer.status != 200:
            failed.append((int(meta.id), f"{meta.name}: the device answered HTTP {answer.status}"))
        done += size
    transfer.finish(failed)


async def _prepare(to: _Target, metas: list[FileMeta], wait: float) -> client.Reply:
    """prepare-upload: the device asks its user (up to ``wait``), or answers at once."""
    body = upload_request(to.me, metas)
    query = f"?{urllib.parse.urlencode({'pin': to.pin})}" if to.pin else ""
    target = f"{API}prepare-upload{query}"
    return await client.request(
        to.host, to.device.port, to.device.protocol, "POST", target, body, wait=wait
    )


def _ticker(transfer: ForeignTransfer, meta: FileMeta, before: int) -> Callable[[int], None]:
    """Progress of one file, on top of the ``before`` bytes of the files sent earlier."""

    def tick(sent: int) -> None:
        transfer.progress(before + sent, meta.name, sent, meta.size)

    return tick


async def _read(path: str, size: int, tick: Callable[[int], None]) -> AsyncIterator[bytes]:
    """The file's bytes, ``size`` of them at most, in chunks read off the event loop."""
    sent = 0
    with open(path, "rb") as handle:  # each read goes to a thread
        while sent < size:
            chunk = await asyncio.to_thread(handle.read, min(CHUNK, size - sent))
            if not chunk:
                raise ChattyError(f"{path} is shorter than when it was offered")
            sent += len(chunk)
            yield chunk
            tick(sent)
