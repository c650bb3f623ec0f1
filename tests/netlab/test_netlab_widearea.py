"""Wide-area DNS-SD across a router: alpha on one subnet, bravo on another, mDNS unable
to cross; BIND 9's ``named`` on the router is the DNS server of both, primary for
``sd.example`` and taking updates signed with a TSIG key. Each host has its own
resolv.conf (``Host.resolver``), as a DHCP server would have given it."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import bind
from tests.support.lab import is_type
from tests.support.netlab import ROUTED_IPV4_NET, ROUTER, Host, Lab

pytestmark = pytest.mark.netlab

ZONE = "sd.example"


@pytest.fixture
def routed(lab: Lab, tmp_path: Path) -> Iterator[tuple[Host, Host, Path]]:
    """alpha (network 0) and bravo (network 1) with the router as their DNS server,
    alpha's resolver searching ``sd.example``; and the key file the server takes."""
    reason = bind.available()
    if reason is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI must run the DNS-SD tests, but: {reason}")
        pytest.skip(reason)
    router = lab.router()
    assert router.ipv4 is not None
    near, far = router.ipv4, ROUTED_IPV4_NET.format(lab=lab.number, host=ROUTER)
    key = bind.key_file(tmp_path / "chatty.key")
    key.chmod(0o644)  # named and the daemons read it
    named = bind.Named(tmp_path / "named", ZONE, key, [near, far], ns_address=near, netns=router.ns)
    alpha, bravo = lab.host("alpha"), lab.host("bravo", network=1)
    alpha.resolver(near, search=ZONE)
    bravo.resolver(far)
    try:
        yield alpha, bravo, key
    finally:
        named.stop()


def test_two_subnets_find_each_other_in_a_dns_sd_domain(routed: tuple[Host, Host, Path]) -> None:
    """Both register with the key; each finds the other with nothing typed, and a message
    goes across the router."""
    alpha, bravo, key = routed
    alpha.start("--dns-sd-domain", ZONE, "--tsig-key", str(key))
    bravo.start("--dns-sd-domain", ZONE, "--tsig-key", str(key))
    assert alpha.daemon is not None and bravo.daemon is not None
    alpha.daemon.wait_for(is_type("peer-online", bravo.id), timeout=40)
    bravo.daemon.wait_for(is_type("peer-online", alpha.id), timeout=40)
    said = alpha.chatty("say", "bravo", "across the router")
    assert said.returncode == 0 and "delivered to bravo" in said.stdout, said.stdout + said.stderr
    doctor = bravo.chatty("doctor", "--listen", "1", timeout=40).stdout
    assert f"Registered in the DNS-SD domain {ZONE}" in doctor, doctor


def test_a_search_domain_is_browsed_with_nothing_configured(
    routed: tuple[Host, Host, Path],
) -> None:
    """bravo registers in the domain; alpha is given no option at all: its resolver's
    search domain names ``sd.example`` as a browse domain (``b._dns-sd._udp``), so it
    finds bravo there and dials it."""
    alpha, bravo, key = routed
    bravo.start("--dns-sd-domain", ZONE, "--tsig-key", str(key))
    alpha.start()
    assert alpha.daemon is not None and bravo.daemon is not None
    alpha.daemon.wait_for(is_type("peer-discovered", bravo.id), timeout=40)
    bravo.daemon.wait_for(is_type("peer-online", alpha.id), timeout=40)


def test_a_wrong_key_is_refused_in_words_and_the_doctor_repeats_them(
    routed: tuple[Host, Host, Path], tmp_path: Path
) -> None:
    _, bravo, _ = routed
    wrong = bind.key_file(tmp_path / "wrong.key")  # the right name, another secret
    wrong.chmod(0o644)
    bravo.start("--dns-sd-domain", ZONE, "--tsig-key", str(wrong))
    assert bravo.daemon is not None
    warning = bravo.daemon.wait_for(lambda e: e["type"] == "warning", timeout=30)
    assert "refused the update's signature (BADSIG)" in warning["text"], warning
    assert f"the DNS server for {ZONE}" in warning["text"]
    doctor = bravo.chatty("doctor", "--listen", "1", timeout=40).stdout
    assert f"Not registered in the DNS-SD domain {ZONE}" in doctor, doctor
    assert "BADSIG" in doctor


def test_a_domain_set_while_running_is_used_at_once_and_kept(
    routed: tuple[Host, Host, Path],
) -> None:
    """``chatty dns-sd DOMAIN --tsig-key FILE`` on a running daemon (the window's Settings
    does the same): registered at once, said so, and the peer across the router found;
    after a restart with no option it registers again; ``off`` stops it."""
    alpha, bravo, key = routed
    alpha.start("--dns-sd-domain", ZONE, "--tsig-key", str(key))
    bravo.start()  # no option, and its resolver searches no domain: only mDNS
    assert alpha.daemon is not None and bravo.daemon is not None
    set_now = bravo.chatty("dns-sd", ZONE, "--tsig-key", str(key))
    assert set_now.returncode == 0, set_now.stdout + set_now.stderr
    assert f"{ZONE}: registered at " in set_now.stdout
    bravo.daemon.wait_for(is_type("peer-online", alpha.id), timeout=40)

    bravo.daemon.stop()
    bravo.start()
    assert f"{ZONE}: registered at " in _settled(bravo)
    off = bravo.chatty("dns-sd", "off")
    assert off.returncode == 0 and "Wide-area DNS-SD is off" in off.stdout, off.stdout


def _settled(host: Host) -> str:
    """What ``chatty dns-sd`` says once its domain's server has answered."""
    deadline = time.monotonic() + 20
    while True:
        said = host.chatty("dns-sd").stdout
        if "registering" not in said or time.monotonic() > deadline:
            return said
        time.sleep(0.3)
