"""Real daemons in network namespaces: discovery, presence, messages, pinning.

Each host runs ``chatty daemon --json`` with its own data dir and host name;
mDNS multicast crosses only the lab's own bridge.
"""

from __future__ import annotations

import json
import shutil
import signal
import time

import pytest

from tests.support.lab import is_type, two_hosts_online
from tests.support.netlab import Lab

pytestmark = pytest.mark.netlab


def test_three_hosts_find_each_other_within_two_seconds(lab: Lab) -> None:
    hosts = [lab.host(n) for n in ("alpha", "bravo", "charlie")]
    for h in hosts:
        h.start()
    for h in hosts:
        for other in hosts:
            if other is not h:
                event = h.daemon.wait_for(is_type("peer-discovered", other.id), timeout=2.0)
                assert event["peer"]["name"] == other.name  # the host name is the default name
                h.daemon.wait_for(is_type("peer-online", other.id), timeout=5)
    listing = hosts[0].chatty("peers", "--json")
    assert listing.returncode == 0, listing.stderr
    rows = {p["name"]: p for p in json.loads(listing.stdout)}
    assert set(rows) == {"bravo", "charlie"}  # never itself
    assert all(p["state"] == "online" for p in rows.values())
    # Advertised on both families: an IPv4 and an IPv6 address of bravo's interface.
    assert any(a.startswith(hosts[1].ipv4) for a in rows["bravo"]["addresses"])
    assert any(a.startswith(f"[{hosts[1].ipv6}]") for a in rows["bravo"]["addresses"])


def test_graceful_quit_disappears_within_two_seconds(lab: Lab) -> None:
    a, b = two_hosts_online(lab)
    mark = a.daemon.mark()
    b.daemon.stop()
    a.daemon.wait_for(is_type("peer-lost", b.id), timeout=2.0, since=mark)
    listing = json.loads(a.chatty("peers", "--json").stdout)
    assert [p["state"] for p in listing if p["name"] == "bravo"] == ["offline"]


def test_killed_or_unplugged_host_goes_offline_within_ten_seconds(lab: Lab) -> None:
    a, b, c = lab.host("alpha"), lab.host("bravo"), lab.host("charlie")
    for h in (a, b, c):
        h.start()
    a.daemon.wait_for(is_type("peer-online", b.id), timeout=5)
    a.daemon.wait_for(is_type("peer-online", c.id), timeout=5)
    mark = a.daemon.mark()
    b.daemon.stop(signal.SIGKILL)  # no goodbye of any kind
    c.link(up=False)  # no FIN either: only the liveness probe can tell
    a.daemon.wait_for(is_type("peer-offline", b.id), timeout=10, since=mark)
    gone = a.daemon.wait_for(is_type("peer-offline", c.id), timeout=10, since=mark)
    assert "no answer" in gone["text"]
    # mDNS still lists both (records are cached for many minutes), yet they show offline.
    listing = {p["name"]: p for p in json.loads(a.chatty("peers", "--json").stdout)}
    assert not listing["bravo"]["online"] and not listing["charlie"]["online"]


def test_text_and_link_both_ways_with_receipts(lab: Lab) -> None:
    a, b = two_hosts_online(lab)
    said = a.chatty("say", "bravo", "hello", "bravo,", "see", "https://example.org/a")
    assert said.returncode == 0, said.stderr
    assert "delivered to bravo" in said.stdout
    got = b.daemon.wait_for(is_type("message", a.id), timeout=5)
    assert got["message"]["body"] == "hello bravo, see https://example.org/a"
    assert got["message"]["kind"] == "text"

    linked = b.chatty("link", a.id[:10], "https://example.org/b?q=1")
    assert linked.returncode == 0 and "delivered" in linked.stdout, linked.stderr
    got = a.daemon.wait_for(lambda e: e["type"] == "message" and not e["message"]["outgoing"], 5)
    assert (got["message"]["kind"], got["message"]["body"]) == ("link", "https://example.org/b?q=1")

    history = json.loads(a.chatty("history", "bravo", "--json").stdout)
    assert [(m["outgoing"], m["body"], m["status"]) for m in history] == [
        (True, "hello bravo, see https://example.org/a", "delivered"),
        (False, "https://example.org/b?q=1", "received"),
    ]


def test_message_to_offline_peer_arrives_once_when_it_is_back(lab: Lab) -> None:
    a, b = two_hosts_online(lab)
    b_id = b.id
    b.daemon.stop()
    a.daemon.wait_for(is_type("peer-lost", b_id), timeout=5)
    for text in ("first while away", "second while away"):
        queued = a.chatty("say", "bravo", text, "--wait", "0.5")
        assert queued.returncode == 0, queued.stderr
        assert "queued" in queued.stdout
    b.start()
    first = b.daemon.wait_for(lambda e: e["type"] == "message", timeout=10)
    assert first["message"]["body"] == "first while away"
    a.daemon.wait_for(
        lambda e: (
            e["type"] == "message-status"
            and e["message"]["status"] == "delivered"
            and e["message"]["body"] == "second while away"
        ),
        timeout=10,
    )
    # A reconnect must not deliver them again.
    mark = a.daemon.mark()
    b.daemon.stop()
    b.start()
    a.daemon.wait_for(is_type("peer-online", b_id), timeout=10, since=mark)
    time.sleep(1)
    bodies = [m["body"] for m in json.loads(b.chatty("history", "alpha", "--json").stdout)]
    assert bodies == ["first while away", "second while away"]


def test_new_key_under_a_trusted_name_is_refused_until_paired_again(lab: Lab) -> None:
    a, b = two_hosts_online(lab)
    assert a.chatty("pair", "bravo", "--fingerprint", b.id).returncode == 0
    old_id = b.id
    b.daemon.stop()
    shutil.rmtree(b.data_dir)  # the "same" machine comes back with a different key
    mark = a.daemon.mark()
    b.start()
    warning = a.daemon.wait_for(is_type("warning"), timeout=5, since=mark)
    assert "KEY CHANGED" in warning["text"] and old_id[:8] in warning["text"]
    time.sleep(2)
    assert not any(
        e["type"] == "peer-online" and e["peer"]["id"] == b.id for e in a.daemon.events[mark:]
    )
    said = a.chatty("say", b.id[:12], "are you really bravo?", "--wait", "1")
    assert said.stdout.startswith("queued for"), said.stdout + said.stderr
    assert not any(e["type"] == "message" for e in b.daemon.events)
    refused = b.daemon.wait_for(is_type("warning"), timeout=5)
    assert "key-changed" in refused["text"]
    # The user checks the device's new fingerprint and pairs with it again.
    repaired = a.chatty("pair", b.id[:12], "--fingerprint", b.id)
    assert repaired.returncode == 0, repaired.stderr
    a.daemon.wait_for(is_type("peer-online", b.id), timeout=10, since=mark)
    peers = {p["id"]: p for p in json.loads(a.chatty("peers", "--json").stdout)}
    assert peers[b.id]["trust"] == "trusted" and peers[old_id]["trust"] == "unverified"


def test_rename_reaches_peers_over_mdns_and_session(lab: Lab) -> None:
    a, b = lab.host("alpha"), lab.host("bravo")
    a.start(), b.start()
    b.daemon.wait_for(is_type("peer-online", a.id), timeout=5)
    renamed = a.chatty("name", "alpha laptop")
    assert renamed.returncode == 0, renamed.stderr
    event = b.daemon.wait_for(is_type("peer-updated", a.id), timeout=5)
    assert event["peer"]["name"] == "alpha laptop"
    assert json.loads(a.chatty("id", "--json").stdout)["name"] == "alpha laptop"
