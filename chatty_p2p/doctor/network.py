"""Interfaces and the multicast path: is there a LAN, and can mDNS cross it?

What it knows about the multicast path comes from the Linux kernel, found by
experiment: Chatty sends mDNS with ``IP_MULTICAST_IF`` set, and for 224.0.0.x
that bypasses the routing table, so a missing route alone does not stop IPv4
mDNS. What does stop it is an interface that is down, a missing IPv6
``ff00::/8`` route, or no route back to the LAN while reverse-path filtering is
on (the default on systemd distributions): the other machines' answers are then
dropped on arrival. Those are what the checks look for.

Link state, interface flags and reverse-path filtering are read from ``/sys`` and
``/proc``. Elsewhere (and with ``CHATTY_PORTABLE=1``) only the sending is tried, and
a finding says what was not checked.
"""

from __future__ import annotations

import contextlib
import ipaddress
import socket
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import ifaddr

from chatty_p2p import portable
from chatty_p2p.doctor.report import Finding, not_checked
from chatty_p2p.net import netif

MDNS_PORT = 5353
MDNS_V4 = "224.0.0.251"
MDNS_V6 = "ff02::fb"


# interfaces -------------------------------------------------------------------------


def link_down(name: str) -> bool:
    """Whether the kernel says the link is down (switched off or no carrier).

    An interface keeps its IPv4 address when the cable is pulled or the radio
    switched off, so "has an address" alone is not "connected". Not known (False)
    where ``/sys`` is not read (see the module).
    """
    if not portable.linux_sources():
        return False
    base = Path("/sys/class/net") / name
    try:
        flags = int((base / "flags").read_text(), 16)
        if not flags & netif.IFF_UP:
            return True
    except (OSError, ValueError):
        return False
    try:
        state = (base / "operstate").read_text().strip()
    except OSError:
        return False
    return state in ("down", "lowerlayerdown", "notpresent")


def describe(interface: netif.Interface) -> str:
    """An interface in a finding's words: name, kind and its first three addresses."""
    shown = ", ".join(a.split("%")[0] for a in interface.addresses[:3])
    more = f" (+{len(interface.addresses) - 3})" if len(interface.addresses) > 3 else ""
    return f"{interface.name} ({interface.kind}) {shown}{more}"


def interface_findings(
    interfaces: list[netif.Interface], down: Iterable[str] = ()
) -> list[Finding]:
    """What the interfaces with addresses say: is there a LAN to find peers on?

    ``down`` names the interfaces whose link is down (see :func:`link_down`); a
    pure function of its arguments so it can be tested on made-up interfaces.
    """
    off = set(down)
    up = [i for i in interfaces if i.name not in off]
    by_kind = {kind: [i for i in up if i.kind == kind] for kind in (netif.LAN, netif.VPN)}
    virtual = [i for i in up if i.kind in (netif.VPN, netif.CONTAINER)]
    dead = [i for i in interfaces if i.name in off and i.kind != netif.LOOPBACK]
    note = f" Down: {', '.join(i.name for i in dead)}." if dead else ""
    if by_kind[netif.LAN]:
        others = [i for i in up if i.kind in (netif.VPN, netif.CONTAINER)]
        extra = f" Also up: {'; '.join(describe(i) for i in others)}." if others else ""
        return [
            Finding(
                "ok",
                f"Connected to a local network: {', '.join(i.name for i in by_kind[netif.LAN])}",
                "; ".join(describe(i) for i in by_kind[netif.LAN]) + "." + extra + note,
                topic="interfaces",
            )
        ]
    if virtual:
        vpn_words = (
            " A VPN carries traffic to its own network; peers on the desk next to you "
            "are not on it, and mDNS rarely crosses one."
            if by_kind[netif.VPN]
            else ""
        )
        return [
            Finding(
                "problem",
                "Only a VPN/virtual interface is up",
                f"No Wi-Fi or Ethernet interface has an address, only: "
                f"{'; '.join(describe(i) for i in virtual)}.{vpn_words}{note}",
                "Connect to Wi-Fi/Ethernet, or add the peer by address: chatty add HOST:PORT",
                topic="interfaces",
            )
        ]
    return [
        Finding(
            "problem",
            "No network interface is up with an address",
            "Only loopback is up: Chatty can reach another Chatty on this machine, "
            f"nothing else.{note}",
            "Connect to Wi-Fi or Ethernet (and check it got an address).",
            topic="interfaces",
        )
    ]


# the multicast path -----------------------------------------------------------------


