"""Messages going out: written to the store before they are sent, sent again in order
on every new session until the peer's receipt comes, and after a NACK (the peer could
not keep one) sent again later, backing off."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Protocol

from chatty_p2p.errors import ChattyError, OutboxFull, PeerError, StoreError
from chatty_p2p.links import is_safe_url
from chatty_p2p.net.connection import Connection
from chatty_p2p.node.datadir import StoreTrouble
from chatty_p2p.node.events import Announcer
from chatty_p2p.node.peers import RESEND_FIRST, RETRY_MAX, Dialler, PeerState, PeerTable
from chatty_p2p.protocol.messages import MAX_TEXT_BYTES, ChatMessage
from chatty_p2p.store import DELIVERED, SENT, Store, StoredMessage

MAX_OUTBOX = 500
"""Messages waiting for one offline peer: half the receiver's burst, so a reconnect's
flush (plus offers and receipts) never comes near its limit even if read late."""


class Admits(Protocol):
    def admitted(self, state: PeerState) -> bool: ...


class Outbox:
    def __init__(
        self,
        store: Store,
        table: PeerTable,
        events: Announcer,
        trouble: StoreTrouble,
        gate: Admits,
        dialler: Dialler,
    ) -> None:
        self._store = store
        self._table = table
        self._events = events
        self._trouble = trouble
        self._gate = gate
        self._dialler = dialler

    def send_text(self, peer_id: str, text: str, kind: str) -> StoredMessage:
        state = self._table.known_state(peer_id)
        if self._table.trust_level(peer_id) == "blocked":
            raise PeerError(f"{state.name} is blocked; unblock it to write to it")
        if not text.strip():
            raise ChattyError("nothing to send: the message is empty")
        if len(text.encode("utf-8")) > MAX_TEXT_BYTES:
            raise ChattyError(f"message too long ({len(text)} chars); send it as a file")
        if kind == "link" and not is_safe_url(text):
            raise ChattyError(f"not a link Chatty will send: {text!r} (use http://, https://, …)")
        if self._store.undelivered_count(peer_id) >= MAX_OUTBOX:
            when = "as they are delivered" if state.conn else "once it is back online"
            raise OutboxFull(
                f"{MAX_OUTBOX} messages already wait to go to {state.name}; send more {when}"
            )
        msg = ChatMessage(uuid.uuid4().hex, time.time(), kind, text)
        stored = self._store.add_message(peer_id, msg, outgoing=True)
        assert stored is not None
        self._events.message(state, stored)
        if state.conn is not None and self._gate.admitted(state):
            if state.resend is not None:  # the peer had no room: try what waits, in order
                self.resend(state, state.conn)
            else:
                state.conn.send_message(msg)
                self.mark(state, msg.id, SENT)
        else:
            self._dialler.want_connection(state, delay=0)
            if state.refused_by:  # "queued" would suggest it is merely away
                self._events.status(state, stored, text=state.refused_by)
        return stored

    def resend(self, state: PeerState, conn: Connection) -> None:
        """Send every message the peer still owes a receipt for, oldest first; it drops
        those it already has."""
        if state.resend is not None:
            state.resend.cancel()
            state.resend = None
        state.nacked.clear()
        if state.conn is not conn or conn.closed:
            return
        for stored in self._store.undelivered(state.id):
            conn.send_message(stored.message)
            self.mark(state, stored.id, SENT)

    def mark(self, state: PeerState, message_id: str, status: str) -> None:
        """Record a message's new status and tell the faces; a store that cannot be
        written (a full disk) leaves the old status, which only means it is sent again."""
        try:
            changed = self._store.set_status(state.id, message_id, status)
        except StoreError as exc:
            self._trouble.failed(exc)
            return
        if changed:
            stored = self._store.message(state.id, message_id)
            if stored is not None:
                self._events.status(state, stored)

    def delivered(self, state: PeerState, message_id: str) -> None:
        """The peer's receipt: it kept the message."""
        state.refused_reason = None
        state.resend_after = RESEND_FIRST
        self.mark(state, message_id, DELIVERED)

    def refused(self, state: PeerState, conn: Connection, message_id: str, reason: str) -> None:
        """The peer could not keep our message (NACK): it stays unacknowledged, the user
        is told why (once until one gets through), and what waits goes again later."""
        if message_id in state.nacked:
            return  # a peer may say it a thousand times a second: the faces hear it once
        stored = self._store.message(state.id, message_id)
        if stored is None or not stored.outgoing or stored.status == DELIVERED:
            return  # not ours to worry about: a peer may say anything
        state.nacked.add(message_id)
        if state.refused_reason is None:
            state.refused_reason = reason
            self._events.warn(state.id, f"{reason}; the message waits here and is sent again")
        self._events.status(state, stored, text=reason)
        if state.resend is None:
            delay, state.resend_after = state.resend_after, min(state.resend_after * 2, RETRY_MAX)
            state.resend = asyncio.get_running_loop().call_later(delay, self.resend, state, conn)

    def session_ended(self, state: PeerState, conn: Connection) -> None:
        """A session is over: a resend timed for it goes (the next one resends at once)."""
        if state.resend is not None and state.conn is conn:
            state.resend.cancel()
            state.resend = None
            state.nacked.clear()
