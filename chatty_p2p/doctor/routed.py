"""Peers behind a router: the case where mDNS cannot help, said as such.

mDNS is multicast to the local network only, and a router does not pass it on, so
two machines on different subnets (VLANs, a mesh with a separate wired network)
never see each other's announcements, whatever the firewalls say. What the doctor
can tell: a peer the running Chatty remembers is not heard on mDNS, and every
address it is remembered at lies outside every network of this machine, so a
router stands between them. Whether that address still answers decides the
advice. Pure functions of facts gathered elsewhere (:mod:`.network` reads the
local networks, :mod:`.peers` probes the addresses), so they are tested with
made-up peers.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from chatty_p2p.doctor.report import Finding
from chatty_p2p.net.addresses import format_address, parse_address

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

MAX_REMEMBERED = 5
"""Remembered peers judged at most, the most recently seen first: a laptop that
moved between networks remembers every peer of the one it left, and each would
cost a probe and a paragraph."""

REFLECTOR = (
    "run an mDNS reflector on the router (Avahi: enable-reflector=yes in "
    "/etc/avahi/avahi-daemon.conf)"
)
"""Passes mDNS between the router's networks: discovery then works as on one."""
DNS_SD = "use a wide-area DNS-SD domain on both machines: chatty dns-sd DOMAIN --tsig-key FILE"
"""Announces and browses in a unicast DNS domain, which any router passes."""


@dataclass(frozen=True)
class Remembered:
    """A peer the running Chatty remembers whom mDNS did not show, and the addresses
    it is remembered at on networks this machine is not on."""

    name: str
    device_id: str
    online: bool
    addresses: tuple[tuple[str, int], ...]

    @property
    def label(self) -> str:
        return f"{self.name} ({self.device_id[:8]})" if self.name else self.device_id[:8]

    @property
    def shown(self) -> str:
        return ", ".join(format_address(h, p) for h, p in self.addresses[:3])


def router_fixes(first: str) -> str:
    """The ways past a router, one a line: ``first`` (by address), a reflector, DNS-SD."""
    return f"{first};\nor {REFLECTOR};\nor {DNS_SD}"


def behind_router(
    daemon_peers: list[dict[str, Any]], seen: set[str], networks: list[Network]
) -> list[Remembered]:
    """The remembered peers mDNS did not show (``seen`` are the ids the live look
    heard; a peer the daemon found on mDNS is not behind a router either) whose every
    address lies off ``networks``, this machine's; the most recently seen first."""
    unheard = [
        p for p in daemon_peers if p.get("known") and not p.get("discovered") and p.get("id")
    ]
    unheard = [p for p in unheard if p["id"] not in seen]
    unheard.sort(key=lambda p: -float(p.get("last_seen") or 0))
    found = [(p, _off_networks(p.get("addresses") or [], networks)) for p in unheard]
    return [
        Remembered(str(p.get("name", "")), str(p["id"]), bool(p.get("online")), addresses)
        for p, addresses in found
        if addresses
    ][:MAX_REMEMBERED]


def _off_networks(addresses: Iterable[str], networks: list[Network]) -> tuple[tuple[str, int], ...]:
    """The addresses, if every one that can be judged lies off ``networks``; none if
    one is on them (the peer may be on this network, silent for another reason, which
    the other checks are for). A link-local address or a host name says nothing about
    where the peer is, so it is left out."""
    judged = []
    for text in addresses:
        pair = parse_address(text)
        ip = _ip(pair[0]) if pair else None
        if pair is None or ip is None or ip.is_link_local:
            continue
        if any(ip in net for net in networks):
            return ()
        judged.append(pair)
    return tuple(judged)


def _ip(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host.partition("%")[0])
    except ValueError:
        return None


def routed_finding(
    peer: Remembered, attempts: tuple[tuple[str, str], ...], networks: list[Network]
) -> Finding:
    """What to say of one peer behind a router: connected anyway (fine, said so the
    user knows what carries it), or not, and then whether its address answered
    (``attempts`` holds ``(host:port, outcome)`` for the addresses probed)."""
    if peer.online:
        return _connected_across(peer)
    reached = next((a for a, outcome in attempts if outcome == "reachable"), None)
    where = _where(peer, networks)
    if reached is not None:
        return _answers(peer, reached, where)
    return _silent(peer, attempts, where)


def _where(peer: Remembered, networks: list[Network]) -> str:
    """Why a router must be in between, in words: its addresses and this machine's
    networks (loopback and link-local ones are no one's way out, so not named)."""
    ours = [str(n) for n in networks if not (n.is_loopback or n.is_link_local)]
    listed = ", ".join(ours[:4]) or "none"
    return (
        f"Chatty here remembers it at {peer.shown}, outside this machine's networks "
        f"({listed}), so a router stands between them. mDNS, which Chatty finds peers "
        "with, stays on one network: routers do not pass it on."
    )


def _connected_across(peer: Remembered) -> Finding:
    """Connected by its remembered address: nothing to fix, but it is found again only
    while that address holds."""
    return Finding(
        "ok",
        f"{peer.label} is on another network, connected through a router at {peer.shown}",
        "mDNS does not cross routers, so Chatty reaches it only by the address it "
        "remembers. If that changes, add it again (chatty add HOST:PORT), "
        f"{REFLECTOR}, or {DNS_SD}.",
        topic="peers",
    )


def _answers(peer: Remembered, reached: str, where: str) -> Finding:
    """Its address answers: adding it by that address connects them now."""
    return Finding(
        "warn",
        f"{peer.label} is on another network, behind a router: mDNS cannot find it",
        f"{where} Its address {reached} answers: Chatty can reach it there.",
        router_fixes(f"add it by address: chatty add {reached} (one side is enough)"),
        topic="peers",
    )


_SILENCE = {
    "refused": "is refused: nothing listens there (Chatty is not running, or listens on "
    "another port now)",
    "timeout": "gets no answer: the machine is off, has another address now, or a "
    "firewall on the way drops the connection",
}


def _silent(peer: Remembered, attempts: tuple[tuple[str, str], ...], where: str) -> Finding:
    """Its address does not answer: the advice is the same, with the address it has now."""
    outcomes = {outcome for _, outcome in attempts}
    said = next(
        (words for outcome, words in _SILENCE.items() if outcome in outcomes),
        "has no route from here: this machine knows no way to that network",
    )
    tried = ", ".join(a for a, _ in attempts) or peer.shown
    return Finding(
        "warn",
        f"{peer.label} is on another network, behind a router, and does not answer",
        f"{where} A connection to {tried} {said}.",
        router_fixes(
            f"Start Chatty on {peer.name or 'it'} and add it by the address its chatty "
            "daemon prints: chatty add HOST:PORT"
        ),
        topic="peers",
    )