def _prefixes() -> dict[str, list[ipaddress.IPv4Interface | ipaddress.IPv6Interface]]:
    """Address/prefix per interface name, both families; netif keeps no prefixes."""
    found: dict[str, list[ipaddress.IPv4Interface | ipaddress.IPv6Interface]] = {}
    for adapter in ifaddr.get_adapters():
        for ip in adapter.ips:
            address = ip.ip if isinstance(ip.ip, str) else ip.ip[0]
            with contextlib.suppress(ValueError):
                iface = ipaddress.ip_interface(f"{address}/{ip.network_prefix}")
                found.setdefault(str(adapter.nice_name), []).append(iface)
    return found


def _v4_prefixes() -> dict[str, list[ipaddress.IPv4Interface]]:
    return {
        name: [i for i in ifaces if isinstance(i, ipaddress.IPv4Interface)]
        for name, ifaces in _prefixes().items()
    }


def local_networks() -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    """Every network this machine has an address on, loopback included: a peer
    remembered at an address in none of them is behind a router."""
    return [i.network for ifaces in _prefixes().values() for i in ifaces]


RTF_GATEWAY = 0x2


def default_gateway() -> str | None:
    """The router this machine sends other networks' traffic to, if it has one (the
    kernel's default route); not known where ``/proc`` is not read."""
    if not portable.linux_sources():
        return None
    texts = []
    for table in ("route", "ipv6_route"):
        try:
            texts.append(Path(f"/proc/net/{table}").read_text())
        except OSError:
            texts.append("")
    return gateway_in(*texts)


def gateway_in(route: str, ipv6_route: str) -> str | None:
    """The default route's gateway from ``/proc/net/route`` (IPv4, preferred: the one
    a user knows) or ``/proc/net/ipv6_route`` text. An IPv4 address is printed there
    as a number in the host's byte order, so its bytes in that order are the address."""
    for line in route.splitlines()[1:]:
        fields = line.split()
        if len(fields) > 3 and fields[1] == "00000000" and int(fields[3], 16) & RTF_GATEWAY:
            return str(ipaddress.IPv4Address(int(fields[2], 16).to_bytes(4, sys.byteorder)))
    for line in ipv6_route.splitlines():
        fields = line.split()
        if len(fields) > 4 and fields[0] == "0" * 32 and fields[1] == "00":
            hop = ipaddress.IPv6Address(bytes.fromhex(fields[4]))
            if not hop.is_unspecified:
                return str(hop)
    return None


def _connect_error(
    family: int, setup: Callable[[socket.socket], None], target: tuple[Any, ...]
) -> str | None:
    """Whether the kernel has a route for ``target``: a UDP connect sends nothing."""
    try:
        with socket.socket(family, socket.SOCK_DGRAM) as s:
            setup(s)
            s.connect(target)
    except OSError as exc:
        return exc.strerror or str(exc)
    return None


def multicast_error(interface: netif.Interface, version: int) -> str | None:
    """Why mDNS cannot leave ``interface`` the way zeroconf sends it, or ``None``."""
    if version == 4:
        address = next((a for a in interface.addresses if ":" not in a), None)
        if address is None:
            return None
        packed = socket.inet_aton(address)
        return _connect_error(
            socket.AF_INET,
            lambda s: s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, packed),
            (MDNS_V4, MDNS_PORT),
        )
    if not any(":" in a for a in interface.addresses) or not interface.index:
        return None
    index = interface.index
    return _connect_error(
        socket.AF_INET6,
        lambda s: s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, index),
        (MDNS_V6, MDNS_PORT, 0, index),
    )


def _rp_filter(name: str) -> int:
    """The reverse-path filter mode for ``name``: the kernel uses max(all, name).
    0 (off) where ``/proc`` is not read: then only the missing route is named."""
    if not portable.linux_sources():
        return 0
    modes = []
    for where in ("all", name):
        try:
            modes.append(int(Path(f"/proc/sys/net/ipv4/conf/{where}/rp_filter").read_text()))
        except (OSError, ValueError):
            modes.append(0)
    return max(modes)


def _neighbour(net: ipaddress.IPv4Interface) -> str | None:
    """Another address on the interface's own network, to ask the kernel for a route."""
    if net.network.prefixlen >= 31:
        return None
    for candidate in (net.network.network_address + 1, net.network.network_address + 2):
        if candidate != net.ip:
            return str(candidate)
    return None


def multicast_findings(chosen: list[netif.Interface]) -> list[Finding]:
    """Can mDNS leave on each chosen interface, and can answers come back?"""
    findings: list[Finding] = []
    checked = [i for i in chosen if i.kind != netif.LOOPBACK]
    if not checked:
        return findings
    failures, tried = _multicast_failures(checked)
    for (name, version), error in failures.items():
        findings.append(_no_multicast_route(name, version, error, len(failures) == tried))
    findings += _route_back_findings(checked)
    findings += [_multicast_off(i) for i in checked if _flagged_off(i)]
    if not portable.linux_sources():
        findings.append(
            not_checked(
                "Links, multicast flags and reverse-path filtering",
                "Chatty reads them from Linux's /sys and /proc; here it only tried sending "
                f"mDNS on {', '.join(i.name for i in checked)}"
                + ("." if findings else ", which works."),
                "If no peer answers, check that the network adapter is connected and lets "
                "multicast through (its driver settings, or the Wi-Fi's).",
                "multicast",
            )
        )
    elif not findings:
        names = ", ".join(i.name for i in checked)
        findings.append(
            Finding("ok", f"mDNS can be sent and answered on {names}", topic="multicast")
        )
    return findings


