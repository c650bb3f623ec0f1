"""Which of a peer's addresses are kept: a link-local one only where this machine can
dial it, whatever passed it on (an mDNS repeater, a peer's own list, an old record)."""

from __future__ import annotations

import pytest

from chatty_p2p.net import netif
from chatty_p2p.node import clean_addresses

ETH0 = netif.Interface("eth0", 2, netif.LAN, ("198.18.0.2", "fe80::2%eth0"))
CABLED = netif.Interface("eth1", 3, netif.LAN, ("169.254.7.9", "fe80::3%eth1"))


@pytest.fixture
def here(monkeypatch: pytest.MonkeyPatch) -> list[netif.Interface]:
    """This machine's interfaces, as the test makes them."""
    interfaces = [ETH0]
    monkeypatch.setattr(netif, "interfaces", lambda: list(interfaces))
    return interfaces


def test_a_link_local_address_on_an_interface_that_is_not_here_is_dropped(
    here: list[netif.Interface],
) -> None:
    given = [
        ("fe80::5%eth0", 4000),
        ("fe80::6%wlan7", 4000),  # a scope naming an interface of the peer's machine
        ("fe80::7%99999", 4000),  # an index no interface here has
        ("fe80::8", 4000),  # no scope at all
        ("198.19.0.3", 4000),
    ]
    assert clean_addresses(given) == [("fe80::5%eth0", 4000), ("198.19.0.3", 4000)]


def test_an_ipv4_link_local_address_is_kept_only_on_a_machine_on_such_a_link(
    here: list[netif.Interface],
) -> None:
    """169.254/16 is what two machines cabled together without DHCP have: the way to
    each other then, and from anywhere else a dial into a router that drops it."""
    given = [("169.254.7.10", 4000), ("198.18.0.3", 4000)]
    assert clean_addresses(given) == [("198.18.0.3", 4000)]
    here.append(CABLED)
    assert clean_addresses(given) == given


def test_other_addresses_are_kept_without_reading_the_interfaces(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Most lists hold no link-local address: they cost no look at the interfaces."""

    def unread() -> list[netif.Interface]:
        raise AssertionError("the interfaces were read")

    monkeypatch.setattr(netif, "interfaces", unread)
    given = [("198.19.0.3", 4000), ("fd63::3", 4000), ("desk.example", 4000), ("198.19.0.3", 4000)]
    assert clean_addresses(given) == given[:3]
