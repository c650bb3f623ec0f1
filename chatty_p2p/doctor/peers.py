"""Other Chatty devices: who answers mDNS, whether their port can be reached, what
they run and how far off their clocks are; and whether Chatty runs here.

The live look never advertises: it only browses and resolves
``_chatty._tcp.local.`` with a zeroconf instance of its own (the kernel shares
UDP 5353 between it and a running daemon), and opens a bare TCP connection to
each advertised address, closed at once, no TLS. So it can run beside a daemon
or the window.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from zeroconf import ServiceStateChange, Zeroconf
from zeroconf.asyncio import AsyncServiceBrowser, AsyncServiceInfo, AsyncZeroconf

from chatty_p2p import __version__
from chatty_p2p.clock import CLOCK_WARN, clock_advice
from chatty_p2p.doctor.network import local_networks
from chatty_p2p.doctor.report import Finding, SeenPeer
from chatty_p2p.doctor.routed import (
    DNS_SD,
    REFLECTOR,
    Remembered,
    behind_router,
    routed_finding,
)
from chatty_p2p.net import netif
from chatty_p2p.net.addresses import format_address
from chatty_p2p.net.discovery import SERVICE_TYPE, Advert, mdns_sockets, parse_advert
from chatty_p2p.protocol.messages import MIN_PROTOCOL_VERSION, PROTOCOL_VERSION

CONNECT_TIMEOUT = 1.5
"""Seconds a TCP connect to a peer may take before its port counts as unreachable:
a LAN answers in milliseconds, and a firewall that drops never answers at all."""
RESOLVE_TIMEOUT_MS = 1500


# the live look ----------------------------------------------------------------------


async def browse(
    chosen: list[netif.Interface], seconds: float, own_id: str | None = None
) -> list[Advert]:
    """Every Chatty that answers mDNS within ``seconds``; registers nothing."""
    aiozc = AsyncZeroconf(interfaces=mdns_sockets(chosen))
    names: set[str] = set()
    tasks: list[asyncio.Task[Advert | None]] = []

    async def resolve(name: str) -> Advert | None:
        info = AsyncServiceInfo(SERVICE_TYPE, name)
        if not await info.async_request(aiozc.zeroconf, RESOLVE_TIMEOUT_MS):
            return None
        advert = parse_advert(name, info)
        return None if advert is None or advert.device_id == own_id else advert

    def on_change(
        zeroconf: Zeroconf, service_type: str, name: str, state_change: ServiceStateChange
    ) -> None:
        if state_change is not ServiceStateChange.Removed and name not in names:
            names.add(name)
            tasks.append(asyncio.get_running_loop().create_task(resolve(name)))

    browser = AsyncServiceBrowser(aiozc.zeroconf, SERVICE_TYPE, handlers=[on_change])
    try:
        await asyncio.sleep(seconds)
        await browser.async_cancel()
        results = await asyncio.gather(*tasks, return_exceptions=True)
    finally:
        for task in tasks:
            task.cancel()
        await aiozc.async_close()
    return [r for r in results if isinstance(r, Advert)]


async def _connect(host: str, port: int) -> str:
    """``reachable``, ``refused``, ``timeout`` or ``unreachable`` for one address."""
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), CONNECT_TIMEOUT)
    except TimeoutError:
        return "timeout"
    except ConnectionRefusedError:
        return "refused"
    except OSError as exc:
        return "timeout" if exc.errno == errno.ETIMEDOUT else "unreachable"
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return "reachable"


def _dialable(addresses: tuple[str, ...], chosen: list[netif.Interface]) -> list[str]:
    """Addresses a connect can use: an unscoped link-local one gets a chosen interface."""
    out = []
    scopes = [i.name for i in chosen if any(a.startswith("fe80:") for a in i.addresses)]
    for address in addresses:
        if address.startswith("fe80:") and "%" not in address:
            if not scopes:
                continue
            address = f"{address}%{scopes[0]}"
        out.append(address)
    return out


async def reach(advert: Advert, chosen: list[netif.Interface]) -> SeenPeer:
    hosts = _dialable(advert.addresses, chosen)
    outcomes = await asyncio.gather(*(_connect(h, advert.port) for h in hosts))
    reached = next((h for h, o in zip(hosts, outcomes, strict=True) if o == "reachable"), None)
    outcome = next((v for v in ("reachable", "refused", "timeout") if v in outcomes), "unreachable")
    return SeenPeer(
        advert.name,
        advert.device_id,
        tuple(advert.addresses),
        advert.port,
        advert.protocol,
        advert.app,
        outcome,
        format_address(reached.split("%")[0], advert.port) if reached else None,
        tuple(zip(hosts, outcomes, strict=True)),
    )


async def probe(peer: Remembered) -> tuple[tuple[str, str], ...]:
    """``(host:port, outcome)`` for the first addresses a peer behind a router is
    remembered at; nothing for one that is connected (it evidently answers)."""
    if peer.online:
        return ()
    tried = peer.addresses[:3]
    outcomes = await asyncio.gather(*(_connect(host, port) for host, port in tried))
    return tuple((format_address(*a), o) for a, o in zip(tried, outcomes, strict=True))


async def routed_findings(
    daemon_peers: list[dict[str, Any]], seen: list[SeenPeer]
) -> list[Finding]:
    """What to say of the remembered peers mDNS does not show because a router stands
    between (see :mod:`.routed`), each address probed."""
    networks = local_networks()
    remembered = behind_router(daemon_peers, {p.device_id for p in seen}, networks)
    attempts = await asyncio.gather(*(probe(peer) for peer in remembered))
    return [routed_finding(p, a, networks) for p, a in zip(remembered, attempts, strict=True)]


_WORDS = {"refused": "refused", "timeout": "no answer", "unreachable": "no route"}


def peer_findings(peer: SeenPeer, connected: bool = False) -> list[Finding]:
    """Version and reachability of one peer that answered mDNS; ``connected`` says the
    running Chatty has a session with it anyway (one the peer opened)."""
    findings = []
    version = _version_finding(peer)
    if version is not None:
        findings.append(version)
    reach = _REACH_FINDINGS.get(peer.outcome, _no_route)(peer)
    if connected and peer.outcome != "reachable":
        reach = _connected_anyway(reach, peer)
    findings.append(reach)
    return findings


def _version_finding(peer: SeenPeer) -> Finding | None:
    """A peer outside the protocols spoken here cannot talk to this Chatty however well
    the network carries it, so this is said before anything about its port."""
    try:
        version = int(peer.protocol)
    except ValueError:
        return _unversioned(peer)
    if version < MIN_PROTOCOL_VERSION:
        return _older(peer, version)
    if version > PROTOCOL_VERSION:
        return _newer(peer, version)
    return None


def _app(peer: SeenPeer) -> str:
    """The Chatty release the peer advertises, when it does, so the user knows what to
    update from."""
    return f" (Chatty {peer.app})" if peer.app else ""


def _unversioned(peer: SeenPeer) -> Finding:
    """No version at all is only a warning: it may still speak one this Chatty knows."""
    return Finding(
        "warn",
        f"{peer.label} does not say which protocol it speaks",
        f"Its mDNS record has no protocol version{_app(peer)}: a very old or broken Chatty.",
        f"Update Chatty on {peer.name or peer.label}.",
        topic="peers",
    )


def _older(peer: SeenPeer, version: int) -> Finding:
    """Below the oldest protocol accepted here nothing works until the peer updates."""
    who = peer.label
    return Finding(
        "problem",
        f"Version mismatch: update Chatty on {peer.name or who}",
        f"{who} speaks protocol {version}{_app(peer)}; this Chatty ({__version__}) needs "
        f"{MIN_PROTOCOL_VERSION} to {PROTOCOL_VERSION}.",
        f"Update Chatty on {peer.name or who}.",
        topic="peers",
    )


def _newer(peer: SeenPeer, version: int) -> Finding:
    """A newer peer may still accept this one's protocol, so it is a warning that points
    the update here."""
    who = peer.label
    return Finding(
        "warn",
        f"Version mismatch: {who} runs a newer Chatty",
        f"{who} speaks protocol {version}{_app(peer)}; this one ({__version__}) speaks up to "
        f"{PROTOCOL_VERSION}. They talk only if {who} still accepts the older one.",
        "Update Chatty here if they cannot talk.",
        topic="peers",
    )


def _shown(peer: SeenPeer) -> str:
    """The addresses a failed connect was tried on, few enough to read in one line."""
    return ", ".join(peer.addresses[:3]) or "no address"


def _reachable(peer: SeenPeer) -> Finding:
    """Reached on one address; those that failed are named, since a peer that moves to
    one of them would vanish."""
    failed = [f"{a} ({_WORDS[o]})" for a, o in peer.attempts if o != "reachable"]
    return Finding(
        "ok",
        f"{peer.label} is reachable at {peer.reached}",
        f"Not at: {', '.join(failed)}." if failed else "",
        topic="peers",
    )


def _refused(peer: SeenPeer) -> Finding:
    """A refusal means the machine is there and answers: the cause is on it, not on
    the network."""
    who = peer.label
    return Finding(
        "problem",
        f"{who} answers mDNS but nothing listens on its port {peer.port}",
        f"Connections to {_shown(peer)} port {peer.port} are refused: Chatty there has "
        f"stopped or is restarting, or a firewall on {peer.name or who} rejects them.",
        f"Restart Chatty on {peer.name or who}; if it runs, run chatty doctor there.",
        topic="peers",
    )


def _timed_out(peer: SeenPeer) -> Finding:
    """Silence while its multicast gets through is what a dropping firewall or a Wi-Fi
    that isolates clients looks like, and only the user can tell which."""
    who = peer.label
    return Finding(
        "problem",
        f"{who} answers mDNS but its port {peer.port} is unreachable from here",
        f"Connections to {_shown(peer)} port {peer.port} get no answer at all: a firewall on "
        f"{peer.name or who} drops them, or the Wi-Fi isolates devices from each other "
        "(AP/client isolation, common on guest and office networks) while letting "
        "multicast through.",
        f"Run chatty doctor on {peer.name or who} to check its firewall;\n"
        "turn off AP/client isolation on the router, or use a network without it;\n"
        "if only one direction is blocked, add this machine from there by address "
        "(chatty add HOST:PORT)",
        topic="peers",
    )


def _no_route(peer: SeenPeer) -> Finding:
    """No route at all: the peer advertised addresses of a network this machine is not
    on, so the fix is an address that is."""
    return Finding(
        "problem",
        f"{peer.label} answers mDNS but none of its addresses can be reached",
        f"No route from here to {_shown(peer)}: it advertises addresses of another network "
        "(a VPN or a container, say).",
        f"Connect both to the same network, or add it by an address that works: "
        f"chatty add HOST:{peer.port}",
        topic="peers",
    )


_REACH_FINDINGS: dict[str, Callable[[SeenPeer], Finding]] = {
    "reachable": _reachable,
    "refused": _refused,
    "timeout": _timed_out,
}
"""The finding for each outcome of :func:`reach`; any other is :func:`_no_route`."""


def _connected_anyway(finding: Finding, peer: SeenPeer) -> Finding:
    """A session the peer opened hides the failure only until it drops, so the failure
    stays a problem and says why the peer still shows as connected."""
    return replace(
        finding,
        detail=f"{finding.detail} Chatty here is connected to it anyway, over a connection "
        f"{peer.name or peer.label} opened: that works while it lasts, but this side cannot "
        "reconnect.",
    )


def nobody_answered(
    explained: int, chosen: list[netif.Interface], seconds: float, gateway: str | None = None
) -> Finding:
    """No peer answered; ``explained`` counts the problems found that would explain it,
    and ``gateway`` is this machine's router, if it has one (see :func:`_unexplained`)."""
    where = ", ".join(i.name for i in chosen) or "any interface"
    if explained:
        return Finding(
            "warn",
            "No other Chatty answered mDNS",
            f"Nothing answered on {where} within {seconds:g} s, most likely because of the "
            f"problem{'s' if explained > 1 else ''} named above.",
            "Fix that first; meanwhile peers can be added by address: chatty add HOST:PORT",
            topic="peers",
        )
    return _unexplained(where, seconds, gateway)


