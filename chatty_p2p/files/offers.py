"""Offers made to us, from their arrival to the user's answer: checked first (room on
the disk, how many already wait, receiving paused), then accepted unasked from a peer
the policy names or shown to the user, and declined as expired if nobody answers;
and, to a sender that missed it, how a transfer ended here, said again."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import time
from pathlib import Path

from chatty_p2p.errors import ChattyError, why_failed
from chatty_p2p.files.foreign import Mover
from chatty_p2p.files.landing import check_folder
from chatty_p2p.files.ledger import Ledger, LiveTransfer, TransferNews
from chatty_p2p.files.model import (
    AUTO_RESUME,
    FINISHED,
    MAX_PENDING_OFFERS,
    OFFER_TTL,
    RESUMABLE,
    TransferInfo,
    TransferState,
    human_size,
    items,
)
from chatty_p2p.files.peers import Peers
from chatty_p2p.files.pump import Pump
from chatty_p2p.protocol.messages import Offer
from chatty_p2p.protocol.names import readable
from chatty_p2p.store import Store, TransferRecord

log = logging.getLogger(__name__)


class Offers:
    """The receiving side's offers; ``FileTransfers`` hands them over."""

    def __init__(
        self,
        store: Store,
        ledger: Ledger,
        pump: Pump,
        *,
        peers: Peers,
        news: TransferNews,
        download_dir: Path,
    ) -> None:
        self._store = store
        self._ledger = ledger
        self._pump = pump
        self._peers = peers
        self._news = news
        self.download_dir = download_dir
        """Where an offer accepted now lands."""
        self.paused = False
        """Receiving is paused: every new offer is declined (``Node.set_receiving_paused``)."""
        self._warned: dict[str, str] = {}
        """The last refusal each peer was warned about: a flood of refused offers warns once."""
        self.movers: dict[str, Mover] = {}
        """Transfers another protocol moves (``files.foreign``), by id: answered through
        their mover, not through a Chatty session."""

    def arrived(self, peer_id: str, offer: Offer) -> None:
        """An offer came in: one we know already is resumed or told how it ended;
        a new one is refused (and the user warned, once) if it cannot be taken,
        else accepted unasked from a peer the policy names, or shown to the user."""
        key = (peer_id, offer.id, False)
        known = self._store.transfer(key)
        if known is not None:
            if known.state in AUTO_RESUME:
                self._pump.resume(self._ledger.live_for(known))
            elif known.state in FINISHED:
                self.tell_ended(known)
            return
        waiting = self._waiting(peer_id)
        record = TransferRecord(
            id=offer.id,
            peer_id=peer_id,
            outgoing=False,
            state=TransferState.OFFERED,
            count=offer.count,
            size=offer.size,
            names=list(offer.names),
            folder=str(self.download_dir),
        )
        # Refusals happen before anything is stored: a peer sending offers it knows will be
        # refused must not grow the database (or, past the first, the user's warnings).
        refusal = self._refusal(record, waiting)
        if refusal:
            log.warning("declined an offer from %s: %s", peer_id[:8], refusal)
            conn = self._peers.connection(peer_id)
            if conn is not None:
                conn.send(lambda s: s.send_answer(offer.id, False, refusal))
            if waiting < MAX_PENDING_OFFERS and self._warned.get(peer_id) != refusal:
                self._warned[peer_id] = refusal
                summary = f"{items(offer.count)}, {human_size(offer.size)}"
                name = self._peers.name(peer_id)
                self._news.warn(peer_id, f"declined {name}'s offer of {summary}: {refusal}")
            return
        self._warned.pop(peer_id, None)
        self._store.add_transfer(record)
        live = self._ledger.live_for(record)
        if self._peers.accepts_from(peer_id):
            self._answer(live, True)
            return
        self.expire_later(live, OFFER_TTL)
        self._news.transfer_offered(self._ledger.info(live))

    def arrived_foreign(
        self, record: TransferRecord, mover: Mover
    ) -> tuple[LiveTransfer | None, str]:
        """An offer from a device of another protocol: refused as Chatty's are (no room,
        too many waiting, receiving paused: the reason comes back), else always shown
        to the user, never accepted unasked (nobody verified the device), and answered
        through ``mover``."""
        record.folder = str(self.download_dir)
        refusal = self._refusal(record, self._waiting(record.peer_id))
        if refusal:
            return None, refusal
        self._store.add_transfer(record)
        live = self._ledger.live_for(record)
        self.movers[record.id] = mover
        self.expire_later(live, OFFER_TTL)
        self._news.transfer_offered(self._ledger.info(live))
        return live, ""

    def _waiting(self, peer_id: str) -> int:
        """Offers from ``peer_id`` waiting for the user's answer."""
        return sum(
            1
            for live in self._ledger.live.values()
            if live.record.peer_id == peer_id
            and not live.record.outgoing
            and live.record.state == TransferState.OFFERED
        )

    def _refusal(self, record: TransferRecord, waiting: int) -> str:
        """Why an offer cannot be taken ("" if it can): no room, too many waiting
        already, receiving paused."""
        if self.paused:
            return "receiving is paused"
        if waiting >= MAX_PENDING_OFFERS:
            return "too many offers waiting for an answer"
        return self.space_problem(record)

    def tell_ended(self, record: TransferRecord) -> None:
        """The sender offers again, or asks to resume, what ended here while it was
        away (it never heard the answer or the cancel): tell it again, so that both
        sides agree."""
        conn = self._peers.connection(record.peer_id)
        if conn is None:
            return
        with contextlib.suppress(ChattyError):
            if record.state in (
                TransferState.DECLINED,
                TransferState.EXPIRED,
            ):  # as ``_answer`` said it
                conn.send(lambda s: s.send_answer(record.id, False, record.error))
            elif not self._pump.tell_ended(record):
                reason = record.error or f"it has ended here ({record.state})"
                conn.send(lambda s: s.send_cancel(record.id, reason))

    def space_problem(self, record: TransferRecord) -> str:
        """Why the transfer would not fit, or ""; words that may go to the peer."""
        folder = Path(record.folder)
        shown = readable(record.folder)
        probe = folder
        while not probe.exists() and probe != probe.parent:
            probe = probe.parent
        try:
            free = shutil.disk_usage(probe).free
        except OSError as exc:
            return f"cannot use the download folder {shown}: {why_failed(exc)}"
        owed = sum(
            live.record.size - live.record.done_bytes
            for live in self._ledger.live.values()
            if not live.record.outgoing
            and live.record.state in RESUMABLE
            and live.record.folder == record.folder
            and live.record is not record
        )
        need = record.size - record.done_bytes
        if need + owed > free:
            return (
                f"not enough free space in {shown}: needs {human_size(need)}, "
                f"{human_size(max(free - owed, 0))} free"
            )
        return ""

    def expire_later(self, live: LiveTransfer, delay: float) -> None:
        remaining = max(0.0, live.record.created + delay - time.time())
        live.timer = asyncio.get_running_loop().call_later(
            remaining,
            lambda: self._answer(live, False, "the offer expired", state=TransferState.EXPIRED),
        )

    def accept(self, spec: str) -> TransferInfo:
        """Accept a waiting offer into the download folder set now: a folder set
        while the offer waited applies to it too. One that has become unusable since
        it was set (a file in its place, a disk gone read-only) is refused here, in
        plain words, rather than found by the transfer."""
        live = self._ledger.find(spec)
        if live.record.outgoing or live.record.state != TransferState.OFFERED:
            raise ChattyError(f"transfer {live.record.id[:8]} is not an offer waiting for you")
        check_folder(self.download_dir)
        live.record.folder = str(self.download_dir)
        short = self.space_problem(live.record)
        if short:
            raise ChattyError(short)
        self._answer(live, True)
        return self._ledger.info(live)

    def decline(self, spec: str) -> TransferInfo:
        live = self._ledger.find(spec)
        if live.record.outgoing or live.record.state != TransferState.OFFERED:
            raise ChattyError(f"transfer {live.record.id[:8]} is not an offer waiting for you")
        self._answer(live, False)  # the state says it; no reason to repeat
        return self._ledger.info(live)

    def _answer(
        self,
        live: LiveTransfer,
        accepted: bool,
        reason: str = "",
        state: TransferState = TransferState.DECLINED,
    ) -> None:
        if live.record.state != TransferState.OFFERED:
            return
        mover = self.movers.get(live.record.id)
        if mover is not None:
            self._ledger.set(live, TransferState.RUNNING if accepted else state, reason)
            mover.answered(accepted, reason)
            return
        conn = self._peers.connection(live.record.peer_id)
        if conn is not None:
            with contextlib.suppress(ChattyError):
                conn.send(lambda s: s.send_answer(live.record.id, accepted, reason))
        if accepted:
            self._ledger.set(live, TransferState.RUNNING)
            self._pump.resume(live)
        else:
            self._ledger.set(live, state, reason)
