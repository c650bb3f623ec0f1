"""What a peer sends on its control session, handled: messages kept and acknowledged
(or refused with a NACK when they cannot be), receipts and NACKs for the outbox,
offers and pairing for their parts, renames and errors."""

from __future__ import annotations

import logging
from typing import Protocol

from chatty_p2p.errors import StoreError
from chatty_p2p.events import CopyToClipboard, NewMessage, PeerUpdated
from chatty_p2p.files.manager import FileTransfers
from chatty_p2p.links import is_safe_url
from chatty_p2p.net.connection import Connection
from chatty_p2p.node.datadir import StoreTrouble
from chatty_p2p.node.events import Announcer
from chatty_p2p.node.outbox import Outbox
from chatty_p2p.node.peers import PeerState, PeerTable
from chatty_p2p.node.settings import Settings
from chatty_p2p.protocol.messages import (
    ChatMessage,
    Event,
    MessageReceived,
    NackReceived,
    OfferReceived,
    PairReceived,
    PeerReportedError,
    ProfileReceived,
    ReceiptReceived,
    UnknownFrameReceived,
)
from chatty_p2p.store import Store
from chatty_p2p.trust import Pairings

log = logging.getLogger(__package__)


class Named(Protocol):
    """This device, as far as its name goes (the node; it may be renamed)."""

    @property
    def name(self) -> str: ...


class Gate(Protocol):
    """What the inbox asks of trust (``guard.Guard``)."""

    @property
    def pairings(self) -> Pairings: ...

    def admitted(self, state: PeerState) -> bool: ...

    def take_name(self, state: PeerState, name: str) -> bool: ...


class Inbox:
    def __init__(
        self,
        me: Named,
        store: Store,
        settings: Settings,
        table: PeerTable,
        events: Announcer,
        trouble: StoreTrouble,
        gate: Gate,
        outbox: Outbox,
        files: FileTransfers,
    ) -> None:
        self._me = me
        self._store = store
        self._settings = settings
        self._table = table
        self._events = events
        self._trouble = trouble
        self._gate = gate
        self._outbox = outbox
        self._files = files

    def on_event(self, state: PeerState, conn: Connection, event: Event) -> None:
        """Handle what a peer sent. A store that cannot be written (a full disk) is no
        reason to end the session: the user is told once, the peer why its message or
        offer was not kept, and it tries again; a dropped session would only be dialled
        again at once, and fail the same way."""
        try:
            self._handle(state, conn, event)
        except StoreError as exc:
            reason = self._trouble.failed(exc)
            if isinstance(event, OfferReceived):
                refusal = f"{self._me.name} cannot store this offer: {reason}"
                conn.send(lambda s: s.send_answer(event.offer.id, False, refusal))

    def _handle(self, state: PeerState, conn: Connection, event: Event) -> None:
        if isinstance(event, PairReceived):
            self._gate.pairings.on_message(state.id, event.message)
            return
        if not self._gate.admitted(state):
            return  # a session up for pairing only carries nothing else
        if self._files.on_event(state.id, event):
            return
        match event:
            case MessageReceived(message=msg):
                self._receive(state, conn, msg)
            case ReceiptReceived(message_id=message_id):
                self._outbox.delivered(state, message_id)
            case NackReceived(message_id=message_id, reason=reason):
                self._outbox.refused(state, conn, message_id, reason)
            case ProfileReceived(name=name):
                renamed = name != state.name
                if not self._gate.take_name(state, name) and renamed:
                    self._table.save(state)
                    self._events.peer(PeerUpdated, state)
            case PeerReportedError(code=code, message=text):
                self._events.refused(state, code, text)
            case UnknownFrameReceived(frame_type=frame_type):
                log.debug("ignoring frame type %d from %s", frame_type, state.name)

    def _receive(self, state: PeerState, conn: Connection, msg: ChatMessage) -> None:
        """Keep a message and acknowledge it; one that cannot be kept is refused (NACK,
        with the reason) and not acknowledged, so the sender tries it again."""
        refusing = state.refusing
        if refusing is not None and refusing[0] is conn and refusing[1] != msg.id:
            conn.send(lambda s: s.send_nack(msg.id, refusing[2]))
            return
        kind = msg.kind if msg.kind == "link" and is_safe_url(msg.body) else "text"
        try:
            stored = self._store.add_message(
                state.id, ChatMessage(msg.id, msg.ts, kind, msg.body), outgoing=False
            )
        except StoreError as exc:
            reason = f"{self._me.name} cannot store messages: {self._trouble.failed(exc)}"
            state.refusing = (conn, msg.id, reason)
            conn.send(lambda s: s.send_nack(msg.id, reason))
            return
        state.refusing = None
        self._trouble.works()
        conn.send_receipt(msg.id)
        if stored is not None:
            peer = self._table.snapshot(state)
            self._events.emit(NewMessage(peer=peer, message=stored))
            if self._settings.auto_copy_trusted and peer.trust == "trusted":
                self._events.emit(CopyToClipboard(peer=peer, text=msg.body))

    def session_ended(self, state: PeerState, conn: Connection) -> None:
        """A session is over: a refusal held on it, and a resend timed for it, go."""
        if state.refusing is not None and state.refusing[0] is conn:
            state.refusing = None
        self._outbox.session_ended(state, conn)
