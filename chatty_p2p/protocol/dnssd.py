"""Wide-area DNS-SD, sans-IO: the records a Chatty puts into a unicast DNS domain and
reads back from it (RFC 6763 service discovery over RFC 1035 DNS, registered by RFC 2136
dynamic update, signed with RFC 8945 TSIG), as dnspython messages and values. No
socket here: ``net.widearea`` sends the messages and feeds the answers back.

A Chatty in domain ``example.lan`` is three names, all its own:

* ``_chatty._tcp.example.lan`` PTR ``chatty-<id prefix>._chatty._tcp.example.lan``
  (one of the service's many PTRs: the only rrset shared with other devices, so only
  our own record in it is ever added or deleted);
* that instance's SRV (port, host) and TXT (the same keys as over mDNS);
* its host, ``chatty-<id prefix>.example.lan``, A and AAAA.

Which domains to browse comes from the user (``--dns-sd-domain``) and from the
domains the resolver searches, each asked for its browse domains
(``b._dns-sd._udp`` and ``lb._dns-sd._udp``, RFC 6763 section 11).

Everything read back is a stranger's: counts are capped here, text is cleaned where
it becomes an ``Advert`` (``net.discovery.advert_from``), and the device id must
name the instance, as over mDNS.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass

import dns.name
import dns.rdataclass
import dns.rdatatype
import dns.tsig
import dns.tsigkeyring
import dns.update
from dns.rdtypes.ANY.TXT import TXT

from chatty_p2p.errors import ChattyError

SERVICE = "_chatty._tcp"
TTL = 60
"""Seconds resolvers may keep our records: a peer that moved is found again soon."""
BROWSE_LABELS = ("b._dns-sd._udp", "lb._dns-sd._udp")
MAX_INSTANCES = 256
"""Instances read from one domain's PTR rrset; the rest are ignored (a hostile zone
could list thousands, each costing queries)."""
MAX_BROWSE_DOMAINS = 8
MAX_TXT_STRINGS = 32
MAX_ADDRESSES = 8
ALGORITHMS = {
    "hmac-sha256": dns.tsig.HMAC_SHA256,
    "hmac-sha384": dns.tsig.HMAC_SHA384,
    "hmac-sha512": dns.tsig.HMAC_SHA512,
    "hmac-sha224": dns.tsig.HMAC_SHA224,
    "hmac-sha1": dns.tsig.HMAC_SHA1,
    "hmac-md5": dns.tsig.HMAC_MD5,
}

_KEY_CLAUSE = re.compile(
    r'key\s+"?(?P<name>[A-Za-z0-9._-]+)"?\s*\{(?P<body>[^}]*)\}\s*;', re.DOTALL
)
_STATEMENT = re.compile(r'(?P<word>algorithm|secret)\s+"?(?P<value>[^";\s]+)"?\s*;')


@dataclass(frozen=True)
class TsigKey:
    """A TSIG key: its name, algorithm and secret, as the DNS server knows it."""

    name: str
    algorithm: str
    secret: str

    def keyring(self) -> dict[dns.name.Name, dns.tsig.Key]:
        keyring: dict[dns.name.Name, dns.tsig.Key] = dns.tsigkeyring.from_text(
            {self.name: (self.algorithm, self.secret)}
        )
        return keyring


def read_key(text: str, where: str = "the key file") -> TsigKey:
    """The first ``key "NAME" { algorithm ...; secret "..."; };`` clause of a BIND key
    file, as ``tsig-keygen`` and ``ddns-confgen`` write it (Knot's ``keymgr`` and
    ``nsupdate -k`` read the same)."""
    clause = _KEY_CLAUSE.search(text)
    if clause is None:
        raise ChattyError(
            f'{where} holds no key clause (key "NAME" {{ algorithm ...; secret "..."; }};); '
            "make one with: tsig-keygen NAME"
        )
    found = {m["word"]: m["value"] for m in _STATEMENT.finditer(clause["body"])}
    algorithm = found.get("algorithm", "hmac-sha256").lower()
    if algorithm not in ALGORITHMS:
        raise ChattyError(f"{where}: unknown TSIG algorithm {algorithm!r}")
    secret = found.get("secret", "")
    try:
        if not base64.b64decode(secret, validate=True):
            raise ValueError("empty")
    except (binascii.Error, ValueError) as exc:
        raise ChattyError(f"{where}: the key's secret is not base64") from exc
    return TsigKey(clause["name"], algorithm, secret)


@dataclass(frozen=True)
class Record:
    """What this Chatty registers in a domain."""

    label: str
    """The instance's label (``chatty-<id prefix>``), also its host's."""
    port: int
    txt: dict[str, str]
    addresses: tuple[str, ...]


def service_name(domain: dns.name.Name) -> dns.name.Name:
    return dns.name.from_text(SERVICE, domain)


def instance_name(label: str, domain: dns.name.Name) -> dns.name.Name:
    return dns.name.Name((label.encode(),)).concatenate(service_name(domain))


def host_name(label: str, domain: dns.name.Name) -> dns.name.Name:
    return dns.name.Name((label.encode(),)).concatenate(domain)


def registration(
    record: Record, domain: dns.name.Name, zone: dns.name.Name, key: TsigKey | None
) -> dns.update.UpdateMessage:
    """The update that puts ``record`` into ``domain`` (in ``zone``), replacing what an
    earlier run of ours left there."""
    update = _update(zone, key)
    instance, host = instance_name(record.label, domain), host_name(record.label, domain)
    update.add(service_name(domain), TTL, "PTR", instance.to_text())
    update.replace(instance, TTL, "SRV", f"0 0 {record.port} {host.to_text()}")
    update.replace(instance, TTL, _txt(record.txt))
    update.delete(host, "A")
    update.delete(host, "AAAA")
    for address in record.addresses[:MAX_ADDRESSES]:
        kind = "AAAA" if ipaddress.ip_address(address).version == 6 else "A"
        update.add(host, TTL, kind, address)
    return update


def withdrawal(
    label: str, domain: dns.name.Name, zone: dns.name.Name, key: TsigKey | None
) -> dns.update.UpdateMessage:
    """The update that takes our records out of ``domain`` (we stop: peers drop us)."""
    update = _update(zone, key)
    instance = instance_name(label, domain)
    update.delete(service_name(domain), "PTR", instance.to_text())
    update.delete(instance)
    update.delete(host_name(label, domain))
    return update


def _update(zone: dns.name.Name, key: TsigKey | None) -> dns.update.UpdateMessage:
    if key is None:
        return dns.update.UpdateMessage(zone)
    return dns.update.UpdateMessage(
        zone,
        keyring=key.keyring(),
        keyname=dns.name.from_text(key.name),
        keyalgorithm=ALGORITHMS[key.algorithm],
    )


def _txt(keys: dict[str, str]) -> TXT:
    """One ``key=value`` string per key, as UTF-8 bytes (a name may be any text; a
    string holds at most 255 bytes, cut on a character's edge)."""
    strings = [f"{k}={v}".encode()[:255].decode(errors="ignore").encode() for k, v in keys.items()]
    return TXT(dns.rdataclass.IN, dns.rdatatype.TXT, strings)


def usable_addresses(addresses: Iterable[str]) -> tuple[str, ...]:
    """The addresses worth registering: a peer in another network can use none of
    this machine's link-local or loopback ones."""
    keep = []
    for text in addresses:
        address = ipaddress.ip_address(text.split("%")[0])
        if not (address.is_link_local or address.is_loopback or address.is_unspecified):
            keep.append(str(address))
    return tuple(dict.fromkeys(keep))


def txt_properties(strings: Iterable[bytes]) -> dict[bytes, bytes | None]:
    """A TXT record's strings as mDNS's properties (``key=value``; a key alone is
    ``None``), the first of each key kept (RFC 6763 section 6.4), at most
    ``MAX_TXT_STRINGS`` read."""
    found: dict[bytes, bytes | None] = {}
    for i, string in enumerate(strings):
        if i >= MAX_TXT_STRINGS:
            break
        key, sep, value = string.partition(b"=")
        if key and key.lower() not in found:
            found[key.lower()] = value if sep else None
    return found


def instance_labels(targets: Iterable[dns.name.Name], domain: dns.name.Name) -> list[str]:
    """The instance labels a service's PTR rrset points to, in ``domain`` only (a PTR
    may point anywhere: elsewhere is not ours to query), at most ``MAX_INSTANCES``."""
    service = service_name(domain)
    labels: list[str] = []
    for target in targets:
        if len(labels) >= MAX_INSTANCES:
            break
        if target.parent() == service and len(target.labels) > len(service.labels):
            label = target.labels[0].decode("ascii", errors="replace")
            if label not in labels:
                labels.append(label)
    return labels


def browse_domains(targets: Iterable[dns.name.Name]) -> list[dns.name.Name]:
    """What a domain's ``b``/``lb`` records say to browse, at most ``MAX_BROWSE_DOMAINS``."""
    domains: list[dns.name.Name] = []
    for target in targets:
        if target not in domains and target != dns.name.root:
            domains.append(target)
    return domains[:MAX_BROWSE_DOMAINS]


def refusal(domain: str, server: str, key: TsigKey | None, exc: BaseException | str) -> str:
    """Why ``server`` did not take our update for ``domain``, in words a user acts on.
    ``exc`` is dnspython's TSIG error, or the answer's rcode (``REFUSED``...)."""
    at = f"the DNS server for {domain} ({server})"
    if isinstance(exc, dns.tsig.PeerBadKey):
        name = key.name if key else ""
        return f"{at} does not know the TSIG key {name!r} (BADKEY): the name must be the server's"
    if isinstance(exc, dns.tsig.PeerBadSignature):
        return (
            f"{at} refused the update's signature (BADSIG): "
            "the TSIG key's secret is not the one the server has"
        )
    if isinstance(exc, dns.tsig.PeerBadTime):
        return f"{at} refused the update's time (BADTIME): this machine's clock is off"
    if exc == "REFUSED":
        if key is None:
            return f"{at} refused the update (REFUSED): it may want it signed (--tsig-key FILE)"
        return f"{at} refused the update (REFUSED): the key {key.name!r} may not change {domain}"
    if exc == "NOTAUTH":
        return f"{at} is not the one that takes updates for {domain} (NOTAUTH)"
    return f"{at} did not take the update: {exc}"
