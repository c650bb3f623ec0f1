"""Wide-area DNS-SD against a real DNS server: BIND 9's ``named`` on loopback, primary
for ``sd.example``, taking updates signed with one TSIG key. Two registrations find
each other, follow a rename and see a goodbye; a wrong key, an unknown key, no key and
no server each fail with a reason to act on, and the node is never held up; records
forged into the zone are ignored. The routed lab (tests/netlab/test_netlab_widearea.py)
shows the same between two daemons on two subnets."""

from __future__ import annotations

import asyncio
import base64
import os
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import dns.asyncresolver
import dns.query
import dns.update
import pytest

from chatty_p2p.net import widearea
from chatty_p2p.net.discovery import Advert
from chatty_p2p.protocol import dnssd
from tests.support import bind
from tests.support.ports import free_port

ZONE = "sd.example"
ALPHA, BRAVO = "a1" * 32, "b2" * 32


@pytest.fixture
def server(tmp_path: Path) -> Iterator[bind.Named]:
    reason = bind.available()
    if reason is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI must run the DNS-SD tests, but: {reason}")
        pytest.skip(reason)
    named = bind.Named(
        tmp_path / "named", ZONE, bind.key_file(tmp_path / "server.key"), ["127.0.0.1"],
        port=free_port(),
    )  # fmt: skip
    yield named
    named.stop()


@pytest.fixture(autouse=True)
def quick_looks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(widearea, "BROWSE_EVERY", 0.2)


class Seen:
    """What one registration's callbacks heard."""

    def __init__(self) -> None:
        self.adverts: dict[str, Advert | None] = {}
        self.problems: list[str] = []

    def change(self, device_id: str, advert: Advert | None) -> None:
        self.adverts[device_id] = advert


def _resolver(port: int) -> dns.asyncresolver.Resolver:
    resolver = dns.asyncresolver.Resolver(configure=False)
    resolver.nameservers = ["127.0.0.1"]
    resolver.port = port
    return resolver


Make = Callable[..., tuple[widearea.WideArea, Seen]]


@pytest.fixture
async def make(server: bind.Named, tmp_path: Path) -> AsyncIterator[Make]:
    """Registrations in ``sd.example``, signed with the server's key unless told."""
    made: list[widearea.WideArea] = []
    good = dnssd.read_key((tmp_path / "server.key").read_text())

    def one(
        device_id: str, name: str, key: dnssd.TsigKey | None = good, port: int = 47000
    ) -> tuple[widearea.WideArea, Seen]:
        seen = Seen()
        area = widearea.WideArea(
            device_id, name, port, "laptop", seen.change, seen.problems.append,
            domains=[ZONE], key=key, interfaces=["lo"], resolver=_resolver(server.port),
        )  # fmt: skip
        area.start()
        made.append(area)
        return area, seen

    yield one
    for area in made:
        await area.stop()


async def until(check: Callable[[], object], seconds: float = 10) -> None:
    async with asyncio.timeout(seconds):
        while not check():
            await asyncio.sleep(0.02)


async def test_two_registrations_find_each_other_and_follow_a_rename_and_a_goodbye(
    make: Make, server: bind.Named
) -> None:
    alpha, a_seen = make(ALPHA, "alpha", port=47001)
    bravo, b_seen = make(BRAVO, "bravo", port=47002)
    await until(lambda: a_seen.adverts.get(BRAVO) and b_seen.adverts.get(ALPHA))
    found = a_seen.adverts[BRAVO]
    assert found is not None and (found.name, found.port, found.device) == (
        "bravo",
        47002,
        "laptop",
    )
    assert alpha.status[ZONE].state == "registered" and alpha.status[ZONE].server == "127.0.0.1"
    assert sorted(server.records("_chatty._tcp", "PTR")) == [
        f"chatty-{ALPHA[:16]}._chatty._tcp.{ZONE}.",
        f"chatty-{BRAVO[:16]}._chatty._tcp.{ZONE}.",
    ]
    bravo.rename("bravo, renamed")
    await until(lambda: (a := a_seen.adverts.get(BRAVO)) and a.name == "bravo, renamed")
    await bravo.stop()
    assert server.records("_chatty._tcp", "PTR") == [f"chatty-{ALPHA[:16]}._chatty._tcp.{ZONE}."]
    assert server.records(f"chatty-{BRAVO[:16]}._chatty._tcp", "SRV") == []
    await until(lambda: BRAVO in a_seen.adverts and a_seen.adverts[BRAVO] is None)
    assert not a_seen.problems and not b_seen.problems