def _multicast_failures(
    checked: list[netif.Interface],
) -> tuple[dict[tuple[str, int], str], int]:
    """The kernel's error for each interface and IP version it has an address of, and
    how many were tried: failing on all is no mDNS at all, on some only a lost family."""
    failures: dict[tuple[str, int], str] = {}
    tried = 0
    for interface in checked:
        for version in (4, 6):
            if not any((":" in a) == (version == 6) for a in interface.addresses):
                continue
            tried += 1
            error = multicast_error(interface, version)
            if error is not None:
                failures[(interface.name, version)] = error
    return failures, tried


def _no_multicast_route(name: str, version: int, error: str, whole: bool) -> Finding:
    """A link that is down needs bringing up, not a route added by hand, so the fix
    depends on which; ``whole`` (every interface and family tried failed) makes it a
    problem rather than a lost family."""
    group = MDNS_V4 if version == 4 else MDNS_V6
    route = (
        f"ip route add 224.0.0.0/4 dev {name}"
        if version == 4
        else f"ip -6 route add multicast ff00::/8 dev {name} table local"
    )
    down = link_down(name)
    other = "IPv6" if version == 4 else "IPv4"
    return Finding(
        "problem" if whole else "warn",
        "No multicast route: mDNS cannot leave this machine"
        if whole
        else f"No IPv{version} multicast route on {name}: mDNS works over {other} only",
        f"Sending to {group} port {MDNS_PORT} on {name} fails: {error}."
        + (" The link is down." if down else ""),
        (
            f"Bring {name} up (ip link set {name} up) or reconnect to the network;\n"
            if down
            else f"Reconnect to the network, or add the route: {route};\n"
        )
        + "or add peers by address: chatty add HOST:PORT",
        topic="multicast",
    )


def _flagged_off(interface: netif.Interface) -> bool:
    """The flag reads off for a link that is down too, which is said already: only an
    up one counts."""
    return not interface.multicast and not link_down(interface.name)


def _multicast_off(interface: netif.Interface) -> Finding:
    """Sending may still work with the flag off, but the card can drop what arrives,
    which no route check would show."""
    return Finding(
        "problem",
        f"Multicast is switched off on {interface.name}",
        f"The kernel marks {interface.name} as unable to multicast (flag MULTICAST "
        "off): its network card may drop the mDNS packets other machines send.",
        f"ip link set {interface.name} multicast on",
        topic="multicast",
    )


def _route_back_findings(checked: list[netif.Interface]) -> list[Finding]:
    """A LAN without a route back: TCP to peers fails, and with reverse-path filtering
    on the peers' mDNS answers are dropped on arrival (found in the lab: deleting the
    subnet route hides every peer when rp_filter is 1 or 2, not when it is 0)."""
    findings: list[Finding] = []
    prefixes = _v4_prefixes()
    global_error = _connect_error(socket.AF_INET, lambda s: None, (MDNS_V4, MDNS_PORT))
    for interface in checked:
        if link_down(interface.name):  # its routes went with the link: said already
            continue
        for net in prefixes.get(interface.name, []):
            other = _neighbour(net)
            if other is None or str(net.ip) not in interface.addresses:
                continue
            error = _connect_error(socket.AF_INET, lambda s: None, (other, 9))
            if error is None:
                continue
            mode = _rp_filter(interface.name)
            nor = " (nor a default route or one for 224.0.0.0/4)" if global_error else ""
            multicast = (
                "No multicast route, and no route to the local network"
                if global_error is not None
                else "No route to the local network"
            )
            dropped = (
                f" Reverse-path filtering is on (rp_filter={mode}), so the kernel drops "
                "packets from addresses it has no route back to: the other machines' mDNS "
                "answers never arrive, and no peer is found."
                if mode
                else ""
            )
            findings.append(
                Finding(
                    "problem",
                    f"{multicast} on {interface.name} ({net.network})",
                    f"The routing table has no route to {net.network}, {interface.name}'s own "
                    f"network{nor}: "
                    f"connections to peers there cannot leave.{dropped}",
                    "Reconnect to the network (that restores its routes), or add the route: "
                    f"ip route add {net.network} dev {interface.name}",
                    topic="multicast",
                )
            )
            break
    return findings
