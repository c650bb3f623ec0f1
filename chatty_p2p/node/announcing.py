"""Where the node says it is and looks for others: mDNS on the local network
(``net.discovery``) and wide-area DNS-SD in unicast DNS domains (``net.widearea``),
for peers behind a router. Both report to the same ``on_advert``; the node starts,
moves, renames and stops them together."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from typing import Any

from chatty_p2p.device import detect
from chatty_p2p.net.discovery import Advert, Discovery
from chatty_p2p.net.widearea import WideArea
from chatty_p2p.protocol.dnssd import TsigKey

log = logging.getLogger(__package__)


class Announcers:
    def __init__(
        self,
        on_advert: Callable[[str, Advert | None], None],
        on_problem: Callable[[str], None],
        *,
        interfaces: list[str] | None,
        domains: list[str],
        key: TsigKey | None,
    ) -> None:
        """``domains``: the DNS-SD domains to register in (``--dns-sd-domain``), signed
        with ``key``; ``on_problem`` hears a registration that failed, in words."""
        self._on_advert = on_advert
        self._on_problem = on_problem
        self._interfaces = interfaces
        self._domains = domains
        self._key = key
        self._mdns: Discovery | None = None
        self._wide: WideArea | None = None

    async def start(self, device_id: str, name: str, port: int) -> None:
        device = detect()
        self._mdns = Discovery(
            device_id, name, port, self._on_advert, self._interfaces, device=device
        )
        await self._mdns.start()
        self._wide = WideArea(
            device_id,
            name,
            port,
            device,
            self._on_advert,
            self._on_problem,
            domains=self._domains,
            key=self._key,
            interfaces=self._interfaces,
        )
        self._wide.start()

    async def refresh(self) -> None:
        """Our addresses moved: announce the new ones everywhere."""
        if self._mdns is not None:
            await self._mdns.refresh()
        if self._wide is not None:
            self._wide.refresh()

    async def rename(self, name: str) -> None:
        if self._mdns is not None:
            await self._mdns.rename(name)
        if self._wide is not None:
            self._wide.rename(name)

    async def stop(self) -> None:
        """Goodbyes on mDNS and out of DNS; an error there must not keep the node up."""
        for part in (self._mdns, self._wide):
            if part is not None:
                with contextlib.suppress(Exception):
                    await part.stop()
        self._mdns = self._wide = None

    def status(self) -> list[dict[str, Any]]:
        """Each DNS-SD domain and how it went (``widearea.DomainStatus``)."""
        if self._wide is None:
            return []
        return [s.to_dict() for s in self._wide.status.values()]
