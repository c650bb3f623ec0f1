"""Discovery as the node follows it: mDNS records arrive (``on_advert``), the
peer is listed and dialled; records withdrawn, displaced or never answered
(``discovery.AdvertTable``) take a peer that is nothing else here off the list."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Protocol

from chatty_p2p.events import PeerDiscovered, PeerLost, PeerUpdated
from chatty_p2p.net.admission import Hush
from chatty_p2p.net.discovery import Advert, AdvertTable
from chatty_p2p.net.memory import Trimmer
from chatty_p2p.node.events import Announcer
from chatty_p2p.node.peers import MAX_ADDRESSES, PeerState, PeerTable, clean_addresses
from chatty_p2p.node.settings import Settings
from chatty_p2p.store import Store

log = logging.getLogger(__package__)

ADVERT_SWEEP = 5.0
"""How often records that never answered are looked for (see ``AdvertTable``)."""


class Namer(Protocol):
    """Trust, for the name a record claims (``guard.Guard``)."""

    def take_name(self, state: PeerState, name: str) -> bool: ...


class Redialler(Protocol):
    """Sessions, for a peer announced afresh (``sessions.Sessions``)."""

    def dial_soon(self, state: PeerState) -> None: ...


class Adverts:
    def __init__(
        self,
        *,
        store: Store,
        settings: Settings,
        table: PeerTable,
        events: Announcer,
        gate: Namer,
        sessions: Redialler,
        trimmer: Trimmer,
        hush: Hush,
    ) -> None:
        self._store = store
        self._settings = settings
        self._table = table
        self._events = events
        self._gate = gate
        self._sessions = sessions
        self._trimmer = trimmer
        self._hush = hush
        self.table = AdvertTable()
        """The records heard, and which of them ever answered."""

    def answered(self, peer_id: str) -> None:
        """The peer proved its key: its record is a real device's."""
        self.table.answered(peer_id)

    def on_advert(self, peer_id: str, advert: Advert | None) -> None:
        if advert is None:
            self.table.remove(peer_id)
            self._lose(peer_id)
            return
        dropped = self.table.add(peer_id, self._table.is_known(peer_id), time.monotonic())
        if dropped != [] and self._hush("mdns records", time.monotonic()):
            log.warning(
                "more Chatty records on the network than %d; %s",
                len(self.table),
                "dropping the oldest that never answered" if dropped else "ignoring newcomers",
            )
        if dropped is None:
            return
        for gone in dropped:
            self._lose(gone)
        state = self._table.get(peer_id)
        is_new = state is None or not state.discovered
        state = self._table.state(peer_id, advert.name)
        renamed = state.name != advert.name
        retyped = state.device != advert.device
        state.device = advert.device
        state.discovered = True
        state.last_seen = time.time()
        state.addresses = _merged(state.addresses, advert)
        if self._gate.take_name(state, advert.name):
            return
        if is_new:
            self._events.peer(PeerDiscovered, state)
        if renamed or (retyped and not is_new):
            # A rename also when zeroconf tells it as a goodbye and a new record.
            self._events.peer(PeerUpdated, state)
        if state.conn is None:
            self._sessions.dial_soon(state)

    def _lose(self, peer_id: str) -> None:
        """A record withdrawn, aged out or displaced: the peer is no longer seen, and
        one that is nothing else here (no session, never stored, not added by
        address) leaves the list, so forged records leave no trace."""
        state = self._table.get(peer_id)
        if state is None or not state.discovered:
            return
        state.discovered = False
        self._events.peer(PeerLost, state)
        alone = state.conn is None and not state.manual and not state.pair_wanted
        if alone and self._store.peer(peer_id) is None:
            if state.dialer is not None:
                state.dialer.cancel()
            self._table.pop(peer_id)

    async def age_out(self) -> None:
        while True:
            await asyncio.sleep(ADVERT_SWEEP)
            if self._settings.trusted_only:
                self.table.hold(time.monotonic())
                continue
            expired = self.table.expired(time.monotonic())
            for peer_id in expired:
                self._lose(peer_id)
            if expired:
                self._trimmer.soon()


def _merged(addresses: list[tuple[str, int]], advert: Advert) -> list[tuple[str, int]]:
    """The path that worked last stays first (see ``Sessions.attach``), then what the
    peer announces now, then older ones. Announcements are unauthenticated: they are
    capped, so a forged one cannot push out every address known to work. A peer that
    announces a new port (it restarted) no longer listens on the old one: addresses
    with that port would only be refused, and crowd the list."""
    announced = clean_addresses((a, advert.port) for a in advert.addresses)[:MAX_ADDRESSES]
    known = [a for a in addresses if a[1] == advert.port]
    kept = known[:1] + announced + known[1:]
    return clean_addresses(kept)[: 2 * MAX_ADDRESSES]
