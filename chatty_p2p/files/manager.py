"""File batches as the node sees them: offers, consent, resumes, progress.

This is the asyncio side of file transfer; the bytes move in ``sending`` and ``receiving`` in
worker threads. Rules:

* The sender stores the batch (manifest and local paths) and sends an OFFER
  over the control session; an offer to a peer that is away waits, like a
  message, and goes out when the peer is back.
* The receiver stores the offer, checks free space (minus what its other
  running transfers still need), and either declines, auto-accepts (a trusted
  peer, by the node's policy) or asks its user. An unanswered offer expires;
  a peer gets at most ``MAX_PENDING_OFFERS`` waiting.
* The receiver drives every bulk connection: it dials after accepting, and
  again whenever the peer comes back, asking only for bytes it lacks. So an
  interrupted transfer resumes with no extra bookkeeping on the sender, who
  may even have restarted in between: its manifest is in the store.
* Each transfer is keyed by (peer, id, direction): a peer cannot touch another
  peer's transfers, nor pass off an incoming id as one of ours.
* Both sides end in the same state. A receiver that cannot write (a full disk,
  an unwritable folder) or a sender that cannot read tells the other side why
  on the bulk link; both keep the transfer "paused" with that reason, and
  ``chatty resume`` on either side continues from the bytes on disk once it is
  fixed. Partial bytes of a
  transfer that can never resume are removed when it ends and at start-up.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Callable
from pathlib import Path

from chatty_p2p.errors import (
    ChattyError,
)
from chatty_p2p.files.foreign import NO_RESUME, ForeignTransfer, Mover
from chatty_p2p.files.landing import Landing, check_folder, remove_leftovers
from chatty_p2p.files.ledger import Ledger, LiveTransfer, TransferNews
from chatty_p2p.files.manifest import build_manifest
from chatty_p2p.files.model import (
    AUTO_RESUME,
    FINISHED,
    OFFER_TTL,
    RESUMABLE,
    TransferInfo,
    TransferState,
)
from chatty_p2p.files.offers import Offers
from chatty_p2p.files.peers import Peers, Spawner
from chatty_p2p.files.pump import Pump, Workers, interrupt
from chatty_p2p.identity import Identity
from chatty_p2p.net.connection import Connection
from chatty_p2p.net.tlspipe import KernelTls, TlsPipe
from chatty_p2p.protocol.bulk.wire import MAX_PATH_BYTES, Entry
from chatty_p2p.protocol.localsend import ID_PREFIX as FOREIGN_PREFIX
from chatty_p2p.protocol.messages import (
    MAX_FILES,
    AnswerReceived,
    CancelReceived,
    EndedReceived,
    Event,
    Offer,
    OfferReceived,
    ResumeRequested,
)
from chatty_p2p.store import Store, TransferRecord

log = logging.getLogger(__name__)

Start = Callable[[ForeignTransfer, list[tuple[str, str, int]]], Mover]
"""Starts moving an outgoing foreign transfer; returns its mover (``send_foreign``)."""


class FileTransfers:
    """Every transfer of one node. The node forwards session events and bulk connections."""

    def __init__(
        self,
        store: Store,
        identity: Identity,
        *,
        news: TransferNews,
        peers: Peers,
        tasks: Spawner,
        download_dir: Path,
        lanes: int,
    ) -> None:
        self._store = store
        self._identity = identity
        self._news = news
        self._peers = peers
        self._tasks = tasks
        self._lanes = lanes
        """Bulk connections this side uses for one transfer at once (see ``Lanes``)."""
        self._ledger = Ledger(store, news=news, peers=peers, forget=self._forget)
        self._workers = Workers()
        self._pump = Pump(
            store,
            identity,
            self._ledger,
            self._workers,
            peers=peers,
            lanes=lanes,
            tasks=tasks,
        )
        self._offers = Offers(
            store, self._ledger, self._pump, peers=peers, news=news, download_dir=download_dir
        )

    @property
    def download_dir(self) -> Path:
        """Where an offer accepted now lands."""
        return self._offers.download_dir

    @property
    def paused(self) -> bool:
        """Receiving is paused: every new offer is declined (``Node.set_receiving_paused``)."""
        return self._offers.paused

    @paused.setter
    def paused(self, on: bool) -> None:
        self._offers.paused = on

    def accept(self, spec: str) -> TransferInfo:
        return self._offers.accept(spec)

    def decline(self, spec: str) -> TransferInfo:
        return self._offers.decline(spec)

    # ----- lifecycle -------------------------------------------------------

    def start(self) -> None:
        """Pick up what a previous run left unfinished: all of it waits for its peer.
        Partial bytes of transfers that ended are removed, in the background (a
        download folder may be on a slow disk)."""
        for record in self._store.unfinished_transfers(FINISHED):
            if record.peer_id.startswith(FOREIGN_PREFIX):
                self._ledger.set(self._ledger.live_for(record), TransferState.FAILED, NO_RESUME)
                continue
            if record.state in (TransferState.RUNNING, TransferState.RESUMING):
                record.state = TransferState.INTERRUPTED
                self._store.update_transfer(record)
            live = self._ledger.live_for(record)
            if record.state == TransferState.OFFERED and not record.outgoing:
                self._offers.expire_later(live, OFFER_TTL)
        folders = {Path(f) for f in self._store.download_folders()} | {self.download_dir}
        keep = {
            (Path(live.record.folder), live.record.id)
            for live in self._ledger.live.values()
            if not live.record.outgoing
        }
        self._tasks.spawn(self._workers.run(remove_leftovers, folders, keep))

    async def stop(self) -> None:
        self._workers.stopping = True
        for live in self._ledger.live.values():
            interrupt(live)
            if live.timer is not None:
                live.timer.cancel()
        await self._workers.wait(10)  # a worker must not write on after stop() returns
        await asyncio.sleep(0)  # the workers' last news, then what landed is recorded
        for live in self._ledger.live.values():
            self._ledger.record_landed(live)

    def _forget(self, landing: Landing, indexes: list[int]) -> None:
        if not self._workers.stopping:  # else they go when it ends (second names: no space)
            self._tasks.spawn(self._workers.run(landing.forget, indexes))

    def all(self) -> list[TransferInfo]:
        """Recent transfers, newest first, live figures where running."""
        return self._ledger.all()

    async def serve_bulk(
        self, pipe: TlsPipe | KernelTls, peer_id: str, authenticated: Callable[[], None]
    ) -> None:
        """A peer dialled us for a transfer's bytes (see ``Pump.serve_bulk``)."""
        await self._pump.serve_bulk(pipe, peer_id, authenticated)

    def resume(self, live: LiveTransfer, asked: bool = False) -> None:
        """(Re)start fetching an accepted incoming transfer (see ``Pump.resume``)."""
        self._pump.resume(live, asked)

    def set_download_dir(self, folder: Path) -> Path:
        """Where offers accepted from now on land, offers already waiting included.
        Refused, in plain words, unless files can be saved there (see
        ``check_folder``): a wrong folder is the user's to correct now, not a
        paused transfer's later."""
        folder = folder.expanduser().absolute()
        check_folder(folder)
        self._offers.download_dir = folder
        return folder

    # ----- queries ---------------------------------------------------------

    # ----- the sender ------------------------------------------------------

    async def send(self, peer_id: str, paths: list[Path]) -> TransferInfo:
        """Offer files and folders to a peer; they go when it accepts."""
        record, entries, sources = await self._new_outgoing(peer_id, paths)
        # Stored with its manifest in one transaction, before the peer hears of it: an
        # offer that cannot be stored is an error here, never a ghost that waits on.
        self._store.add_transfer(record, entries, sources)
        live = self._ledger.live_for(record)
        self._news.transfer_changed(self._ledger.info(live))
        conn = self._peers.connection(peer_id)
        if conn is not None:
            self._offer(conn, record)
        else:
            self._peers.want_connection(peer_id)
        return self._ledger.info(live)

    async def send_foreign(self, peer_id: str, paths: list[Path], start: Start) -> TransferInfo:
        """Offer files and folders to a device of another protocol: stored and shown as
        Chatty's own, moved by the ``Mover`` that ``start`` returns, given the handle
        to report through and each file's (path in the batch, local path, size)."""
        record, entries, sources = await self._new_outgoing(peer_id, paths)
        self._store.add_transfer(record, entries, sources)
        live = self._ledger.live_for(record)
        files = [(e.path, src, e.size) for e, src in zip(entries, sources, strict=True) if src]
        self._offers.movers[record.id] = start(ForeignTransfer(self._ledger, live), files)
        self._news.transfer_changed(self._ledger.info(live))
        return self._ledger.info(live)

    def offer_foreign(
        self, peer_id: str, names: list[str], count: int, size: int, mover: Mover
    ) -> ForeignTransfer | str:
        """An offer from a device of another protocol (``Offers.arrived_foreign``): its
        handle, or why it was refused."""
        record = TransferRecord(
            id=uuid.uuid4().hex,
            peer_id=peer_id,
            outgoing=False,
            state=TransferState.OFFERED,
            count=count,
            size=size,
            names=names[:8],
        )
        live, refusal = self._offers.arrived_foreign(record, mover)
        return ForeignTransfer(self._ledger, live) if live is not None else refusal

    async def _new_outgoing(
        self, peer_id: str, paths: list[Path]
    ) -> tuple[TransferRecord, list[Entry], list[str]]:
        """An outgoing transfer's record and manifest, checked: not stored yet."""
        if not paths:
            raise ChattyError("nothing to send: name at least one file or folder")
        entries, sources = await self._workers.run(build_manifest, paths)
        if not entries:
            raise ChattyError("nothing to send: no readable files there")
        if len(entries) > MAX_FILES:
            raise ChattyError(f"cannot send {len(entries):,} items at once: {MAX_FILES:,} at most")
        too_long = [e.path for e in entries if len(e.path.encode("utf-8")) > MAX_PATH_BYTES]
        if too_long:
            raise ChattyError(
                f"cannot send: {len(too_long)} path(s) longer than a peer takes "
                f"({MAX_PATH_BYTES} bytes): {', '.join(p[:60] + '…' for p in too_long[:3])}"
            )
        record = TransferRecord(
            id=uuid.uuid4().hex,
            peer_id=peer_id,
            outgoing=True,
            state=TransferState.OFFERED,
            count=len(entries),
            size=sum(e.size for e in entries),
            names=sorted({e.path.split("/", 1)[0] for e in entries})[:8],
        )
        return record, entries, sources

    @staticmethod
    def _offer(conn: Connection, record: TransferRecord) -> None:
        offer = Offer(record.id, record.count, record.size, tuple(record.names))
        conn.send(lambda s: s.send_offer(offer))

    # ----- the receiver ----------------------------------------------------

    @staticmethod
    def _ask_resume(conn: Connection, transfer_id: str) -> None:
        conn.send(lambda s: s.send_resume(transfer_id))

    # ----- both ------------------------------------------------------------

    def cancel(self, spec: str, reason: str = "cancelled") -> TransferInfo:
        """Stop a transfer from this side and tell the peer."""
        live = self._ledger.find(spec)
        if live.record.state in FINISHED:
            raise ChattyError(f"transfer {live.record.id[:8]} has already ended")
        mover = self._offers.movers.pop(live.record.id, None)
        if mover is not None:
            self._ledger.set(live, TransferState.CANCELLED, reason)
            mover.cancel(reason)
            return self._ledger.info(live)
        conn = self._peers.connection(live.record.peer_id)
        if conn is not None:
            with contextlib.suppress(ChattyError):
                conn.send(lambda s: s.send_cancel(live.record.id, reason))
        self._pump.stop_and_clean(live)
        self._ledger.set(live, TransferState.CANCELLED, reason)
        return self._ledger.info(live)

    # ----- from the node ---------------------------------------------------

    def on_online(self, peer_id: str, conn: Connection) -> None:
        """The peer is back: re-send pending offers, resume what we were fetching.

        A new session while bytes still flow means the old one died, most often
        because the peer changed networks: its bulk link is then on a dead path
        and would only notice after ``BULK_TIMEOUT``, so it is dropped and resumed
        now (a healthy one loses a round trip, nothing more)."""
        for live in list(self._ledger.live.values()):
            record = live.record
            if record.peer_id != peer_id:
                continue
            if record.outgoing and record.state == TransferState.OFFERED:
                self._offer(conn, record)
            elif record.outgoing and record.state in AUTO_RESUME:
                # The receiver drives, but it may have ended the transfer while we were
                # away: asked to resume, it resumes or says how it ended.
                self._ask_resume(conn, record.id)
            elif not record.outgoing:
                live.attempts = 0
                if live.channel is not None and live.task is not None and not live.task.done():
                    live.channel.abort()
                self._pump.resume(live)

    def on_network_change(self, local: set[str]) -> None:
        """Addresses left the machine: drop bulk links that used them now rather than
        after ``BULK_TIMEOUT`` of silence. Each transfer resumes where it stopped, over
        whichever path the peer is reachable by (the receiver re-dials, the sender
        takes the new connection)."""
        for live in self._ledger.live.values():
            channel = live.channel
            if (
                channel is not None
                and channel.local_host
                and channel.local_host.split("%")[0] not in local
            ):
                log.info("transfer %s: its network path is gone", live.record.id[:8])
                channel.abort()

    def on_event(self, peer_id: str, event: Event) -> bool:
        """Handle a transfer frame from a control session; False if not one."""
        match event:
            case OfferReceived(offer=offer):
                self._offers.arrived(peer_id, offer)
            case AnswerReceived(transfer_id=tid, accepted=accepted, reason=reason):
                record = self._store.transfer((peer_id, tid, True))
                if record is not None and record.state == TransferState.OFFERED:
                    live = self._ledger.live_for(record)
                    if accepted:
                        self._ledger.set(live, TransferState.RUNNING)
                        self._pump.await_bulk(live, "accepted")
                    else:
                        name = self._peers.name(peer_id)
                        expired = "expired" in reason
                        state = TransferState.EXPIRED if expired else TransferState.DECLINED
                        detail = f": {reason}" if reason else ""
                        self._ledger.set(live, state, f"{name} declined{detail}")
            case CancelReceived(transfer_id=tid, reason=reason):
                for outgoing in (True, False):
                    record = self._store.transfer((peer_id, tid, outgoing))
                    if record is not None and record.state not in FINISHED:
                        live = self._ledger.live_for(record)
                        self._pump.stop_and_clean(live)
                        self._ledger.set(
                            live, TransferState.CANCELLED, self._pump.cancelled_by(peer_id, reason)
                        )
            case EndedReceived(transfer_id=tid, failed=failed, reason=reason):
                self._ended_there(peer_id, tid, failed, reason)
            case ResumeRequested(transfer_id=tid):
                record = self._store.transfer((peer_id, tid, False))
                if record is not None and record.state in FINISHED:
                    self._offers.tell_ended(record)
                elif record is not None:
                    live = self._ledger.live_for(record)
                    live.sender_asked = True  # it hears how this ends, if it ends now
                    self._pump.resume(live, asked=True)
            case _:
                return False
        return True

    def _ended_there(self, peer_id: str, tid: str, failed: bool, reason: str) -> None:
        """The receiver says how a transfer we sent ended there: we missed its last
        word (our link broke just before it, or we were stopped), so it ends so here."""
        record = self._store.transfer((peer_id, tid, True))
        if record is None or record.state in FINISHED:
            return
        live = self._ledger.live_for(record)
        interrupt(live)
        live.generation += 1  # a worker still winding down has nothing more to say
        if failed:
            name = self._peers.name(peer_id)
            self._ledger.set(live, TransferState.FAILED, f"{name}: {reason or 'failed'}")
        else:
            self._ledger.finish(live, [])

    def owes_offer(self, peer_id: str) -> bool:
        """Whether an offer to this peer still waits to be sent: reason to dial it."""
        return any(
            live.record.outgoing
            and live.record.state == TransferState.OFFERED
            and live.record.peer_id == peer_id
            for live in self._ledger.live.values()
        )

    def request_resume(self, spec: str) -> TransferInfo:
        """Resume now: the receiver re-dials; a sender asks its receiver to. The state
        returned is the truth at this moment: "resuming" while the link is being made,
        "running" if it already was, "interrupted" (saying why) when the peer is away;
        then the transfer goes on by itself once the peer is back, paused or not: its
        user has just said the problem is fixed."""
        live = self._ledger.find(spec)
        record = live.record
        if record.id in self._offers.movers:
            raise ChattyError(NO_RESUME)
        if record.state not in RESUMABLE:
            raise ChattyError(f"transfer {record.id[:8]} is {record.state}; nothing to resume")
        name = self._peers.name(record.peer_id)
        conn = self._peers.connection(record.peer_id)
        if not record.outgoing:
            short = self._offers.space_problem(record)
            if short:
                raise ChattyError(f"{short}; free some space, then resume again")
        if conn is None:
            if record.state != TransferState.RUNNING:
                self._ledger.set(
                    live,
                    TransferState.INTERRUPTED,
                    f"{name} is offline; it resumes when {name} is back",
                )
            self._peers.want_connection(record.peer_id)
        elif record.outgoing:
            self._ask_resume(conn, record.id)
            if record.state != TransferState.RUNNING:
                self._ledger.set(live, TransferState.RESUMING, f"asked {name} to resume")
                self._pump.await_bulk(live, "was asked to resume")
        else:
            live.attempts = 0
            self._pump.resume(live, asked=True)
        return self._ledger.info(live)
