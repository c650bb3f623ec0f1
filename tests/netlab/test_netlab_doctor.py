"""``chatty doctor`` against real breakage: routes, firewalls and an isolating switch.

Each fault is made for real inside the lab's namespaces (routes and sysctls of a
host, nftables in a host, a bridge filter in the switch), never in the machine's
own namespace, and the test reads what the doctor prints, as a user would.
"""

from __future__ import annotations

import re
import subprocess

import pytest

from tests.support.netlab import Host, Lab, ip

pytestmark = pytest.mark.netlab


def doctor(host: Host) -> subprocess.CompletedProcess[str]:
    return host.chatty("doctor", "--listen", "3", timeout=40)


def nft(ns: str, script: str) -> None:
    subprocess.run(
        ["ip", "netns", "exec", ns, "nft", "-f", "-"],
        input=script,
        check=True,
        capture_output=True,
        text=True,
    )


def label(host: Host) -> str:
    return f"{host.name} ({host.id[:8]})"


def test_no_route_back_with_reverse_path_filtering_hides_peers(lab: Lab) -> None:
    """Found by experiment: deleting the routes alone does not stop mDNS (zeroconf picks
    the interface itself, and veth ignores the MULTICAST flag), but with reverse-path
    filtering on, as systemd distributions set it, the peers' answers are dropped."""
    a, b = lab.host("alpha"), lab.host("bravo")
    b.start()  # its announcements are sent before "ready": alpha's doctor cannot catch them
    a.exec_sysctl("net.ipv4.conf.all.rp_filter=2")
    ip("route", "flush", "dev", "eth0", ns=a.ns)
    ip("-6", "route", "flush", "dev", "eth0", ns=a.ns)
    ip("-6", "route", "del", "multicast", "ff00::/8", "dev", "eth0", "table", "local", ns=a.ns)

    result = doctor(a)
    out = result.stdout
    assert result.returncode == 1, out + result.stderr
    assert "PROBLEM  No multicast route, and no route to the local network on eth0" in out
    assert "rp_filter=2" in out and "mDNS answers never arrive" in out
    assert f"ip route add 198.18.{lab.number}.0/24 dev eth0" in out
    assert "No IPv6 multicast route on eth0" in out  # ff02::fb cannot leave: Network unreachable
    assert "No other Chatty answered mDNS" in out and "because of the problem named above" in out
    assert "bravo" not in out  # a real peer on the bridge, and it is not found
    assert "Chatty is not running here" in out  # no daemon on alpha: only mDNS is checked

    # The fix it names is the fix: with the route back, bravo is found and reachable.
    ip("route", "add", f"198.18.{lab.number}.0/24", "dev", "eth0", ns=a.ns)
    result = doctor(a)
    assert f"ok       {label(b)} is reachable at {b.ipv4}:" in result.stdout, result.stdout
    assert "No route to the local network" not in result.stdout
    assert result.returncode == 0, result.stdout  # IPv6 is still off: a warning, not a problem


def test_port_dropped_by_the_peers_own_nftables(lab: Lab) -> None:
    a, b = lab.host("alpha"), lab.host("bravo")
    b.start()
    port = b.daemon.info["port"]
    nft(
        b.ns,
        "table inet guard {\n"
        "  chain input {\n"
        "    type filter hook input priority filter; policy accept;\n"
        f"    tcp dport {port} drop\n"
        "  }\n"
        "}\n",
    )
    a.start()

    on_peer = doctor(b)  # asks the running daemon for its port over the control socket
    out = on_peer.stdout
    assert on_peer.returncode == 1, out + on_peer.stderr
    assert f"PROBLEM  The firewall here drops Chatty's port (TCP {port})" in out
    assert f'nftables table inet guard, chain input: "tcp dport {port} drop"' in out
    fix = re.search(r"fix: (nft delete rule inet guard input handle \d+)", out)
    assert fix is not None, out
    assert f"ok       {label(a)} is reachable" in out  # its own way out is open

    on_other = doctor(a)
    out = on_other.stdout
    assert on_other.returncode == 1, out
    assert f"PROBLEM  {label(b)} answers mDNS but its port {port} is unreachable from here" in out
    assert "a firewall on bravo drops them" in out
    assert "No firewall rule here blocks" in out  # alpha itself is fine
    assert f"{label(a)} answers" not in out  # its own daemon's record is not a peer

    subprocess.run(["ip", "netns", "exec", b.ns, *fix.group(1).split()], check=True)
    again = doctor(a)
    assert f"ok       {label(b)} is reachable" in again.stdout, again.stdout


def test_switch_isolating_devices_lets_mdns_through_but_not_tcp(lab: Lab) -> None:
    """Wi-Fi "AP/client isolation", played by the lab's switch: multicast passes, TCP
    between the ports does not; neither host has a firewall of its own."""
    a, b = lab.host("alpha"), lab.host("bravo")
    nft(
        lab.switch,
        "table bridge isolation {\n"
        "  chain forward {\n"
        "    type filter hook forward priority 0; policy accept;\n"
        "    ip protocol tcp drop\n"
        "    ip6 nexthdr tcp drop\n"
        "  }\n"
        "}\n",
    )
    a.start(), b.start()
    port = b.daemon.info["port"]

    result = doctor(a)
    out = result.stdout
    assert result.returncode == 1, out + result.stderr
    assert f"PROBLEM  {label(b)} answers mDNS but its port {port} is unreachable from here" in out
    assert "AP/client isolation" in out and "turn off AP/client isolation" in out
    assert "chatty add HOST:PORT" in out
    assert "There are no firewall rules here." in out

    # From bravo's side the same picture, and no local rule to blame: the network it is.
    result = doctor(b)
    assert f"{label(a)} answers mDNS but its port" in result.stdout, result.stdout
    assert "There are no firewall rules here." in result.stdout
