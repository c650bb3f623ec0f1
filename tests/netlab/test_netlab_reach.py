"""Reach: a multi-homed host, an IPv6-only host, and a transfer that changes networks.

Each case is what users of LAN tools report as "it can't find my other machine"
or "it picked the wrong network", rebuilt with namespaces, veth cables and
bridges, and checked the way the user would: is the peer in the list, does the
message arrive, is the file's hash right.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from tests.support.lab import is_type, say_and_check
from tests.support.labfiles import big_file, progress_over, transfer_state
from tests.support.netlab import Host, Lab, ip, sha256

pytestmark = pytest.mark.netlab


def peer_row(host: Host, name: str) -> dict[str, object]:
    listed = host.chatty("peers", "--json")
    assert listed.returncode == 0, listed.stderr
    rows = {p["name"]: p for p in json.loads(listed.stdout)}
    assert name in rows, f"{host.name} does not list {name}: {rows}"
    return rows[name]


def test_multi_homed_host_is_found_and_reached_on_the_shared_network(lab: Lab) -> None:
    """alpha is on the shared LAN and on a second network bravo cannot reach (its
    route there leads to a gateway that is not there, so connects hang rather than
    fail at once), and has a Docker-style bridge. bravo still finds and reaches it,
    and is never told the container or loopback addresses."""
    lab.bridge("br1")
    a, b = lab.host("alpha"), lab.host("bravo")
    other_v4 = f"198.19.{lab.number}.1"
    a.plug("eth1", "br1", other_v4, f"fd63:6861:7475:{lab.number:x}::1")
    ip("link", "add", "docker0", "type", "bridge", ns=a.ns)
    ip("addr", "add", "172.17.0.1/16", "dev", "docker0", ns=a.ns)
    ip("link", "set", "docker0", "up", ns=a.ns)
    ip("route", "add", f"198.19.{lab.number}.0/24", "via", f"198.18.{lab.number}.250", ns=b.ns)
    a.start()
    b.start()
    assert b.daemon is not None
    b.daemon.wait_for(is_type("peer-online", a.id), timeout=15)

    # The session may come up (alpha dialling bravo) before bravo has resolved all of
    # alpha's records: the list converges on every announced address.
    deadline = time.monotonic() + 10
    while True:
        addresses = [str(x) for x in peer_row(b, "alpha")["addresses"]]  # type: ignore[union-attr]
        both = [any(x.startswith(f"{v4}:") for x in addresses) for v4 in (a.ipv4, other_v4)]
        if all(both) or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert all(both), addresses
    assert not any(x.startswith(("172.17.", "127.", "[::1]")) for x in addresses), addresses
    say_and_check(b, a, "found you on the right network")
    say_and_check(a, b, "and back")


def test_ipv6_only_host_is_found_and_connected(lab: Lab) -> None:
    six, dual = lab.host("charlie", ipv4=False), lab.host("bravo")
    six.start()
    dual.start()
    assert dual.daemon is not None and six.daemon is not None
    dual.daemon.wait_for(is_type("peer-online", six.id), timeout=15)
    six.daemon.wait_for(is_type("peer-online", dual.id), timeout=15)
    addresses = [str(x) for x in peer_row(dual, "charlie")["addresses"]]  # type: ignore[union-attr]
    assert addresses and all(x.startswith("[") for x in addresses), addresses
    assert any(x.startswith(f"[{six.ipv6}]") for x in addresses), addresses
    say_and_check(dual, six, "hello over IPv6 only")
    say_and_check(six, dual, "hello back")


@pytest.mark.slow
@pytest.mark.parametrize(
    ("mover", "how"), [("sender", "new card"), ("receiver", "new card"), ("sender", "new lease")]
)
def test_transfer_moves_to_a_new_interface_and_finishes_verified(
    lab: Lab, tmp_path: Path, mover: str, how: str
) -> None:
    """Mid-transfer one side's network changes under it: its only cable is pulled out
    (interface and addresses vanish) and another interface comes up with new
    addresses, like Wi-Fi giving way to Ethernet; or its interface stays and its
    addresses are replaced, like a new DHCP lease. The transfer goes on by itself
    over the new path; nothing is typed."""
    downloads = tmp_path / "downloads"
    a, b = lab.host("alpha"), lab.host("bravo")
    a.start()
    b.start("--download-dir", str(downloads), "--accept-from", "alpha")
    assert a.daemon is not None and b.daemon is not None
    a.daemon.wait_for(is_type("peer-online", b.id), timeout=15)
    assert b.chatty("pair", "alpha", "--fingerprint", a.id).returncode == 0
    a.shape(80)
    source = big_file(tmp_path / "film.bin", 60 * 1000 * 1000)  # about 6 s at 80 Mbit/s

    send = a.spawn("send", "bravo", str(source))
    b.daemon.wait_for(progress_over(10_000_000), timeout=30)
    moved = a if mover == "sender" else b
    new_v4 = f"198.18.{lab.number}.{100 + moved.index}"
    new_v6 = f"fd63:6861:7474:{lab.number:x}::{100 + moved.index:x}"
    if how == "new card":
        moved.unplug("eth0")
        moved.plug("eth1", "br0", new_v4, new_v6)
        if moved is a:
            a.shape(80, "eth1")
    else:
        ip("addr", "add", f"{new_v4}/24", "dev", "eth0", ns=moved.ns)
        ip("addr", "add", f"{new_v6}/64", "dev", "eth0", "nodad", ns=moved.ns)
        ip("addr", "del", f"{moved.ipv4}/24", "dev", "eth0", ns=moved.ns)
        ip("addr", "del", f"{moved.ipv6}/64", "dev", "eth0", ns=moved.ns)

    done = b.daemon.wait_for(transfer_state("done"), timeout=90)
    out, err = send.communicate(timeout=30)
    assert send.returncode == 0, out + err
    assert "verified" in out
    landed = downloads / "film.bin"
    assert sha256(landed) == sha256(source)
    assert done["transfer"]["done_bytes"] == source.stat().st_size
    # It was the move that was noticed, not a stall that timed out: the mover saw its
    # network change, the receiver's interruption is not the silent-link timeout, and
    # the transfer went on from where it was rather than from the start.
    assert "network changed" in (lab.root / f"{moved.name}.log").read_text()
    breaks = [e["transfer"] for e in b.daemon.events if transfer_state("interrupted")(e)]
    assert breaks and not any("no data for" in t["error"] for t in breaks), breaks
    resumed = [e["transfer"]["resumed_from"] for e in b.daemon.events if e["type"] == "transfer"]
    assert max(resumed) > 10_000_000, resumed