def _unexplained(where: str, seconds: float, gateway: str | None) -> Finding:
    """Silence nothing here explains. Behind a router (this machine has one) the other
    machine may be on the router's other network, which mDNS never reaches: that case
    has fixes of its own, so it is named with them."""
    detail = (
        f"Nothing answered on {where} within {seconds:g} s, and nothing here explains it. "
        "Either Chatty is not running on the other machine, it is on another network (a "
        "guest Wi-Fi keeps devices apart), or this network does not pass multicast between "
        "devices (some routers and office Wi-Fi filter it)."
    )
    fix = (
        "Start Chatty on the other machine and run chatty doctor there too;\n"
        "if it runs, add it by address: chatty add HOST:PORT (its doctor prints both)"
    )
    if gateway is not None:
        detail += (
            f" This machine reaches other networks through a router ({gateway}): a machine "
            "on another of its networks (another subnet or VLAN) never hears mDNS from "
            "here, since routers do not pass it on."
        )
        fix += f";\nif a router is in between: {REFLECTOR},\nor {DNS_SD}"
    return Finding("warn", "No other Chatty answered mDNS", detail, fix, topic="peers")


# clocks and this Chatty -------------------------------------------------------------


def clock_findings(daemon_peers: list[dict[str, Any]]) -> list[Finding]:
    """Peers whose clock, as they reported it when connecting, is far from ours."""
    findings = []
    for peer in daemon_peers:
        skew = peer.get("clock_skew")
        if isinstance(skew, int | float) and abs(skew) > CLOCK_WARN:
            name = str(peer.get("name") or str(peer.get("id", ""))[:8])
            findings.append(
                Finding(
                    "warn",
                    f"{name}'s clock is off by {abs(skew) / 60:.0f} minutes",
                    clock_advice(name, float(skew)),
                    "Turn on automatic time (NTP) on both machines.",
                    topic="clock",
                )
            )
    return findings


def this_chatty(
    port: int | None, device: dict[str, Any] | None, chosen: list[netif.Interface]
) -> list[Finding]:
    if not port:
        return [
            Finding(
                "warn",
                "Chatty is not running here",
                "Other machines cannot see this one until it runs, and its port could not be "
                "checked: only mDNS was.",
                "Start it (chatty daemon, or the window) and run chatty doctor again.",
            )
        ]
    who = f" as {device['name']} ({str(device.get('id', ''))[:8]})" if device else ""
    lan_first = sorted(chosen, key=lambda i: i.kind != netif.LAN)
    first = next(
        (a for i in lan_first if i.kind != netif.LOOPBACK for a in i.addresses if "%" not in a),
        None,
    )
    add = (
        f" Other devices can add it by address: chatty add {format_address(first, port)}"
        if first
        else ""
    )
    return [Finding("ok", f"Chatty runs here{who}, on TCP port {port}", add.strip())]


def connected_findings(daemon_peers: list[dict[str, Any]]) -> list[Finding]:
    online = [str(p.get("name", "")) for p in daemon_peers if p.get("online")]
    if not online:
        return []
    return [Finding("ok", f"Connected now to: {', '.join(online)}", topic="peers")]
