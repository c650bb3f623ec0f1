"""Across a router: two networks, alpha on one and bravo on the other (issue 19).

The lab's router forwards unicast between ``br0`` and ``br1`` and no multicast, as
a home router or a VLAN's gateway does, so mDNS never crosses it. What users are
told works is checked as they would: adding by address once survives restarts of
both sides, an mDNS reflector (Avahi, run in the router's namespace) makes them
find each other with nothing typed, and ``chatty doctor`` names the routed case and
its fixes in what it prints.
"""

from __future__ import annotations

import pytest

from tests.support.avahi import Reflector
from tests.support.lab import is_type, say_and_check
from tests.support.netlab import ROUTER, Host, Lab

pytestmark = pytest.mark.netlab


def routed(lab: Lab) -> tuple[Host, Host, Host]:
    """The router, alpha on its first network and bravo on its second."""
    router = lab.router()
    return router, lab.host("alpha"), lab.host("bravo", network=1)


def online_both(a: Host, b: Host, timeout: float = 20) -> None:
    assert a.daemon is not None and b.daemon is not None
    a.daemon.wait_for(is_type("peer-online", b.id), timeout=timeout)
    b.daemon.wait_for(is_type("peer-online", a.id), timeout=timeout)


def doctor(host: Host) -> str:
    """What ``chatty doctor`` prints, its lines joined: the wrapping of a long sentence
    is not what is checked."""
    result = host.chatty("doctor", "--listen", "3", timeout=60)
    assert "Chatty doctor" in result.stdout, result.stdout + result.stderr
    return " ".join(result.stdout.split())


def restart(host: Host) -> int:
    """Stop the host's daemon and start it again as a user would, with no ``--port``;
    returns the port it listens on now."""
    assert host.daemon is not None
    host.daemon.stop()
    return int(host.start().info["port"])


def test_added_by_address_across_the_router_they_meet_again_after_both_restart(lab: Lab) -> None:
    _, a, b = routed(lab)
    a.start(), b.start()
    port = b.daemon.info["port"]  # type: ignore[union-attr]
    added = a.chatty("add", f"{b.ipv4}:{port}")
    assert added.returncode == 0, added.stdout + added.stderr
    online_both(a, b)

    b.daemon.stop()  # type: ignore[union-attr]
    restart(a)  # alpha first: its first dials find nobody and must be tried again
    assert restart(b) == port
    online_both(a, b, timeout=60)
    say_and_check(a, b, "found you again across the router")
    say_and_check(b, a, "and back, with nothing typed")


def test_an_mdns_reflector_on_the_router_lets_them_find_each_other(lab: Lab) -> None:
    """Avahi's enable-reflector=yes on the router: discovery works as on one network.
    Without it again, after a restart neither side finds the other, and the doctor
    says why and how, with the address that answers; the fix it names is the fix."""
    router, a, b = routed(lab)
    reflector = Reflector(router)
    try:
        a.start(), b.start()
        a.daemon.wait_for(is_type("peer-discovered", b.id), timeout=20)  # type: ignore[union-attr]
        b.daemon.wait_for(is_type("peer-discovered", a.id), timeout=20)  # type: ignore[union-attr]
        online_both(a, b)
        say_and_check(a, b, "found through the reflector")
    finally:
        reflector.stop()
    b.daemon.stop()  # type: ignore[union-attr]
    restart(a)
    port = restart(b)

    out = doctor(a)
    assert "No other Chatty answered mDNS" in out, out
    assert (
        f"{b.name} ({b.id[:8]}) is on another network, behind a router: mDNS cannot find it" in out
    )
    assert f"remembers it at {b.ipv4}:{port}" in out
    assert f"198.18.{lab.number}.0/24" in out  # alpha's own network, named beside it
    assert f"Its address {b.ipv4}:{port} answers" in out
    assert f"fix: add it by address: chatty add {b.ipv4}:{port}" in out, out
    assert "enable-reflector=yes" in out and "chatty dns-sd DOMAIN --tsig-key FILE" in out

    added = a.chatty("add", f"{b.ipv4}:{port}")
    assert added.returncode == 0, added.stdout + added.stderr
    online_both(a, b)


def test_the_doctor_names_the_router_between_them(lab: Lab) -> None:
    """No reflector: alpha added bravo by address. Connected, the doctor says what
    carries the session; with bravo's Chatty stopped, that the remembered address does
    not answer, and the fixes; either way that mDNS cannot cross the router."""
    _, a, b = routed(lab)
    b.start(), a.start()
    port = b.daemon.info["port"]  # type: ignore[union-attr]
    assert a.chatty("add", f"{b.ipv4}:{port}").returncode == 0
    online_both(a, b)
    gateway = f"198.18.{lab.number}.{ROUTER}"

    connected = doctor(a)
    assert (
        f"ok {b.name} ({b.id[:8]}) is on another network, connected through a router "
        f"at {b.ipv4}:{port}"
    ) in connected, connected
    assert "mDNS does not cross routers" in connected
    assert f"through a router ({gateway})" in connected  # mDNS heard nobody: the router named
    assert "Connected now to: bravo" in connected

    b.daemon.stop()  # type: ignore[union-attr]
    a.daemon.wait_for(is_type("peer-offline", b.id), timeout=20)  # type: ignore[union-attr]
    out = doctor(a)
    assert (
        f"{b.name} ({b.id[:8]}) is on another network, behind a router, and does not answer" in out
    )
    assert f"remembers it at {b.ipv4}:{port}, outside this machine's networks" in out
    assert "so a router stands between them" in out
    assert "routers do not pass it on" in out
    assert f"A connection to {b.ipv4}:{port} is refused: nothing listens there" in out
    assert "chatty add HOST:PORT" in out and "enable-reflector=yes" in out
    assert "chatty dns-sd DOMAIN" in out
    assert f"through a router ({gateway})" in out