@pytest.mark.parametrize(
    ("which", "said"),
    [
        ("wrong secret", "(BADSIG): the TSIG key's secret is not the one the server has"),
        ("unknown key", "does not know the TSIG key 'laptop' (BADKEY)"),
        ("no key", "refused the update (REFUSED): it may want it signed (--tsig-key FILE)"),
    ],
)
async def test_an_update_the_server_refuses_says_why_and_registers_nothing(
    make: Make, server: bind.Named, which: str, said: str
) -> None:
    other = base64.b64encode(os.urandom(32)).decode()
    key = {
        "wrong secret": dnssd.TsigKey(bind.KEY_NAME, "hmac-sha256", other),
        "unknown key": dnssd.TsigKey("laptop", "hmac-sha256", other),
        "no key": None,
    }[which]
    area, seen = make(ALPHA, "alpha", key=key)
    await until(lambda: seen.problems)
    assert len(seen.problems) == 1
    assert seen.problems[0].startswith(f"the DNS server for {ZONE} (127.0.0.1) ")
    assert said in seen.problems[0]
    assert area.status[ZONE].state == "failed" and area.status[ZONE].reason == seen.problems[0]
    assert server.records("_chatty._tcp", "PTR") == []


async def test_no_server_is_a_reason_and_holds_nothing_up(tmp_path: Path) -> None:
    seen = Seen()
    area = widearea.WideArea(
        ALPHA, "alpha", 47000, "laptop", seen.change, seen.problems.append,
        domains=[ZONE], key=None, interfaces=["lo"], resolver=_resolver(free_port()),
    )  # fmt: skip
    area.start()  # returns at once: the lookups run behind
    try:
        await until(lambda: seen.problems, seconds=30)
    finally:
        await area.stop()
    assert seen.problems[0].startswith(f"no DNS server here answered where {ZONE} is within ")


async def test_records_forged_into_the_zone_are_ignored(
    make: Make, server: bind.Named, tmp_path: Path
) -> None:
    """An instance whose TXT names another device, one with no port, and a PTR to an
    instance elsewhere: none becomes a peer; the real one does."""
    key = dnssd.read_key((tmp_path / "server.key").read_text())
    forged = dns.update.UpdateMessage(ZONE, keyring=key.keyring(), keyname=key.name)
    service = f"_chatty._tcp.{ZONE}."
    for label, txt, port in (
        (f"chatty-{'cc' * 8}", f'"id={ALPHA}" "name=impostor"', 1),  # label is not its id's
        (f"chatty-{'dd' * 8}", f'"id={"dd" * 32}" "name=portless"', 0),
    ):
        forged.add(service, 60, "PTR", f"{label}.{service}")
        forged.add(f"{label}.{service}", 60, "SRV", f"0 0 {port} host.{ZONE}.")
        forged.add(f"{label}.{service}", 60, "TXT", txt)
    forged.add(service, 60, "PTR", f"chatty-{'ee' * 8}._chatty._tcp.elsewhere.example.")
    assert dns.query.tcp(forged, "127.0.0.1", port=server.port, timeout=3).rcode() == 0
    _, seen = make(BRAVO, "bravo")
    make(ALPHA, "alpha")
    await until(lambda: seen.adverts.get(ALPHA))
    await asyncio.sleep(3 * widearea.BROWSE_EVERY)  # more looks: still only the real one
    assert list(seen.adverts) == [ALPHA]
    assert seen.adverts[ALPHA] is not None and seen.adverts[ALPHA].name == "alpha"


async def test_a_server_that_comes_later_is_registered_in_then(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No DNS server at start (it boots after this machine): the registration fails,
    is said, and goes through once the server is there, with nothing done."""
    reason = bind.available()
    if reason is not None:
        pytest.skip(reason)
    monkeypatch.setattr(widearea, "REGISTER_AGAIN", 0.5)
    port = free_port()
    key = bind.key_file(tmp_path / "server.key")
    seen = Seen()
    area = widearea.WideArea(
        ALPHA, "alpha", 47000, "laptop", seen.change, seen.problems.append,
        domains=[ZONE], key=dnssd.read_key(key.read_text()), interfaces=["lo"],
        resolver=_resolver(port),
    )  # fmt: skip
    area.start()
    named = None
    try:
        await until(lambda: seen.problems, seconds=30)
        assert area.status[ZONE].state == "failed"
        named = bind.Named(tmp_path / "named", ZONE, key, ["127.0.0.1"], port=port)
        await until(lambda: area.status[ZONE].state == "registered", seconds=30)
        assert named.records("_chatty._tcp", "PTR") == [f"chatty-{ALPHA[:16]}._chatty._tcp.{ZONE}."]
    finally:
        await area.stop()
        if named is not None:
            named.stop()
