"""Trust across real hosts: pairing codes, a man in the middle, a clone, consent.

Daemons in network namespaces, driven by the ``chatty`` command as a user
would; the attackers are small programs (``tests.support.mitm``, ``tests.support.impostor``)
built from Chatty's own parts but with keys of their own.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from tests.support.lab import is_type, two_hosts_online
from tests.support.netlab import Host, Lab

pytestmark = pytest.mark.netlab


def first_json(proc: subprocess.Popen[str], kind: str, timeout: float = 20) -> dict[str, Any]:
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    for line in proc.stdout:
        event = json.loads(line)
        if event["type"] == kind:
            return dict(event)
        assert time.monotonic() < deadline, f"no {kind} from {proc.args}"
    raise AssertionError(f"{proc.args} ended without {kind}")


def pairing(kind: str, peer_id: str):  # type: ignore[no-untyped-def]
    return lambda e: (
        e["type"] == "pairing"
        and e["pairing"]["peer_id"] == peer_id
        and e["pairing"]["state"] == kind
    )


def trust_of(host: Host, peer_id: str) -> str:
    peers = json.loads(host.chatty("peers", "--json").stdout)
    return str(next(p["trust"] for p in peers if p["id"] == peer_id))


def test_pairing_codes_match_and_both_sides_trust(lab: Lab) -> None:
    a, b = two_hosts_online(lab)
    assert trust_of(a, b.id) == trust_of(b, a.id) == "unverified"
    started = a.chatty("pair", "bravo", "--json")
    assert started.returncode == 0, started.stderr
    code = json.loads(started.stdout)["code"]
    asked = b.daemon.wait_for(pairing("compare", a.id), timeout=5)
    assert asked["pairing"]["code"] == code  # the same six digits on both screens
    # Each user types the code they read on the other screen.
    b_yes = b.spawn("pair", "alpha", "--code", code.replace(" ", ""))
    a_yes = a.chatty("pair", "bravo", "--code", code)
    assert a_yes.returncode == 0 and "Paired" in a_yes.stdout, a_yes.stdout + a_yes.stderr
    out, err = b_yes.communicate(timeout=20)
    assert b_yes.returncode == 0 and "Paired" in out, out + err
    assert trust_of(a, b.id) == trust_of(b, a.id) == "trusted"


def test_a_man_in_the_middle_shows_different_codes(lab: Lab) -> None:
    a, b = lab.host("alpha"), lab.host("bravo")
    m = lab.host("mallory")
    a.start("--no-discovery")  # alpha finds "bravo" only through mallory
    b.start("--no-discovery")
    bravo_port = b.daemon.info["port"]  # type: ignore[union-attr]
    mitm = m.python("tests.support.mitm", "7000", f"{b.ipv4}:{bravo_port}", "bravo", "alpha")
    try:
        m_id = first_json(mitm, "ready")["id"]
        added = a.chatty("add", f"{m.ipv4}:7000")
        assert added.returncode == 0, added.stderr
        assert first_json(mitm, "relaying")
        started = a.chatty("pair", m_id[:12], "--json")
        assert started.returncode == 0, started.stderr
        alpha_code = json.loads(started.stdout)["code"]
        asked = b.daemon.wait_for(pairing("compare", m_id), timeout=5)  # type: ignore[union-attr]
        bravo_code = asked["pairing"]["code"]
        assert asked["pairing"]["peer_name"] == "alpha"  # it looks like alpha to bravo
        assert alpha_code != bravo_code
        # The user on alpha types what bravo's screen shows: refused, on both sides.
        typed = a.chatty("pair", m_id[:12], "--code", bravo_code)
        assert typed.returncode == 1 and "someone may be in between" in typed.stderr
        failed = b.daemon.wait_for(pairing("failed", m_id), timeout=5)  # type: ignore[union-attr]
        assert "the codes differ" in failed["pairing"]["error"]
        assert trust_of(a, m_id) == trust_of(b, m_id) == "unverified"
    finally:
        mitm.kill()


def test_a_clone_of_a_trusted_peer_is_refused_both_ways(lab: Lab) -> None:
    a, b = two_hosts_online(lab)
    for host, other in ((a, b), (b, a)):
        vouched = host.chatty("pair", other.name, "--fingerprint", other.id)
        assert vouched.returncode == 0, vouched.stderr
    c = lab.host("charlie")
    b_port = b.daemon.info["port"]  # type: ignore[union-attr]
    clone = c.python("tests.support.impostor", a.id, "alpha", "7000", f"{b.ipv4}:{b_port}")
    try:
        first_json(clone, "ready")
        dials = [first_json(clone, "dial"), first_json(clone, "dial")]
        claims = {d["claim"]: d["ended"] for d in dials}
        assert "HELLO id does not match" in claims["stolen-id"], claims
        assert "differs from the one paired under your name" in claims["own-id"], claims
        warned = b.daemon.wait_for(  # type: ignore[union-attr]
            lambda e: e["type"] == "warning" and "KEY CHANGED" in e["text"], timeout=5
        )
        assert "alpha" in warned["text"]
        # The real alpha leaves; bravo now dials the only advertised alpha: the clone.
        mark = b.daemon.mark()  # type: ignore[union-attr]
        a.daemon.stop()  # type: ignore[union-attr]
        spoof = b.daemon.wait_for(  # type: ignore[union-attr]
            lambda e: e["type"] == "warning" and "IMPOSTOR" in e["text"], timeout=15, since=mark
        )
        # Named by whichever of the clone's addresses was dialled (IPv6 goes first).
        assert f"{c.ipv4}:" in spoof["text"] or f"[{c.ipv6}]:" in spoof["text"], spoof["text"]
        said = b.chatty("say", "alpha", "for the real alpha only", "--wait", "1")
        assert said.stdout.startswith("queued for"), said.stdout + said.stderr
        assert trust_of(b, a.id) == "trusted"
        # The real alpha is back: the message goes to it, never to the clone.
        mark = b.daemon.mark()  # type: ignore[union-attr]
        a.start()
        b.daemon.wait_for(  # type: ignore[union-attr]
            lambda e: e["type"] == "message-status" and e["message"]["status"] == "delivered",
            timeout=15,
            since=mark,
        )
        history = json.loads(a.chatty("history", "bravo", "--json").stdout)
        assert [m["body"] for m in history if not m["outgoing"]] == ["for the real alpha only"]
    finally:
        clone.kill()


def test_an_unverified_peers_offer_waits_for_consent(lab: Lab, tmp_path: Path) -> None:
    downloads = tmp_path / "downloads"
    a, b = lab.host("alpha"), lab.host("bravo")
    a.start()
    b.start("--download-dir", str(downloads), "--accept-from", "*")  # "*": trusted peers only
    a.daemon.wait_for(is_type("peer-online", b.id), timeout=5)  # type: ignore[union-attr]
    note = tmp_path / "note.txt"
    note.write_text("hello from alpha\n")
    send = a.spawn("send", "bravo", str(note))
    offered = b.daemon.wait_for(is_type("transfer-offered"), timeout=10)  # type: ignore[union-attr]
    assert offered["transfer"]["peer_name"] == "alpha"
    time.sleep(2)
    assert not downloads.exists() or not any(downloads.iterdir())  # nothing without a yes
    declined = b.chatty("decline", offered["transfer"]["id"][:8])
    assert declined.returncode == 0, declined.stderr
    out, _ = send.communicate(timeout=20)
    assert send.returncode == 1 and "declined" in out
    assert not downloads.exists() or not any(downloads.iterdir())
    # Once bravo's user has checked alpha's fingerprint, "*" lets its files in unasked.
    assert b.chatty("pair", "alpha", "--fingerprint", a.id[:16]).returncode == 0
    again = a.chatty("send", "bravo", str(note))
    assert again.returncode == 0, again.stdout + again.stderr
    assert (downloads / "note.txt").read_text() == "hello from alpha\n"
