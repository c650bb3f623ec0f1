"""Trust and admission decisions: pure functions of what the store and the settings
say, with no I/O of their own (the parts that hold state call them).

Trust levels: ``trusted`` (paired, or its fingerprint checked), ``unverified``,
``blocked``. Only trusted peers' offers may be accepted unasked; a peer claiming a
trusted peer's name with another key is refused; ``trusted_only`` refuses every
peer but trusted ones; a blocked peer is refused before TLS.
"""

from __future__ import annotations

from collections.abc import Iterable

from chatty_p2p.errors import ChattyError, PeerError, ProtocolError
from chatty_p2p.identity import short_id
from chatty_p2p.store import PeerRecord

FINGERPRINT_DIGITS = 16
"""Hex digits of a fingerprint a user must type to vouch for a key: 64 bits."""


def trust_level(record: PeerRecord | None) -> str:
    if record is None:
        return "unverified"
    return "blocked" if record.blocked else "trusted" if record.trusted else "unverified"


def is_known(record: PeerRecord | None) -> bool:
    """Paired or added by address: a peer the user chose, never crowded out by
    strangers (records, dials, handshakes)."""
    return record is not None and (record.trusted or record.manual)


def admitted(level: str, conflict: str | None, trusted_only: bool) -> bool:
    """Whether policy lets a peer have a full session (pairing aside)."""
    if level == "blocked" or conflict:
        return False
    return level == "trusted" or not trusted_only


def refusal_before_tls(peer_id: str, level: str, trusted_only: bool, pair_wanted: bool) -> str:
    """Why to refuse a dialer before TLS (it only *claims* this id yet), or ``""``."""
    if level == "blocked":
        return f"{short_id(peer_id)} is blocked"
    if level != "trusted" and trusted_only and not pair_wanted:
        return f"{short_id(peer_id)} is not paired and only paired peers are accepted"
    return ""


def why_not_admitted(level: str) -> str:
    """What the user here did that ends a peer's session, in words."""
    return "blocked" if level == "blocked" else "unpaired, and only paired peers are accepted"


def accepts_unasked(
    peer_id: str, name: str, level: str, auto_accept: bool, accept_from: Iterable[str]
) -> bool:
    """Offers are accepted unasked only from trusted peers: by the setting, or
    when ``accept_from`` names them. An unverified peer's offer always asks."""
    if level != "trusted":
        return False
    if auto_accept:
        return True
    name = name.lower()
    return any(
        spec == "*" or spec == name or (len(spec) >= 4 and peer_id.startswith(spec))
        for spec in accept_from
    )


def other_holder(peer_id: str, trusted_with_name: Iterable[PeerRecord]) -> PeerRecord | None:
    """Of the trusted peers under a name, the first that is not ``peer_id``."""
    for trusted in trusted_with_name:
        if trusted.id != peer_id:
            return trusted
    return None


def conflict_error(name: str) -> ProtocolError:
    """What a peer refused for its name reads: enough for an innocent one to fix it."""
    return ProtocolError(
        f"your key differs from the one paired under your name '{name}' here: that "
        "name belongs to another device; choose another name (chatty name NEW)",
        "key-changed",
    )


def not_accepted() -> ProtocolError:
    return ProtocolError("not accepted here", "refused")


def typed_fingerprint(peer_id: str, fingerprint: str, name: str) -> str:
    """The hex digits the user typed for ``peer_id``'s key, checked against it."""
    typed = "".join(fingerprint.split()).replace(":", "").lower()
    if len(typed) < FINGERPRINT_DIGITS:
        raise ChattyError(
            f"type at least {FINGERPRINT_DIGITS} hex digits of the fingerprint (4 groups)"
        )
    if not peer_id.startswith(typed):
        raise PeerError(
            f"that fingerprint is not {name}'s key; read it again from 'chatty id' on that device"
        )
    return typed
