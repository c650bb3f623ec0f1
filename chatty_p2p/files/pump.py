"""The bulk hand-off: the sender serving the connections a receiver dials for a
transfer's bytes (its main connection and its lanes), and the receiver fetching them,
resuming and retrying. Both run the loops of ``sending`` and ``receiving`` in worker
threads and turn how they end into the transfer's state (``ledger``): done, failed,
paused on something a user can fix, or interrupted and resumed when it can be.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from chatty_p2p.errors import (
    Cancelled,
    CancelledByPeer,
    ChattyError,
    Interrupted,
    Paused,
    PeerError,
    ProtocolError,
)
from chatty_p2p.files.landing import Landing
from chatty_p2p.files.ledger import Ledger, LiveTransfer, ThreadReporter
from chatty_p2p.files.model import AUTO_RESUME, FINISHED, RESUMABLE, TransferState
from chatty_p2p.files.peers import Peers, Spawner
from chatty_p2p.files.receiving import Incoming, Lanes, receive
from chatty_p2p.files.sending import serve
from chatty_p2p.identity import Identity
from chatty_p2p.net.bulk import Channel, accept_bulk, dial_bulk
from chatty_p2p.net.tlspipe import KernelTls, TlsPipe
from chatty_p2p.protocol.bulk.sender import BulkSender
from chatty_p2p.protocol.bulk.wire import Opened
from chatty_p2p.protocol.messages import ENDED_SINCE, LANES_SINCE
from chatty_p2p.store import Store, TransferRecord

log = logging.getLogger("chatty_p2p.files.manager")
"""The manager's name: what the log says of a transfer reads as one story."""

BULK_WAIT = 30.0
"""How long a sender waits, after an accept, for the receiver to connect for the bytes
before it shows the transfer as interrupted: the receiver may have gone in between,
and "running" would then be a state that never ends."""
LANE_WAIT = 5.0
"""How long an extra lane waits for its transfer's main connection to be up (it is
dialled after the main connection's WANT, so it rarely waits at all)."""
RETRY_DELAYS = (0.25, 1.0, 2.0, 5.0, 10.0, 30.0)
"""Waits before re-dialling an interrupted transfer while the peer is online; the first
is short because the usual cause is a path that just changed and already works again."""


class Workers:
    """The worker threads of one node's transfers: ``wait`` (at stop) waits for them,
    so no worker writes on after the node has stopped."""

    def __init__(self) -> None:
        self._threads: set[asyncio.Future[Any]] = set()
        self.stopping = False

    async def run(self, fn: Callable[..., Any], *args: Any) -> Any:
        """``fn`` in a worker thread; ``stop()`` waits for it even if our caller is cancelled."""
        future = asyncio.ensure_future(asyncio.to_thread(fn, *args))
        self._threads.add(future)
        future.add_done_callback(self._threads.discard)
        return await asyncio.shield(future)

    async def wait(self, timeout: float) -> None:
        if self._threads:
            await asyncio.wait(self._threads, timeout=timeout)


