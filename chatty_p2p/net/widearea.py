"""Wide-area DNS-SD, the I/O: this Chatty registered in unicast DNS domains, and the
Chattys registered there found, for networks mDNS cannot cross (another subnet behind
a router, a VPN). The records and their rules are ``protocol.dnssd``'s; this module
asks the resolver, sends the updates, and tells the node what it found through the
same ``on_change(device_id, advert)`` as mDNS (``discovery.Discovery``): peers found
here are listed, dialled and proven by their certificate exactly like those.

Registering needs a domain named by the user (``--dns-sd-domain``) whose DNS server
takes dynamic updates, signed when a key is given (``--tsig-key``). The update goes to
the zone's primary (the SOA's MNAME), or else to the resolver's first server, on the
resolver's port.
Browsing covers the named domains and those the resolver's search domains point to
(RFC 6763 section 11), asked again every ``BROWSE_EVERY`` seconds: unicast DNS has no
announcements, so a new peer is seen at the next look, or at once when it dials us.

Nothing here stops the node: a server that refuses or does not answer is a reason,
kept in ``status`` (the doctor and ``chatty daemon`` show it), and asked again at the
next change of address.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from typing import Any

import dns.asyncquery
import dns.asyncresolver
import dns.exception
import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import dns.resolver
import dns.tsig

from chatty_p2p.net import netif
from chatty_p2p.net.discovery import Advert, advert_from, instance_label, properties
from chatty_p2p.protocol import dnssd
from chatty_p2p.stopping import cancel_and_wait

log = logging.getLogger(__name__)

BROWSE_EVERY = 15.0
QUERY_TIMEOUT = 3.0
"""Seconds for one lookup, all its servers and retries included."""
UPDATE_TIMEOUT = 5.0
REGISTER_AGAIN = 60.0
"""Seconds after a failed registration before it is tried again."""
REFRESH_EVERY = 1800.0
MAX_RESOLVING = 8
"""Instances looked up at once."""


@dataclass(frozen=True)
class DomainStatus:
    """How registering in one domain goes: ``registering`` (no answer yet),
    ``registered`` (at ``server``), ``failed`` (``reason`` says why, in words to act
    on), or ``browsing`` (found from the search domains, not registered in)."""

    domain: str
    state: str
    server: str = ""
    reason: str = ""

    def to_dict(self) -> dict[str, str]:
        return asdict(self)


class WideArea:
    """Registers this node in ``domains`` and browses them (and the search domains'
    browse domains). ``on_change`` as for ``discovery.Discovery``; ``on_problem`` gets
    a registration's failure, once per new reason."""

    def __init__(
        self,
        device_id: str,
        name: str,
        port: int,
        device: str,
        on_change: Callable[[str, Advert | None], None],
        on_problem: Callable[[str], None],
        *,
        domains: list[str],
        key: dnssd.TsigKey | None = None,
        interfaces: list[str] | None = None,
        resolver: dns.asyncresolver.Resolver | None = None,
    ) -> None:
        self._label = instance_label(device_id)
        self._record = dnssd.Record(self._label, port, properties(device_id, name, device), ())
        self._on_change = on_change
        self._on_problem = on_problem
        self._named = [dns.name.from_text(d) for d in domains]
        self._key = key
        self._interfaces = interfaces
        self._resolver = resolver or _system_resolver()
        self._zones: dict[dns.name.Name, tuple[dns.name.Name, str]] = {}
        """Where each named domain was registered: its zone and the server."""
        self.status = {
            d.to_text(omit_final_dot=True): DomainStatus(
                d.to_text(omit_final_dot=True), "registering"
            )
            for d in self._named
        }
        self._found: dict[dns.name.Name, dict[str, Advert]] = {}
        """Per domain, the peers its last answered look found (by device id)."""
        self._task: asyncio.Task[None] | None = None
        self._again = asyncio.Event()
        self._resolving = asyncio.Semaphore(MAX_RESOLVING)

    def start(self) -> None:
        """Register and browse, in the background: a DNS server that is slow or gone
        must not hold up the node's start."""
        self._task = asyncio.get_running_loop().create_task(self._run())

    def refresh(self) -> None:
        """Our addresses changed: say the new ones, and look again where to browse."""
        self._again.set()

    def rename(self, name: str) -> None:
        self._record = replace(self._record, txt={**self._record.txt, "name": name})
        self._again.set()

    async def stop(self) -> None:
        """Take our records out (peers that look again drop us), briefly."""
        if self._task is not None:
            await cancel_and_wait([self._task])
        for domain, (zone, server) in list(self._zones.items()):
            update = dnssd.withdrawal(self._label, domain, zone, self._key)
            with contextlib.suppress(dns.exception.DNSException, OSError, TimeoutError):
                await dns.asyncquery.tcp(update, server, timeout=2.0, port=self._resolver.port)
        self._zones.clear()

    async def _run(self) -> None:
        """Register, find the domains to browse, and look every ``BROWSE_EVERY``
        seconds; from the top again when ``refresh`` or ``rename`` asks, when a
        registration failed ``REGISTER_AGAIN`` seconds ago (the server may be back),
        and every ``REFRESH_EVERY`` seconds (a server restarted without its journal has
        forgotten us)."""
        loop = asyncio.get_running_loop()
        while True:
            self._again.clear()
            await self._register_all()
            registered = loop.time()
            domains = await self._browse_domains()
            while not self._again.is_set():
                for domain in domains:
                    await self._browse(domain)
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(BROWSE_EVERY):
                        await self._again.wait()
                failed = any(s.state == "failed" for s in self.status.values())
                since = loop.time() - registered
                if since >= REFRESH_EVERY or (failed and since >= REGISTER_AGAIN):
                    break

    # ----- registering ---------------------------------------------------------

    async def _register_all(self) -> None:
        addresses = dnssd.usable_addresses(netif.advertised(self._interfaces))
        self._record = replace(self._record, addresses=addresses)
        await asyncio.gather(*(self._register(d) for d in self._named))

    async def _register(self, domain: dns.name.Name) -> None:
        text = domain.to_text(omit_final_dot=True)
        server = ""
        try:
            zone, server = await self._primary(domain)
            update = dnssd.registration(self._record, domain, zone, self._key)
            answer = await dns.asyncquery.tcp(
                update, server, timeout=UPDATE_TIMEOUT, port=self._resolver.port
            )
            rcode = answer.rcode()
            if rcode != dns.rcode.NOERROR:
                raise _Refused(dns.rcode.to_text(rcode))
        except (dns.tsig.PeerError, _Refused) as exc:
            why = exc.args[0] if isinstance(exc, _Refused) else exc
            self._failed(text, server, dnssd.refusal(text, server, self._key, why))
            return
        except (dns.exception.DNSException, OSError) as exc:
            self._failed(text, server, _unanswered(text, server, exc))
            return
        self._zones[domain] = (zone, server)
        self.status[text] = DomainStatus(text, "registered", server)
        log.info("registered in %s at %s", text, server)

    def _failed(self, domain: str, server: str, reason: str) -> None:
        before = self.status.get(domain)
        self.status[domain] = DomainStatus(domain, "failed", server, reason)
        if before is None or before.reason != reason:
            log.warning("wide-area DNS-SD: %s", reason)
            self._on_problem(reason)

    async def _primary(self, domain: dns.name.Name) -> tuple[dns.name.Name, str]:
        """The zone holding ``domain``, and the address of the server that takes its
        updates: the SOA's primary, if it resolves, else the resolver's first."""
        zone = await dns.asyncresolver.zone_for_name(
            domain, resolver=self._resolver, lifetime=QUERY_TIMEOUT
        )
        soa = await self._resolver.resolve(zone, "SOA", lifetime=QUERY_TIMEOUT)
        primary = soa.rrset[0].mname if soa.rrset else None
        for kind in ("A", "AAAA"):
            if primary is None:
                break
            with contextlib.suppress(dns.exception.DNSException):
                found = await self._resolver.resolve(primary, kind, lifetime=QUERY_TIMEOUT)
                if found.rrset:
                    return zone, str(found.rrset[0])
        if not self._resolver.nameservers:
            raise OSError("this machine has no DNS server set")
        return zone, str(self._resolver.nameservers[0])

    # ----- browsing ------------------------------------------------------------

    async def _browse_domains(self) -> list[dns.name.Name]:
        """The named domains, then those the search domains name for browsing."""
        domains = list(self._named)
        search = list(self._resolver.search)
        if self._resolver.domain != dns.name.root:
            search.append(self._resolver.domain)
        for base in search:
            for label in dnssd.BROWSE_LABELS:
                targets = await self._ptr(dns.name.from_text(label, base))
                for found in dnssd.browse_domains(targets or []):
                    if found not in domains and len(domains) < dnssd.MAX_BROWSE_DOMAINS:
                        domains.append(found)
                        text = found.to_text(omit_final_dot=True)
                        self.status.setdefault(text, DomainStatus(text, "browsing"))
        return domains

    async def _browse(self, domain: dns.name.Name) -> None:
        """One look at ``domain``: new and changed peers told, vanished ones withdrawn.
        A look that got no answer changes nothing (the server may be down a while)."""
        targets = await self._ptr(dnssd.service_name(domain))
        if targets is None:
            return
        labels = [lb for lb in dnssd.instance_labels(targets, domain) if lb != self._label]
        adverts = await asyncio.gather(*(self._resolve(lb, domain) for lb in labels))
        now = {a.device_id: a for a in adverts if a is not None}
        before = self._found.get(domain, {})
        self._found[domain] = now
        for device_id, advert in now.items():
            if before.get(device_id) != advert:
                self._on_change(device_id, advert)
        for device_id in before.keys() - now.keys():
            if not any(device_id in found for found in self._found.values()):
                self._on_change(device_id, None)

    async def _resolve(self, label: str, domain: dns.name.Name) -> Advert | None:
        instance = dnssd.instance_name(label, domain)
        async with self._resolving:
            srv = await self._answer(instance, "SRV")
            txt = await self._answer(instance, "TXT")
            if not srv or txt is None:
                return None
            target, port = srv[0].target, srv[0].port
            addresses: list[str] = []
            for kind in ("A", "AAAA"):
                addresses += [str(r) for r in await self._answer(target, kind) or []]
        strings = [s for r in txt for s in r.strings]
        return advert_from(
            label,
            instance_label,
            dnssd.txt_properties(strings),
            port,
            dnssd.usable_addresses(addresses)[: dnssd.MAX_ADDRESSES],
        )

    async def _ptr(self, name: dns.name.Name) -> list[dns.name.Name] | None:
        answer = await self._answer(name, "PTR")
        return None if answer is None else [r.target for r in answer]

    async def _answer(self, name: dns.name.Name, kind: str) -> list[Any] | None:
        """The records, ``[]`` for a name or type that is not there, ``None`` when no
        server answered."""
        try:
            found = await self._resolver.resolve(
                name, kind, lifetime=QUERY_TIMEOUT, search=False, raise_on_no_answer=False
            )
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
            return []
        except (dns.exception.DNSException, OSError) as exc:
            log.debug("wide-area DNS-SD: %s %s: %r", name, kind, exc)
            return None
        return list(found.rrset) if found.rrset is not None else []


