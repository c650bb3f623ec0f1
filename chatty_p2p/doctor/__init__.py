"""``chatty doctor``: why can't I see my peer?

Each check names a cause in plain words and the fix for it, because "no peers
found" has a dozen causes and the user can see none of them: only a VPN is up;
the kernel cannot send mDNS on the interface; the local firewall drops mDNS or
Chatty's port; the other machine answers mDNS but its port is unreachable (its
firewall, or a Wi-Fi that keeps devices apart); a peer on another network,
behind a router that mDNS never crosses; a version too old to talk to; a clock
far off.

:func:`diagnose` runs them all. It never starts a node and never advertises
itself, so it can run beside a daemon or the window, and a face that already
runs a node (the GUI) can call it too. The checks are in :mod:`.network`
(interfaces and the multicast path), :mod:`.firewall` (the rules, read by
:mod:`.rules`) and :mod:`.peers` (other Chatty devices, clocks, this Chatty;
the words for peers behind a router are :mod:`.routed`'s); :mod:`.report`
holds what they find.
"""

from __future__ import annotations

import asyncio
from typing import Any

from chatty_p2p.doctor.firewall import check_firewall, read_firewall
from chatty_p2p.doctor.network import (
    MDNS_PORT,
    default_gateway,
    describe,
    interface_findings,
    link_down,
    multicast_findings,
)
from chatty_p2p.doctor.peers import (
    browse,
    clock_findings,
    connected_findings,
    nobody_answered,
    peer_findings,
    reach,
    routed_findings,
    this_chatty,
)
from chatty_p2p.doctor.report import TOPICS, Finding, Report, SeenPeer
from chatty_p2p.doctor.widearea import dns_sd_findings
from chatty_p2p.net import netif

__all__ = [
    "TOPICS",
    "Finding",
    "Report",
    "SeenPeer",
    "check_firewall",
    "clock_findings",
    "diagnose",
    "interface_findings",
    "peer_findings",
]


async def diagnose(
    port: int | None,
    *,
    listen_seconds: float = 3.0,
    interfaces: list[str] | None = None,
    daemon_peers: list[dict[str, Any]] | None = None,
    device: dict[str, Any] | None = None,
) -> Report:
    """Run every check; never starts a node, never advertises.

    ``port`` is the running Chatty's TCP port (``None`` if none runs here),
    ``interfaces`` what ``--interface`` named, ``daemon_peers`` the running
    node's peer dicts (``Peer.to_dict``) for the clock check, and ``device``
    its ``describe()`` (name and id: its own mDNS record is not a peer).
    ``listen_seconds=0`` skips the live look.
    """
    every = netif.interfaces()
    chosen = netif.chosen(interfaces)
    down = {i.name for i in every if link_down(i.name)}
    report = Report(port=port)
    report.findings += this_chatty(port, device, chosen)
    report.findings += dns_sd_findings((device or {}).get("dns_sd", []))
    report.findings += _interface_check(every, chosen, interfaces, down)
    multicast = multicast_findings(chosen)
    names = [i.name for i in chosen]
    firewall_task = asyncio.ensure_future(asyncio.to_thread(read_firewall, port, names or None))
    try:
        seen, browse_error = await _live_look(chosen, listen_seconds, (device or {}).get("id"))
    finally:
        firewall = await firewall_task
    report.findings += _demoted(multicast) if seen else multicast
    if browse_error is not None:
        report.findings.append(browse_error)
    report.findings += firewall
    report.peers = sorted(seen, key=lambda p: (p.name, p.device_id))
    for peer in report.peers:
        online = any(p.get("id") == peer.device_id and p.get("online") for p in daemon_peers or [])
        report.findings += peer_findings(peer, online)
    if listen_seconds > 0 and chosen and not seen and browse_error is None:
        explained = _explained(report.findings)
        gateway = default_gateway()
        report.findings.append(nobody_answered(explained, chosen, listen_seconds, gateway))
    if daemon_peers:
        report.findings += await routed_findings(daemon_peers, report.peers)
        report.findings += connected_findings(daemon_peers)
        report.findings += clock_findings(daemon_peers)
    return report


def _interface_check(
    every: list[netif.Interface],
    chosen: list[netif.Interface],
    interfaces: list[str] | None,
    down: set[str],
) -> list[Finding]:
    """A ``--interface`` that matches nothing is the cause to name, not the state of
    interfaces the user did not ask about; else only those it keeps are judged."""
    if interfaces and not chosen:
        return [
            Finding(
                "problem",
                f"No interface matches --interface {' '.join(interfaces)}",
                "Known: " + "; ".join(describe(i) for i in every),
                "Name an interface or address that exists, or leave --interface out.",
                topic="interfaces",
            )
        ]
    return interface_findings([i for i in every if not interfaces or i in chosen], down)


async def _live_look(
    chosen: list[netif.Interface], listen_seconds: float, own_id: str | None
) -> tuple[list[SeenPeer], Finding | None]:
    """The peers that answer, or why none could be heard: a port 5353 held alone by
    another program is a cause of its own, not "nobody answered"."""
    if listen_seconds <= 0 or not chosen:
        return [], None
    try:
        adverts = await browse(chosen, listen_seconds, own_id)
        return list(await asyncio.gather(*(reach(a, chosen) for a in adverts))), None
    except OSError as exc:
        return [], Finding(
            "problem",
            "Cannot listen for mDNS here",
            f"Opening UDP {MDNS_PORT} failed: {exc}. Another program may hold it alone.",
            "Close the program holding UDP 5353, or add peers by address: chatty add HOST:PORT",
            topic="multicast",
        )


def _demoted(multicast: list[Finding]) -> list[Finding]:
    """Peers answered: a flag that looked fatal evidently was not, so it stays only as
    a warning."""
    return [
        Finding("warn", f.title, f.detail, f.fix, f.topic)
        if f.title.startswith("Multicast is switched off")
        else f
        for f in multicast
    ]


def _explained(findings: list[Finding]) -> int:
    """How many problems found so far would keep peers from answering: the silence is
    worded by whether one already explains it."""
    return sum(
        f.level == "problem" and f.topic in ("interfaces", "multicast", "firewall")
        for f in findings
    )