class Pump:
    """Serves and fetches the bytes of one node's transfers."""

    def __init__(
        self,
        store: Store,
        identity: Identity,
        ledger: Ledger,
        workers: Workers,
        *,
        peers: Peers,
        lanes: int,
        tasks: Spawner,
    ) -> None:
        self._store = store
        self._identity = identity
        self._ledger = ledger
        self._workers = workers
        self._peers = peers
        self._lanes = lanes
        """Bulk connections this side uses for one transfer at once (see ``Lanes``)."""
        self._tasks = tasks

    async def serve_bulk(
        self, pipe: TlsPipe | KernelTls, peer_id: str, authenticated: Callable[[], None]
    ) -> None:
        """A peer dialled us for a transfer's bytes: check it is theirs, then stream.

        The listener has done the TLS handshake on the event loop
        (``net.accepting.server_pipe``), so ``peer_id`` is proven. Nothing here
        takes a worker thread before we know we offered that peer something;
        until then it keeps its handshake slot (``authenticated`` gives it back),
        so strangers cannot tie up the threads that move everyone's files."""
        if not self._store.sent_to(peer_id):
            log.info("bulk connection from %s, which has nothing to fetch here", peer_id[:8])
            pipe.sock.close()
            return
        authenticated()
        cancel = threading.Event()
        try:
            channel, proto, opened = await self._workers.run(accept_bulk, pipe, cancel)
        except ChattyError as exc:
            log.info("bulk connection refused: %s", exc)
            return
        record = self._store.transfer((peer_id, opened.transfer_id, True))
        if record is None or record.state in FINISHED:
            await self._ended_here(channel, record)
            return
        live = self._ledger.live_for(record)
        if opened.lane:
            await self._serve_lane(live, channel, proto, opened)
            return
        interrupt(live)  # a stale connection for the same transfer
        live.cancel, live.channel, live.attempt = cancel, channel, opened.attempt
        live.generation += 1
        live.resumed_from = -1
        generation = live.generation
        self._ledger.set(live, TransferState.RUNNING)
        entries, sources, _ = self._store.entries(record.key)
        reporter = ThreadReporter(self._ledger, live, generation)
        try:
            failed = await self._workers.run(
                serve, channel, proto, opened, entries, sources, reporter
            )
        except Cancelled:
            return
        except Interrupted as exc:
            if live.generation == generation and not self._workers.stopping:
                self._ledger.set(live, TransferState.INTERRUPTED, str(exc))
                if channel.plan is not None and channel.plan.done >= record.size:
                    self._ask_how_it_ended(live)
            return
        except ChattyError as exc:
            self._stopped_short(live, generation, exc)
            return
        if live.generation == generation:  # not already ended by the receiver's ENDED
            self._ledger.finish(live, failed)

    def _ask_how_it_ended(self, live: LiveTransfer) -> None:
        """Every byte went out but the link broke before the receiver's RESULT came
        back: it may be done, and would not dial again. Asked to resume, it resumes
        (with nothing left to send) or says how the transfer ended (ENDED)."""
        conn = self._peers.connection(live.record.peer_id)
        if conn is not None:
            with contextlib.suppress(ChattyError):
                conn.send(lambda s: s.send_resume(live.record.id))

    async def _ended_here(self, channel: Channel, record: TransferRecord | None) -> None:
        """A receiver dialled for a transfer that ended here while it was away (a cancel
        it never heard): say how, so that it ends the same way instead of dialling
        for ever."""
        why = "no such transfer here" if record is None else record.error or record.state
        cancelled = record is not None and record.state == TransferState.CANCELLED
        channel.fail(ProtocolError(why, "cancelled" if cancelled else "ended"))
        await self._workers.run(channel.close)

    async def _serve_lane(
        self, live: LiveTransfer, channel: Channel, proto: BulkSender, opened: Opened
    ) -> None:
        """An extra lane of a transfer whose main connection is up: the pieces its WANT
        gave this lane go here, in a thread of their own. How the transfer ends is the
        main connection's to say (a lane that fails stops it: see ``net.bulk.Plan``).
        It waits for the main connection of its own try: one dialled as the last try
        broke must not join the next."""
        deadline = time.monotonic() + LANE_WAIT
        while not (
            live.record.state == TransferState.RUNNING
            and isinstance(live.channel, Channel)
            and live.attempt == opened.attempt
        ):
            if time.monotonic() > deadline:  # the main connection is gone: so is the lane
                await self._workers.run(channel.close)
                return
            await asyncio.sleep(0.05)
        main = live.channel
        main.add_lane(channel)
        entries, sources, _ = self._store.entries(live.record.key)
        reporter = ThreadReporter(self._ledger, live, live.generation)
        try:
            await self._workers.run(serve, channel, proto, opened, entries, sources, reporter, main)
        except ChattyError as exc:
            log.info("lane %d of %s ended: %s", opened.lane, live.record.id[:8], exc)

    def _stopped_short(self, live: LiveTransfer, generation: int, exc: ChattyError) -> None:
        """How a worker that stopped for good leaves its transfer, if it was the latest
        attempt: paused on what a user can fix (either side's), else failed."""
        if live.generation != generation:
            return
        if isinstance(exc, Paused):
            self._pause(live, exc)
        else:
            self._ledger.set(live, TransferState.FAILED, str(exc))

    def _pause(self, live: LiveTransfer, exc: Paused) -> None:
        """Paused on a problem a user can fix, here or (``remote``) on the peer's side."""
        said = f"{self._peers.name(live.record.peer_id)}: {exc}" if exc.remote else str(exc)
        hint = f"once fixed, `chatty resume {live.record.id[:8]}` (on either side) continues it"
        self._ledger.set(live, TransferState.PAUSED, f"{said}; {hint}")

    def await_bulk(self, live: LiveTransfer, why: str) -> None:
        """The sender waits for its receiver to connect for the bytes (it accepted, or
        was asked to resume): for ``BULK_WAIT`` at most, then shows the transfer as
        interrupted, ``why`` the receiver has not connected. The receiver may have gone
        in between, and a state that never ends would tell nothing."""
        generation = live.generation  # a bulk connection for it moves this on
        live.timer = asyncio.get_running_loop().call_later(
            BULK_WAIT, self._no_bulk_yet, live, generation, why
        )

    def _no_bulk_yet(self, live: LiveTransfer, generation: int, why: str) -> None:
        if live.generation == generation and live.record.state in (
            TransferState.RUNNING,
            TransferState.RESUMING,
        ):
            name = self._peers.name(live.record.peer_id)
            self._ledger.set(
                live, TransferState.INTERRUPTED, f"{name} {why} but has not connected for the bytes"
            )

    def resume(self, live: LiveTransfer, asked: bool = False) -> None:
        """(Re)start fetching an accepted incoming transfer, if it is not running. A
        paused one waits for a user to ask (``asked``): it stopped on a problem that
        only a person can fix. It is "resuming" until the bulk link is made: "running"
        before then would be a promise the link may not keep."""
        record = live.record
        states = RESUMABLE if asked else AUTO_RESUME
        if record.outgoing or record.state not in states or self._workers.stopping:
            return
        if live.task is not None and not live.task.done():
            return
        if record.state != TransferState.RUNNING:  # just accepted, or a link that went stale
            self._ledger.set(
                live, TransferState.RESUMING, f"connecting to {self._peers.name(record.peer_id)}"
            )
        live.task = self._tasks.spawn(self._receive(live))

    async def _receive(self, live: LiveTransfer) -> None:
        record = live.record
        live.generation += 1
        live.resumed_from = -1
        generation = live.generation
        live.cancel = threading.Event()
        entries, dests, statuses = self._store.entries(record.key)
        incoming = Incoming(
            transfer_id=record.id,
            count=record.count,
            size=record.size,
            folder=Path(record.folder),
            entries=entries or None,
            dests=dests or None,
            pending=[
                i for i, s in enumerate(statuses) if s == "pending" and entries[i].kind == "file"
            ],
        )
        landing = Landing(Path(record.folder), record.id)
        reporter = ThreadReporter(self._ledger, live, generation)
        addresses, cancel = self._peers.addresses(record.peer_id), live.cancel

        def dial() -> Channel:
            return dial_bulk(addresses, self._identity, record.peer_id, cancel)

        try:
            live.channel = await self._workers.run(dial)
            if live.cancel.is_set():
                raise Cancelled("cancelled")
            if live.generation == generation:
                self._ledger.set(live, TransferState.RUNNING)
            failed = await self._workers.run(
                receive,
                live.channel,
                incoming,
                landing,
                reporter,
                self._lanes_to(record.peer_id, dial),
            )
        except Cancelled:
            return
        except (Interrupted, PeerError) as exc:
            if live.generation == generation and not self._workers.stopping:
                self._ledger.set(live, TransferState.INTERRUPTED, str(exc))
                self._retry_later(live)
            return
        except CancelledByPeer as exc:
            self.stop_and_clean(live)
            self._ledger.set(
                live, TransferState.CANCELLED, self.cancelled_by(record.peer_id, str(exc))
            )
            return
        except ChattyError as exc:
            self._stopped_short(live, generation, exc)
            return
        self._ledger.finish(live, failed)
        if live.sender_asked:
            live.sender_asked = False
            self.tell_ended(record)

    def tell_ended(self, record: TransferRecord) -> bool:
        """Say how a transfer we received ended (ENDED: done, or failed and why) to a
        sender that asked: it missed the end. False if it cannot understand ENDED
        (protocol 3 or older), or the transfer did not end done or failed."""
        conn = self._peers.connection(record.peer_id)
        ended = record.state in (TransferState.DONE, TransferState.FAILED)
        if conn is None or not ended or conn.peer.version < ENDED_SINCE:
            return False
        failed = record.state == TransferState.FAILED
        with contextlib.suppress(ChattyError):
            conn.send(lambda s: s.send_ended(record.id, failed, record.error))
        return True

    def _lanes_to(self, peer_id: str, dial: Callable[[], Channel]) -> Lanes | None:
        """The connections a transfer from this peer may use at once: as many as the
        side with fewer spare cores has (both said so in HELLO). ``None`` for a peer
        that knows no ranges (protocol 2)."""
        conn = self._peers.connection(peer_id)
        if conn is None or conn.peer.version < LANES_SINCE:
            return None
        return Lanes(min(self._lanes, conn.peer.lanes), dial)

    def _retry_later(self, live: LiveTransfer) -> None:
        """Re-dial after a pause while the peer is online; otherwise its return will."""
        if self._peers.connection(live.record.peer_id) is None:
            return
        delay = RETRY_DELAYS[min(live.attempts, len(RETRY_DELAYS) - 1)]
        live.attempts += 1
        live.timer = asyncio.get_running_loop().call_later(delay, self.resume, live)

    def cancelled_by(self, peer_id: str, reason: str) -> str:
        """'cancelled by bravo', with the reason if it says more than 'cancelled'."""
        said = "" if reason in ("", "cancelled") else f": {reason}"
        return f"cancelled by {self._peers.name(peer_id)}{said}"

    def stop_and_clean(self, live: LiveTransfer) -> None:
        interrupt(live)
        if not live.record.outgoing:
            Landing(Path(live.record.folder), live.record.id).discard()


def interrupt(live: LiveTransfer) -> None:
    """Stop a transfer's worker now: its link is shut under it."""
    live.cancel.set()
    if live.channel is not None:
        live.channel.abort()