class _Refused(Exception):
    """The server answered the update with an error rcode (its text is the argument)."""


def _unanswered(domain: str, server: str, exc: BaseException) -> str:
    """Why registering got no answer: from the server that takes the updates, or, before
    one was found, from the resolver's servers asked where the domain is."""
    if isinstance(exc, dns.resolver.NXDOMAIN | dns.resolver.NoRootSOA):
        return f"{domain} is not a domain the DNS servers here know: check the name"
    timed_out = isinstance(exc, dns.exception.Timeout | TimeoutError)
    if server:
        where = f"the DNS server for {domain} ({server})"
        if timed_out:
            return f"{where} did not answer within {UPDATE_TIMEOUT:.0f} s"
        return f"{where} could not be reached: {exc}"
    if timed_out:
        return f"no DNS server here answered where {domain} is within {QUERY_TIMEOUT:.0f} s"
    return f"no DNS server here could say where {domain} is: {exc}"


def _system_resolver() -> dns.asyncresolver.Resolver:
    """The system's resolver (``/etc/resolv.conf``, or Windows' settings), or one with
    no server where there is none: every lookup then fails, and says so."""
    try:
        return dns.asyncresolver.Resolver()
    except dns.resolver.NoResolverConfiguration:
        return dns.asyncresolver.Resolver(configure=False)
