"""Interfaces, announcements and what a node keeps of them, without sending anything."""

from __future__ import annotations

import socket
from pathlib import Path

from zeroconf import ServiceInfo

from chatty_p2p.net import netif
from chatty_p2p.net.discovery import SERVICE_TYPE, Advert, instance_name, mdns_sockets, parse_advert
from chatty_p2p.node import MAX_ADDRESSES, Node

PEER = "ab" * 32


def test_interface_kinds_by_name() -> None:
    assert netif.kind_of("lo", ["127.0.0.1"]) == netif.LOOPBACK
    for name in ("docker0", "br-0123456789ab", "veth1a2b3c", "virbr0", "vboxnet0"):
        assert netif.kind_of(name, ["172.17.0.1"]) == netif.CONTAINER, name
    for name in ("tun0", "wg0", "tailscale0", "ppp0"):
        assert netif.kind_of(name, ["10.8.0.2"]) == netif.VPN, name
    assert netif.kind_of("wlp2s0", ["192.168.1.20"]) == netif.LAN
    assert netif.kind_of("eth0", ["192.168.1.20"]) == netif.LAN


def test_an_interface_named_but_absent_keeps_mdns_on_this_machine() -> None:
    assert netif.chosen(["nosuch0"]) == []
    assert mdns_sockets([]) == ["127.0.0.1"]
    eth = netif.Interface("eth0", 2, netif.LAN, ("192.168.1.20", "fe80::1%eth0", "fd00::20"))
    assert mdns_sockets([eth]) == ["192.168.1.20", "fe80::1%eth0"]


def _record(properties: dict[str, str], name: str | None = None) -> ServiceInfo:
    return ServiceInfo(
        SERVICE_TYPE,
        name or instance_name(PEER),
        port=4242,
        properties=properties,
        parsed_addresses=["192.168.1.30"],
    )


def test_only_well_formed_records_become_adverts_and_their_text_is_cleaned() -> None:
    good = _record({"id": PEER, "name": "desk\x1b[2J", "v": "1", "app": "0.1\x1b]0;pwn\x07" * 9})
    advert = parse_advert(instance_name(PEER), good)  # type: ignore[arg-type]
    assert advert is not None and advert.device_id == PEER and advert.port == 4242
    assert "\x1b" not in advert.name + advert.app and "\x07" not in advert.app
    assert len(advert.app) <= 32 and advert.addresses == ("192.168.1.30",)
    shouty = "AB" * 32  # not lower-case hex: not an id Chatty makes
    for record, name in (
        (_record({"id": shouty}, instance_name(shouty)), instance_name(shouty)),
        (_record({"id": "zz" * 32}, instance_name("zz" * 32)), instance_name("zz" * 32)),
        (_record({"id": PEER}), instance_name("cd" * 32)),  # instance not named by its id
    ):
        assert parse_advert(name, record) is None  # type: ignore[arg-type]


async def test_a_flood_of_announced_addresses_keeps_the_one_that_worked(tmp_path: Path) -> None:
    # Loopback addresses only: the node dials what it is told, and tests stay on this machine.
    port = _closed_port()
    node = Node(tmp_path / "n", name="n", discovery=False)
    await node.start()
    try:
        node._adverts.on_advert(PEER, Advert(PEER, "desk", ("127.1.0.30",), port))
        state = node._peers[PEER]
        state.addresses.insert(0, ("127.1.0.31", port))  # as _attach does for a used path
        forged = tuple(f"127.66.0.{i}" for i in range(3 * MAX_ADDRESSES))
        node._adverts.on_advert(PEER, Advert(PEER, "desk", forged, port))
        assert state.addresses[0] == ("127.1.0.31", port)
        assert ("127.1.0.30", port) in state.addresses
        assert len(state.addresses) <= 2 * MAX_ADDRESSES
    finally:
        await node.stop()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
