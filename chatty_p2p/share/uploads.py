"""Taking files from the browser into the receive folder, each with consent here.

The page offers a file (a name and a size); the offer waits for the face's
answer (``on_upload``, then ``BrowserShare.decide``), the browser asking again
every ``POLL_WAIT`` seconds; ``MAX_OFFERS`` wait at a time. An upload's body
is taken only for an accepted offer, once, from the address that offered it,
and only if it is exactly the size offered. It lands in a partial under
``.chatty-partial`` in the receive folder (as the node's transfers do) and
gets its final name only once complete, never replacing a file: a taken name
is numbered, ``photo (1).jpg``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import secrets
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import h11

from chatty_p2p import portable
from chatty_p2p.errors import ChattyError, why_failed
from chatty_p2p.files.landing import FILE_MODE, Landing, write_all
from chatty_p2p.protocol.names import readable, safe_part
from chatty_p2p.share.events import Emit, UploadOffer
from chatty_p2p.share.exchange import CHUNK, Exchange, content_length

log = logging.getLogger(__name__)

MAX_JSON = 4 * 1024
"""An offer is a name and a size."""
MAX_NAME = 1024
MAX_OFFERS = 16
"""Uploads offered and not yet finished (or their refusal not yet seen); more get 429."""
POLL_WAIT = 20.0
"""A consent request is held this long, then answered "pending" and asked again."""
DECISION_TTL = 600.0
"""An offer nobody answers is declined after this many seconds."""
UPLOAD_START_TTL = 120.0
"""An accepted offer whose body does not start coming within this is dropped."""


@dataclass
class _Slot:
    """An offer and what became of it, until the browser knows."""

    offer: UploadOffer
    state: str  # pending, accepted, declined, uploading
    reason: str = ""
    answered: asyncio.Event = field(default_factory=asyncio.Event)
    timer: asyncio.TimerHandle | None = None


class Uploads:
    """The offers of one share and the bodies of those accepted."""

    def __init__(
        self,
        receive_dir: Path,
        on_upload: Callable[[UploadOffer], None] | None,
        emit: Emit,
    ) -> None:
        self.receive_dir = receive_dir
        self._on_upload = on_upload
        self._emit = emit
        self._offers: dict[str, _Slot] = {}
        self._ended = False

    # ----- the face's side ---------------------------------------------------

    def decide(self, upload_id: str, accept: bool) -> bool:
        """See ``BrowserShare.decide``."""
        slot = self._offers.get(upload_id)
        if slot is None or slot.state != "pending":
            return False
        if accept:
            self._settle(slot, "accepted", "", UPLOAD_START_TTL)
        else:
            self._settle(slot, "declined", "", POLL_WAIT * 2)
            self._emit("upload-declined", slot.offer, detail="declined here")
        return True

    def end(self) -> None:
        """The share is ending: no new offers, and those not yet sent are declined."""
        self._ended = True
        for slot in list(self._offers.values()):
            if slot.state in ("pending", "accepted"):
                self._settle(slot, "declined", "the share has ended", POLL_WAIT)

    def forget(self) -> None:
        """The share has ended: no offer is kept, no timer left running."""
        for slot in self._offers.values():
            if slot.timer is not None:
                slot.timer.cancel()
        self._offers.clear()

    # ----- the browser's requests --------------------------------------------

    async def offer(self, exchange: Exchange, body: bytes) -> None:
        """``POST offer``: a name and a size, answered once decided (or pending)."""
        try:
            name, size = _parse_offer(body)
        except ValueError as exc:
            await exchange.respond_json(400, {"state": "failed", "reason": str(exc)})
            return
        if self._ended:
            reply = {"state": "declined", "reason": "the share has ended"}
            await exchange.respond_json(403, reply)
            return
        if len(self._offers) >= MAX_OFFERS:
            reason = "too many files are waiting; send this one when those are done"
            await exchange.respond_json(429, {"state": "failed", "reason": reason})
            return
        room = self._free_space()
        offer = UploadOffer(secrets.token_urlsafe(12), name, size, exchange.remote)
        slot = _Slot(offer, "pending")
        self._offers[offer.id] = slot
        if size > room:
            self._settle(slot, "declined", "not enough free space there", POLL_WAIT)
            self._emit("upload-declined", offer, detail="not enough free space")
        else:
            slot.timer = asyncio.get_running_loop().call_later(
                DECISION_TTL, self._slot_timeout, offer.id
            )
            self._emit("upload-offered", offer)
            self._ask(slot)
        await self._report(exchange, slot)

    async def poll(self, exchange: Exchange, upload_id: str) -> None:
        """``GET offer/ID``: the offer's state, to the address that offered it."""
        slot = self._offers.get(upload_id)
        if slot is None or slot.offer.remote != exchange.remote:
            await exchange.respond_json(404, {"state": "failed", "reason": "unknown upload"})
            return
        await self._report(exchange, slot)

    async def upload(self, exchange: Exchange, request: h11.Request, upload_id: str) -> None:
        """``PUT upload/ID``: the body of an accepted offer, exactly its size."""
        slot = self._offers.get(upload_id)
        if slot is None or slot.state != "accepted" or slot.offer.remote != exchange.remote:
            await exchange.respond_json(404, {"state": "failed", "reason": "not accepted"})
            return
        offer = slot.offer
        slot.state = "uploading"  # one attempt per offer, whatever comes of it
        if slot.timer is not None:
            slot.timer.cancel()
        declared = content_length(request)
        if declared != offer.size:
            self._offers.pop(upload_id)
            sends = "of unstated length" if declared is None else f"{declared:,} bytes"
            detail = f"the browser's upload is {sends}, not the {offer.size:,} bytes it offered"
            self._emit("upload-failed", offer, detail=detail)
            reason = f"expected exactly {offer.size} bytes, as offered"
            await exchange.respond_json(413, {"state": "failed", "reason": reason})
            return
        try:
            saved = await self._receive(exchange, offer)
        except (ConnectionError, TimeoutError, h11.ProtocolError, asyncio.CancelledError):
            self._emit("upload-failed", offer, detail="the browser stopped sending")
            raise
        except (OSError, ChattyError) as exc:  # the disk, or a symlink in the way (Landing)
            where = readable(str(self.receive_dir))
            self._emit(
                "upload-failed", offer, detail=f"cannot save it in {where}: {why_failed(exc)}"
            )
            reason = "the sharing computer cannot save it"
            await exchange.respond_json(500, {"state": "failed", "reason": reason})
            return
        finally:
            self._offers.pop(upload_id, None)
        self._emit("upload-done", offer, path=str(saved))
        await exchange.respond_json(200, {"state": "done", "id": offer.id})

    # ----- offers --------------------------------------------------------------

    def _ask(self, slot: _Slot) -> None:
        if self._on_upload is None:
            self.decide(slot.offer.id, False)
            return
        try:
            self._on_upload(slot.offer)
        except Exception:
            log.exception("the share's upload handler failed")
            self.decide(slot.offer.id, False)

    async def _report(self, exchange: Exchange, slot: _Slot) -> None:
        """Tell the browser the offer's state, holding the answer up to ``POLL_WAIT``
        while nobody has decided; a refusal, once told, is forgotten."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(POLL_WAIT):
                await slot.answered.wait()
        offer_id = slot.offer.id
        if slot.state == "declined":
            self._drop(offer_id)
            reply = {"state": "declined", "id": offer_id, "reason": slot.reason}
            await exchange.respond_json(403, reply)
        elif slot.state == "pending":
            await exchange.respond_json(202, {"state": "pending", "id": offer_id})
        else:
            await exchange.respond_json(200, {"state": "accepted", "id": offer_id})

    def _settle(self, slot: _Slot, state: str, reason: str, keep_for: float) -> None:
        slot.state, slot.reason = state, reason
        slot.answered.set()
        if slot.timer is not None:
            slot.timer.cancel()
        slot.timer = asyncio.get_running_loop().call_later(
            keep_for, self._slot_timeout, slot.offer.id
        )

    def _slot_timeout(self, upload_id: str) -> None:
        slot = self._offers.get(upload_id)
        if slot is None:
            return
        if slot.state == "pending":
            self._settle(slot, "declined", "nobody answered in time", POLL_WAIT * 2)
            self._emit("upload-declined", slot.offer, detail="nobody answered in time")
        elif slot.state == "accepted":
            self._drop(upload_id)
            self._emit("upload-failed", slot.offer, detail="the browser never sent it")
        elif slot.state == "declined":
            self._drop(upload_id)

    def _drop(self, upload_id: str) -> None:
        slot = self._offers.pop(upload_id, None)
        if slot is not None and slot.timer is not None:
            slot.timer.cancel()

    def _free_space(self) -> int:
        folder = self.receive_dir
        while not folder.exists() and folder != folder.parent:
            folder = folder.parent
        try:
            free = shutil.disk_usage(folder).free
        except OSError:
            return 0
        return free - sum(s.offer.size for s in self._offers.values() if s.state != "declined")

    # ----- bodies --------------------------------------------------------------

    async def _receive(self, exchange: Exchange, offer: UploadOffer) -> Path:
        """Land the body in a partial and name it only once all of it is there."""
        landing = Landing(self.receive_dir, f"browser-{offer.id}")
        try:
            await asyncio.to_thread(landing.prepare)
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL
            fd = portable.open_nofollow(landing.partial(0), flags, FILE_MODE)
            try:
                if exchange.conn.they_are_waiting_for_100_continue:
                    await exchange.send(h11.InformationalResponse(status_code=100, headers=[]))
                await _write_body(exchange, fd, offer.size)
            finally:
                os.close(fd)
            return await asyncio.to_thread(landing.finish, 0, offer.name, time.time())
        finally:
            landing.discard()


async def _write_body(exchange: Exchange, fd: int, size: int) -> None:
    """Write the body as it comes, a few chunks per disk write, off the event loop."""
    pending = bytearray()
    got = 0
    async for chunk in exchange.body_chunks():
        got += len(chunk)
        if got > size:  # h11 frames by Content-Length, so this is a second line of defence
            raise h11.RemoteProtocolError("more bytes than offered")
        pending += chunk
        if len(pending) >= 4 * CHUNK:
            await asyncio.to_thread(write_all, fd, bytes(pending))
            pending.clear()
    await asyncio.to_thread(write_all, fd, bytes(pending))


def _parse_offer(body: bytes) -> tuple[str, int]:
    """The safe name and the size of an offer, or ValueError saying what is wrong."""
    try:
        offer = json.loads(body)
    except ValueError:
        raise ValueError("the offer is not JSON") from None
    if not isinstance(offer, dict):
        raise ValueError("the offer is not a JSON object")
    name, size = offer.get("name"), offer.get("size")
    if not isinstance(name, str) or not name or len(name) > MAX_NAME:
        raise ValueError("the offer needs a file name")
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate, from a "\ud800" escape
        raise ValueError("the file name is not valid Unicode") from None
    if not isinstance(size, int) or isinstance(size, bool) or not 0 <= size < 2**53:
        raise ValueError("the offer needs the file's size in bytes")
    # Browsers send a bare name, but this one may come from anywhere.
    return safe_part(name.replace("\\", "/").rsplit("/", 1)[-1]), size
