"""Where the node says it is and looks for others: mDNS on the local network
(``net.discovery``) and wide-area DNS-SD in unicast DNS domains (``net.widearea``),
for peers behind a router. Both report to the same ``on_advert``; the node starts,
moves, renames and stops them together.

The DNS-SD domain comes from the command line for one run (``--dns-sd-domain``), or
else from the setting a face stores (``configure``: the window's Settings), which
takes effect at once."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from typing import Any

from chatty_p2p import config
from chatty_p2p.device import detect
from chatty_p2p.errors import ChattyError
from chatty_p2p.net.discovery import Advert, Discovery
from chatty_p2p.net.widearea import WideArea
from chatty_p2p.node.settings import Settings
from chatty_p2p.protocol.dnssd import TsigKey

log = logging.getLogger(__package__)


class Announcers:
    def __init__(
        self,
        on_advert: Callable[[str, Advert | None], None],
        on_problem: Callable[[str], None],
        *,
        settings: Settings,
        interfaces: list[str] | None,
        domains: list[str],
        key: TsigKey | None,
    ) -> None:
        """``domains``: the DNS-SD domains to register in for this run
        (``--dns-sd-domain``), signed with ``key``; none: the stored setting's.
        ``on_problem`` hears a registration that failed, in words."""
        self._on_advert = on_advert
        self._on_problem = on_problem
        self._settings = settings
        self._interfaces = interfaces
        self._given = (domains, key)
        self._mdns: Discovery | None = None
        self._wide: WideArea | None = None
        self._me = ("", "", 0, "")
        """Our id, name, port and device type, for a wide-area part made anew."""

    async def start(self, device_id: str, name: str, port: int) -> None:
        device = detect()
        self._me = (device_id, name, port, device)
        self._mdns = Discovery(
            device_id, name, port, self._on_advert, self._interfaces, device=device
        )
        await self._mdns.start()
        self._start_wide(*self._chosen())

    def _chosen(self) -> tuple[list[str], TsigKey | None]:
        """This run's domains, or the setting's; a stored key file that cannot be read
        now is said, and nothing is registered."""
        if self._given[0]:
            return self._given
        try:
            return _checked(*self._settings.dns_sd)
        except ChattyError as exc:
            self._on_problem(f"wide-area DNS-SD is off: {exc}")
            return [], None

    def _start_wide(self, domains: list[str], key: TsigKey | None) -> None:
        device_id, name, port, device = self._me
        self._wide = WideArea(
            device_id,
            name,
            port,
            device,
            self._on_advert,
            self._on_problem,
            domains=domains,
            key=key,
            interfaces=self._interfaces,
        )
        self._wide.start()

    def setting(self) -> tuple[str, str]:
        """The stored DNS-SD domain and key file ("" for none)."""
        return self._settings.dns_sd

    async def configure(self, domain: str, key_file: str) -> None:
        """Store the DNS-SD domain and key file, checked first (a ``ChattyError`` for
        the face to show), and use them now: out of the old domain, into the new."""
        domains, key = _checked(domain, key_file)
        self._settings.set_dns_sd(domain, key_file)
        self._given = ([], None)
        if self._wide is None:
            return  # not announcing (no discovery): stored for the next start
        await self._wide.stop()
        self._start_wide(domains, key)

    async def refresh(self) -> None:
        """Our addresses moved: announce the new ones everywhere."""
        if self._mdns is not None:
            await self._mdns.refresh()
        if self._wide is not None:
            self._wide.refresh()

    async def rename(self, name: str) -> None:
        device_id, _, port, device = self._me
        self._me = (device_id, name, port, device)
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


def _checked(domain: str, key_file: str) -> tuple[list[str], TsigKey | None]:
    """The setting's domain and key file ("" for none), read and checked."""
    return config.wide_area([domain] if domain else [], key_file or None)
