"""Watching the network: when the interfaces change, drop what rode on vanished
addresses, and if our own addresses moved, dial everyone again and re-announce."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Protocol

from chatty_p2p.files.manager import FileTransfers
from chatty_p2p.net import netif
from chatty_p2p.node.peers import Dialler, PeerTable
from chatty_p2p.node.sessions import NETWORK_CHANGED

log = logging.getLogger(__package__)

NETWORK_POLL = 1.0
"""How often the interfaces are looked at when nothing says they changed: on Linux
rtnetlink wakes the watcher at once, elsewhere this poll (a getifaddrs call) is all."""
NETWORK_SETTLE = 0.1
"""After a change is signalled, the pause for the rest of it (an address, its route)."""


class Announcing(Protocol):
    """Where the node announces itself, if it does (``announcing.Announcers``)."""

    async def refresh(self) -> None: ...


class NetworkWatch:
    def __init__(
        self,
        interfaces: list[str] | None,
        table: PeerTable,
        files: FileTransfers,
        dialler: Dialler,
    ) -> None:
        self._interfaces = interfaces
        self._table = table
        self._files = files
        self._dialler = dialler
        self.announcers: Announcing | None = None
        """Re-announced when our addresses move; set once discovery has started."""

    async def watch(self) -> None:
        seen = netif.interfaces()
        ours = netif.advertised(self._interfaces)
        changed = asyncio.Event()
        with netif.signalling_changes(changed):
            while True:
                # Woken by the kernel when it can tell; the poll catches what it cannot.
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(NETWORK_POLL):
                        await changed.wait()
                if changed.is_set():
                    changed.clear()
                    await asyncio.sleep(NETWORK_SETTLE)
                    changed.clear()
                seen, ours = await self._look(seen, ours)

    async def _look(
        self, seen: list[netif.Interface], ours: list[str]
    ) -> tuple[list[netif.Interface], list[str]]:
        try:
            now = netif.interfaces()
            if now != seen:
                after = netif.advertised(self._interfaces)
                await self._changed(now, moved=after != ours)
                return now, after
        except Exception:  # one bad turn must not stop the watching for good
            log.exception("cannot follow a network change")
        return seen, ours

    async def _changed(self, interfaces: list[netif.Interface], moved: bool) -> None:
        """Wi-Fi to Ethernet, a new DHCP lease: drop what rode on vanished addresses at
        once and, if our own addresses changed (``moved``; not for a container's veth
        coming and going), dial everyone again now instead of after their backoff and
        re-announce."""
        local = {a.split("%")[0] for i in interfaces for a in i.addresses}
        log.info("network changed; addresses now %s", ", ".join(sorted(local)) or "none")
        self._files.on_network_change(local)
        for state in self._table.states():
            conn = state.conn
            if conn is not None:
                if conn.local_host and conn.local_host.split("%")[0] not in local:
                    conn.abort(NETWORK_CHANGED)
            elif moved:
                self._dialler.want_connection(state, delay=0, restart=True)
        if self.announcers is not None and moved:
            try:
                await self.announcers.refresh()
            except Exception as exc:  # zeroconf's socket errors vary by OS; keep running
                log.warning("cannot re-announce on the new network: %r", exc)
