"""Who may have a session, as the node applies it: trust (pairing, fingerprints,
blocking), the names trusted peers hold, and refusing a peer's session. The
decisions themselves are ``policy``'s; this part holds the state they act on."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any, Protocol

from chatty_p2p.errors import PeerError, ProtocolError, UnknownPeer
from chatty_p2p.events import PairingInfo, PeerUpdated
from chatty_p2p.identity import short_id
from chatty_p2p.net import connection as conn_mod
from chatty_p2p.net.connection import Connection
from chatty_p2p.node import policy
from chatty_p2p.node.events import Announcer
from chatty_p2p.node.peers import Dialler, PeerState, PeerTable
from chatty_p2p.node.settings import Settings
from chatty_p2p.store import Store
from chatty_p2p.trust import Pairings

log = logging.getLogger(__package__)


class Spawner(Protocol):
    def spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]: ...


class Guard:
    """Trust and admission for every peer; also what ``Pairings`` needs of the node."""

    def __init__(
        self,
        device_id: str,
        store: Store,
        settings: Settings,
        table: PeerTable,
        events: Announcer,
        tasks: Spawner,
        dialler: Dialler,
        accept_from: list[str],
    ) -> None:
        self._store = store
        self._settings = settings
        self._table = table
        self._events = events
        self._tasks = tasks
        self._dialler = dialler
        self.accept_from = accept_from
        """Names and id prefixes (or ``*``) of trusted peers whose offers need no yes."""
        self.pairings = Pairings(device_id, self)

    # ----- decisions ------------------------------------------------------

    def admitted(self, state: PeerState) -> bool:
        """Whether policy lets this peer have a full session (pairing aside)."""
        level = self._table.trust_level(state.id)
        return policy.admitted(level, state.conflict, self._settings.trusted_only)

    def admit(self, peer_id: str) -> str:
        """Why to refuse a dialer before TLS (it only *claims* this id yet), or ``""``."""
        level = self._table.trust_level(peer_id)
        state = self._table.get(peer_id)
        pair_wanted = bool(state and state.pair_wanted)
        return policy.refusal_before_tls(peer_id, level, self._settings.trusted_only, pair_wanted)

    def accepts_from(self, peer_id: str) -> bool:
        """Whether an offer from this peer is accepted without asking."""
        level = self._table.trust_level(peer_id)
        if level != "trusted":
            return False
        return policy.accepts_unasked(
            peer_id,
            self._table.name(peer_id),
            level,
            self._settings.auto_accept_trusted,
            self.accept_from,
        )

    def take_name(self, state: PeerState, name: str) -> bool:
        """The peer now calls itself ``name`` (its record, HELLO or PROFILE). Under the
        name of a device paired here, with another key, it is refused: warned about
        once, and its session ended with the reason. The conflict belongs to the name,
        not the device: once it calls itself something else, it is an ordinary peer
        again. Returns whether it is refused."""
        state.name = name
        record = self._store.peer(state.id)
        pinned = None
        if record is None or not record.trusted:
            pinned = policy.other_holder(state.id, self._store.trusted_with_name(name))
        was, state.conflict = state.conflict, pinned.id if pinned is not None else None
        if pinned is None:
            if was is not None:
                log.info("%s (%s) no longer claims a paired name", name, short_id(state.id))
            return False
        if was != pinned.id:
            log.warning("key change: %s claims trusted %s's name", short_id(state.id), name)
            self._events.warn(
                state.id,
                f"KEY CHANGED: a device calling itself '{name}' presents a different "
                f"key ({short_id(state.id)}) than the one you paired with "
                f"({short_id(pinned.id)}); connection refused. It may be an impostor. If "
                f"that device was reset, pair with it again: chatty pair {short_id(state.id)}",
            )
        if not state.pair_wanted:  # the user pairing with it again (a reset device) may
            self.refuse(state, policy.conflict_error(name))
        return True

    def refuse(self, state: PeerState, error: ProtocolError, why: str = "") -> None:
        """End the peer's session for a reason of ours: an ERROR tells its side why
        (so it neither shows us online nor leaves its messages unanswered), and it is
        offline here at once, with ``why`` (what the user here did: "blocked") or
        else the same reason."""
        if state.dialer is not None:
            state.dialer.cancel()
        conn, state.conn = state.conn, None
        if conn is None:
            return
        conn.end(error, f"refused: {error}")
        self._events.offline(state, why or str(error))

    def policy_changed(self, peer_id: str) -> None:
        state = self._table.get(peer_id)
        if state is None:
            return
        if not self.admitted(state) and not state.pair_wanted:
            why = policy.why_not_admitted(self._table.trust_level(peer_id))
            self.refuse(state, policy.not_accepted(), why)
        else:
            self._dialler.want_connection(state, delay=0)
        self._events.peer(PeerUpdated, state)

    # ----- the user's trust -----------------------------------------------

    async def pair(self, peer_id: str) -> PairingInfo:
        state = self._table.known_state(peer_id)
        if self._table.trust_level(peer_id) == "blocked":
            raise PeerError(f"{state.name} is blocked; unblock it first")
        existing = self.pairings.info(peer_id)
        if existing is not None and existing.state != "exchanging":
            return existing
        state.pair_wanted = True
        try:
            if state.conn is None:
                self._dialler.want_connection(state, delay=0, restart=True)
                async with asyncio.timeout(conn_mod.CONNECT_TIMEOUT + conn_mod.HANDSHAKE_TIMEOUT):
                    while state.conn is None:
                        await asyncio.sleep(0.05)
            return await self.pairings.start(peer_id)
        except TimeoutError:
            raise PeerError(f"cannot reach {state.name} to pair with it") from None
        finally:
            if self.pairings.info(peer_id) is None:
                self.pairing_over(state)

    def confirm(self, peer_id: str, code: str | None) -> PairingInfo:
        try:
            return self.pairings.confirm(peer_id, code)
        finally:
            if self.pairings.info(peer_id) is None:
                self.pairing_over(self._table.known_state(peer_id))

    def reject(self, peer_id: str, reason: str) -> PairingInfo:
        info = self.pairings.reject(peer_id, reason)
        self.pairing_over(self._table.known_state(peer_id))
        return info

    def pair_by_fingerprint(self, peer_id: str, fingerprint: str) -> None:
        typed = policy.typed_fingerprint(peer_id, fingerprint, self._table.name(peer_id))
        if peer_id not in self._table and self._store.peer(peer_id) is None:
            if typed != peer_id:
                raise UnknownPeer(
                    f"no peer with id {short_id(peer_id)} yet; to trust a device before it "
                    "ever connects, give its whole fingerprint (64 hex digits)"
                )
            self._table.state(peer_id, short_id(peer_id))  # its name comes with its first HELLO
        self.paired(peer_id)

    def unpair(self, peer_id: str) -> None:
        self._table.known_state(peer_id)
        self._store.set_trusted(peer_id, False)
        self.policy_changed(peer_id)

    def block(self, peer_id: str, blocked: bool) -> None:
        state = self._table.known_state(peer_id)
        self._table.save(state)
        self._store.set_blocked(peer_id, blocked)
        if blocked and self.pairings.info(peer_id) is not None:
            self.pairings.reject(peer_id, "blocked")
        self.policy_changed(peer_id)

    def set_trusted_only(self, on: bool) -> None:
        self._settings.set_trusted_only(on)
        for peer_id in list(self._table):
            self.policy_changed(peer_id)

    def pairing_over(self, state: PeerState) -> None:
        """Pairing is done: a session that was up only for it ends unless now admitted."""
        state.pair_wanted = False
        conn = state.conn
        if conn is not None and state.caught_up is not conn:
            # Up for pairing only, we dropped whatever else the peer sent on it: start a
            # fresh session, on which it sends that again.
            state.conn = None
            self._tasks.spawn(conn.close("paired" if self.admitted(state) else "not accepted here"))
        self._dialler.want_connection(state, delay=0)

    # ----- what Pairings needs (trust.PairingHost) ------------------------

    def control(self, peer_id: str) -> Connection | None:
        return self._table.connection(peer_id)

    def peer_name(self, peer_id: str) -> str:
        return self._table.name(peer_id)

    def pairing_changed(self, info: PairingInfo) -> None:
        self._events.pairing(info)

    def paired(self, peer_id: str) -> None:
        """Trust this key; a key it replaces under the same name stops being trusted."""
        state = self._table.known_state(peer_id)
        self._table.save(state)
        self._store.set_trusted(peer_id, True)
        for old in self._store.trusted_with_name(state.name):
            if old.id != peer_id:
                self._store.set_trusted(old.id, False)
        state.conflict = None
        log.info("paired with %s (%s)", state.name, short_id(peer_id))
        self.pairing_over(state)
        self._events.peer(PeerUpdated, state)

    def pairing_failed(self, peer_id: str) -> None:
        state = self._table.get(peer_id)
        if state is not None:
            self.pairing_over(state)

    # ----- forgetting -----------------------------------------------------

    def forget(self, peer_id: str) -> bool:
        """Drop a peer's pinned key (for a reinstalled device), and unblock its successor."""
        state = self._table.pop(peer_id)
        if state is not None:
            if state.dialer is not None:
                state.dialer.cancel()
            if state.conn is not None:
                self._tasks.spawn(state.conn.close("forgotten"))
        removed = self._store.forget_peer(peer_id)
        for other in self._table.states():
            if other.conflict == peer_id:
                other.conflict = None
                self._dialler.want_connection(other, delay=0)
        return removed or state is not None

    def session_lost(self, peer_id: str) -> None:
        """The peer's session is gone: a pairing over it cannot go on."""
        self.pairings.on_offline(peer_id)
