"""The LocalSend devices heard on the network, and each as the peer list shows it.

A device is keyed by the fingerprint it announces: the SHA-256 of its certificate
over HTTPS, a random string over HTTP. Neither is verified, so any device could claim
another's; the table only keeps what was heard last, and every LocalSend device is
shown "unverified". A flood of made-up fingerprints is capped (``MAX_DEVICES``): the
oldest heard goes first. Time is passed in; nothing here does I/O.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from chatty_p2p.events import Peer
from chatty_p2p.protocol.localsend import ID_PREFIX, Device

MAX_DEVICES = 64
AWAY_AFTER = 120.0
"""Seconds without a word from a device (it answers our announcement every
``face.ANNOUNCE_EVERY`` seconds) before it is shown away."""


@dataclass
class Seen:
    device: Device
    host: str
    heard: float


def peer_id(fingerprint: str) -> str:
    """The id the peer list gives a LocalSend device: stable for its fingerprint, and
    plain hex whatever the fingerprint holds."""
    return ID_PREFIX + hashlib.sha256(fingerprint.encode("utf-8")).hexdigest()[:32]


def is_localsend(peer: str) -> bool:
    return peer.startswith(ID_PREFIX)


def _same(seen: Seen, device: Device, host: str) -> bool:
    """Whether nothing the peer list shows changed (the announce flag does not count)."""
    before = seen.device
    return seen.host == host and (
        before.alias,
        before.device_type,
        before.port,
        before.protocol,
    ) == (device.alias, device.device_type, device.port, device.protocol)


class DeviceTable:
    def __init__(self, own_fingerprint: str) -> None:
        self._own = own_fingerprint
        self._seen: dict[str, Seen] = {}

    def heard(self, device: Device, host: str, now: float) -> tuple[Seen, bool, bool] | None:
        """Note that ``device`` spoke from ``host``: the entry, whether it is new, and
        whether the peer list should hear of it (new, changed, or back after being
        away); None for our own announcement coming back."""
        if not device.fingerprint or device.fingerprint == self._own:
            return None
        key = peer_id(device.fingerprint)
        seen = self._seen.get(key)
        new = seen is None
        if seen is not None and _same(seen, device, host) and now - seen.heard < AWAY_AFTER:
            seen.heard = now
            return seen, False, False
        self._seen[key] = Seen(device, host, now)
        if new and len(self._seen) > MAX_DEVICES:
            oldest = min(self._seen, key=lambda k: self._seen[k].heard)
            del self._seen[oldest]
        return self._seen[key], new, True

    def get(self, key: str) -> Seen | None:
        return self._seen.get(key)

    def all(self) -> list[Seen]:
        return list(self._seen.values())

    def peer(self, seen: Seen, now: float) -> Peer:
        """The device as the peer list shows it: its alias and type, where it was heard,
        online while it keeps answering, never paired."""
        return Peer(
            id=peer_id(seen.device.fingerprint),
            name=seen.device.alias,
            online=now - seen.heard < AWAY_AFTER,
            discovered=True,
            known=False,
            addresses=(f"{seen.host}:{seen.device.port}",),
            last_seen=seen.heard,
            trust="unverified",
            device=seen.device.chatty_device,
            via="localsend",
        )
