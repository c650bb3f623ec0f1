"""Wide-area DNS-SD's records, sans-IO: key files in, TSIG keys out; our record in, the
update's records out; a zone's answers in, what is kept out (capped, in its domain)."""

from __future__ import annotations

import base64

import dns.name
import dns.rdatatype
import dns.tsig
import pytest

from chatty_p2p.errors import ChattyError
from chatty_p2p.protocol import dnssd

SECRET = base64.b64encode(b"k" * 32).decode()
DOMAIN = dns.name.from_text("sd.example")

KEYGEN = f"""key "laptop-key" {{
\talgorithm hmac-sha256;
\tsecret "{SECRET}";
}};
"""


def test_a_key_file_as_tsig_keygen_writes_it() -> None:
    key = dnssd.read_key(KEYGEN)
    assert key == dnssd.TsigKey("laptop-key", "hmac-sha256", SECRET)
    assert dns.name.from_text("laptop-key") in key.keyring()


def test_the_algorithm_defaults_and_other_algorithms_are_read() -> None:
    assert dnssd.read_key(f'key k {{ secret "{SECRET}"; }};').algorithm == "hmac-sha256"
    text = f'key "k" {{ algorithm HMAC-SHA512; secret "{SECRET}"; }};'
    assert dnssd.read_key(text).algorithm == "hmac-sha512"


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("", "holds no key clause"),
        ("secret is hunter2", "holds no key clause"),
        ('key "k" { algorithm hmac-sha256; secret "not base64!"; };', "not base64"),
        ('key "k" { algorithm hmac-sha256; };', "not base64"),
        (f'key "k" {{ algorithm rot13; secret "{SECRET}"; }};', "unknown TSIG algorithm"),
    ],
)
def test_a_bad_key_file_says_what_is_wrong(text: str, said: str) -> None:
    with pytest.raises(ChattyError, match=said):
        dnssd.read_key(text, "key.conf")


def _record() -> dnssd.Record:
    txt = {"v": "4", "id": "ab" * 32, "name": 'Zoë "laptop"'}
    return dnssd.Record("chatty-abababababababab", 47000, txt, ("198.19.1.2", "fd00::2"))


def test_the_registration_holds_ptr_srv_txt_and_addresses_signed() -> None:
    key = dnssd.read_key(KEYGEN)
    update = dnssd.registration(_record(), DOMAIN, DOMAIN, key)
    added = {(str(r.name), dns.rdatatype.to_text(r.rdtype)): r for r in update.update if r.ttl}
    instance = "chatty-abababababababab._chatty._tcp.sd.example."
    assert (
        added[("_chatty._tcp.sd.example.", "PTR")][0].target.derelativize(DOMAIN).to_text()
        == instance
    )
    srv = added[(instance, "SRV")][0]
    assert (srv.port, srv.target.derelativize(DOMAIN).to_text()) == (
        47000,
        "chatty-abababababababab.sd.example.",
    )
    strings = added[(instance, "TXT")][0].strings
    assert 'name=Zoë "laptop"'.encode() in strings  # any text, as UTF-8 bytes
    assert str(added[("chatty-abababababababab.sd.example.", "A")][0]) == "198.19.1.2"
    assert str(added[("chatty-abababababababab.sd.example.", "AAAA")][0]) == "fd00::2"
    assert update.keyname == dns.name.from_text("laptop-key")
    update.to_wire()  # signs: the key is usable


def test_the_withdrawal_deletes_only_our_ptr() -> None:
    update = dnssd.withdrawal("chatty-abababababababab", DOMAIN, DOMAIN, None)
    ptr = [r for r in update.update if r.rdtype == dns.rdatatype.PTR]
    targets = [r[0].target.derelativize(DOMAIN).to_text() for r in ptr]
    assert targets == ["chatty-abababababababab._chatty._tcp.sd.example."]


def test_only_addresses_a_peer_elsewhere_can_use_are_registered() -> None:
    given = ["127.0.0.1", "fe80::1%eth0", "169.254.3.4", "198.19.1.2", "::1", "198.19.1.2"]
    assert dnssd.usable_addresses(given) == ("198.19.1.2",)


def test_txt_strings_read_like_mdns_properties() -> None:
    strings = [b"id=ab", b"ID=cd", b"flag", b"=novalue", b"name=a=b"]
    assert dnssd.txt_properties(strings) == {b"id": b"ab", b"flag": None, b"name": b"a=b"}
    many = [b"k%d=v" % i for i in range(1000)]
    assert len(dnssd.txt_properties(many)) == dnssd.MAX_TXT_STRINGS


def test_instances_are_read_in_the_domain_only_and_capped() -> None:
    service = dnssd.service_name(DOMAIN)
    ours = [dns.name.from_text(f"chatty-{i:016x}", service) for i in range(1000)]
    elsewhere = dns.name.from_text("chatty-0000000000000001._chatty._tcp.evil.example")
    nested = dns.name.from_text("a.b._chatty._tcp.sd.example")
    labels = dnssd.instance_labels([elsewhere, nested, *ours], DOMAIN)
    assert len(labels) == dnssd.MAX_INSTANCES
    assert labels[0] == "chatty-0000000000000000"


def test_browse_domains_are_capped_and_never_the_root() -> None:
    names = [dns.name.root] + [dns.name.from_text(f"d{i}.example") for i in range(20)]
    found = dnssd.browse_domains(names + names)
    assert len(found) == dnssd.MAX_BROWSE_DOMAINS and dns.name.root not in found


@pytest.mark.parametrize(
    ("why", "said"),
    [
        (dns.tsig.PeerBadKey(), "does not know the TSIG key 'laptop-key' (BADKEY)"),
        (dns.tsig.PeerBadSignature(), "secret is not the one the server has"),
        (dns.tsig.PeerBadTime(), "clock"),
        ("NOTAUTH", "is not the one that takes updates"),
    ],
)
def test_a_refusal_says_what_to_fix(why: BaseException | str, said: str) -> None:
    key = dnssd.read_key(KEYGEN)
    text = dnssd.refusal("sd.example", "198.19.1.254", key, why)
    assert said in text and "198.19.1.254" in text


def test_an_unsigned_update_refused_points_at_the_key_option() -> None:
    assert "--tsig-key" in dnssd.refusal("sd.example", "10.0.0.1", None, "REFUSED")
