"""The doctor's words for a peer behind a router, and for silence on a network that
has one: facts in (the daemon's peers, this machine's networks, what a probe got,
the kernel's route table as text), findings out. No network."""

from __future__ import annotations

import ipaddress
import sys
from typing import Any

from chatty_p2p.doctor.network import gateway_in
from chatty_p2p.doctor.peers import nobody_answered
from chatty_p2p.doctor.routed import MAX_REMEMBERED, Remembered, behind_router, routed_finding
from chatty_p2p.net.netif import LAN, Interface

OURS = [
    ipaddress.ip_network("127.0.0.0/8"),
    ipaddress.ip_network("198.18.7.0/24"),
    ipaddress.ip_network("fd63:6861:7474:7::/64"),
    ipaddress.ip_network("fe80::/64"),
]
BRAVO = "b" * 64


def peer(addresses: list[str], **kw: Any) -> dict[str, Any]:
    """A peer as the running daemon lists it (``Peer.to_dict``)."""
    return {"id": BRAVO, "name": "bravo", "known": True, "discovered": False, "online": False,
            "last_seen": 100.0, "addresses": addresses, **kw}  # fmt: skip


def remembered(online: bool = False) -> Remembered:
    return Remembered("bravo", BRAVO, online, (("198.19.7.3", 47000),))


def test_a_remembered_peer_off_every_network_here_is_behind_a_router() -> None:
    [found] = behind_router(
        [peer(["198.19.7.3:47000", "[fe80::3%eth0]:47000", "desk.example:47000"])], set(), OURS
    )
    assert found == Remembered("bravo", BRAVO, False, (("198.19.7.3", 47000),))


def test_a_peer_that_may_be_on_this_network_or_was_heard_is_not() -> None:
    """One address on a network here: it may be here, silent for a cause the other
    checks name. Heard on mDNS (by the doctor or the daemon): no router in between.
    Never connected and not stored: a stranger the daemon only heard of."""
    for listed in (
        peer(["198.19.7.3:47000", "198.18.7.3:47000"]),
        peer(["[fd63:6861:7474:7::3]:47000"]),
        peer(["[fe80::3%eth0]:47000"]),  # link-local only: nothing to judge by
        peer(["198.19.7.3:47000"], discovered=True),
        peer(["198.19.7.3:47000"], known=False),
    ):
        assert behind_router([listed], set(), OURS) == [], listed
    assert behind_router([peer(["198.19.7.3:47000"])], {BRAVO}, OURS) == []


def test_the_most_recently_seen_are_judged_and_no_more_than_a_few() -> None:
    many = [
        peer([f"10.0.{n}.3:47000"], id=f"{n:064x}", name=f"p{n}", last_seen=float(n))
        for n in range(MAX_REMEMBERED + 3)
    ]
    found = behind_router(many, set(), OURS)
    assert [p.name for p in found] == [f"p{n}" for n in range(MAX_REMEMBERED + 2, 2, -1)]


def test_an_answering_address_is_named_with_the_command_that_adds_it() -> None:
    found = routed_finding(remembered(), (("198.19.7.3:47000", "reachable"),), OURS)
    assert found.level == "warn" and found.topic == "peers"
    assert (
        found.title
        == "bravo (bbbbbbbb) is on another network, behind a router: mDNS cannot find it"
    )
    assert "remembers it at 198.19.7.3:47000, outside this machine's networks" in found.detail
    assert "(198.18.7.0/24, fd63:6861:7474:7::/64)" in found.detail  # not loopback, link-local
    assert "routers do not pass it on" in found.detail
    assert "Its address 198.19.7.3:47000 answers" in found.detail
    fixes = found.fix.splitlines()
    assert fixes[0].startswith("add it by address: chatty add 198.19.7.3:47000")
    assert fixes[1].startswith("or run an mDNS reflector on the router")
    assert "enable-reflector=yes" in fixes[1]
    assert fixes[2].startswith("or use a wide-area DNS-SD domain")
    assert "chatty dns-sd DOMAIN --tsig-key FILE" in fixes[2]


def test_a_silent_address_says_how_it_failed_and_what_to_try() -> None:
    for outcome, words in (
        ("refused", "is refused: nothing listens there"),
        ("timeout", "gets no answer: the machine is off"),
        ("unreachable", "has no route from here"),
    ):
        found = routed_finding(remembered(), (("198.19.7.3:47000", outcome),), OURS)
        assert found.level == "warn", outcome
        assert found.title.endswith("behind a router, and does not answer"), outcome
        assert f"A connection to 198.19.7.3:47000 {words}" in found.detail, outcome
        assert "chatty add HOST:PORT" in found.fix and "enable-reflector=yes" in found.fix


def test_a_peer_connected_across_the_router_is_fine_and_said_so() -> None:
    found = routed_finding(remembered(online=True), (), OURS)
    assert found.level == "ok"
    assert found.title == (
        "bravo (bbbbbbbb) is on another network, connected through a router at 198.19.7.3:47000"
    )
    assert not found.fix


def test_silence_behind_a_router_names_the_router_and_the_ways_past_it() -> None:
    eth0 = [Interface("eth0", 2, LAN, ("198.18.7.2",))]
    plain = nobody_answered(0, eth0, 3.0)
    assert "router" not in plain.fix and "reflector" not in plain.fix
    routed = nobody_answered(0, eth0, 3.0, gateway="198.18.7.254")
    assert routed.title == plain.title == "No other Chatty answered mDNS"
    assert "through a router (198.18.7.254)" in routed.detail
    assert "routers do not pass it on" in routed.detail
    assert "chatty add HOST:PORT" in routed.fix and "enable-reflector=yes" in routed.fix
    assert "chatty dns-sd DOMAIN" in routed.fix
    # A problem found above explains the silence: no router story then.
    assert "router" not in nobody_answered(1, eth0, 3.0, gateway="198.18.7.254").detail


def _hex(address: str) -> str:
    """An IPv4 address as /proc/net/route prints it: a number in the host's byte order."""
    return f"{int.from_bytes(ipaddress.IPv4Address(address).packed, sys.byteorder):08X}"


def test_the_default_gateway_is_read_from_the_kernels_route_tables() -> None:
    head = "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n"
    subnet = (
        f"eth0\t{_hex('198.18.7.0')}\t00000000\t0001\t0\t0\t0\t{_hex('255.255.255.0')}\t0\t0\t0\n"
    )
    default = f"eth0\t00000000\t{_hex('198.18.7.254')}\t0003\t0\t0\t0\t00000000\t0\t0\t0\n"
    zero, hop = "0" * 32, ipaddress.IPv6Address("fd63:6861:7474:7::fe").packed.hex()
    v6_default = f"{zero} 00 {zero} 00 {hop} 00000400 00000001 00000000 00000003 eth0\n"
    v6_unreachable = f"{zero} 00 {zero} 00 {zero} ffffffff 00000001 00000000 00200200 lo\n"
    assert gateway_in(head + subnet + default, v6_default) == "198.18.7.254"
    assert gateway_in(head + subnet, v6_unreachable + v6_default) == "fd63:6861:7474:7::fe"
    assert gateway_in(head + subnet, v6_unreachable) is None
    assert gateway_in("", "") is None
