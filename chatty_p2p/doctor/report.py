"""What the doctor found: findings, the peers it saw, and the report a face shows."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Level = Literal["ok", "warn", "problem"]

TOPICS: tuple[tuple[str, str], ...] = (
    ("chatty", "This Chatty"),
    ("interfaces", "Network interfaces"),
    ("multicast", "Multicast (mDNS)"),
    ("firewall", "Firewall on this machine"),
    ("peers", "Other Chatty devices"),
    ("clock", "Clocks"),
)
"""The order a face shows findings in, with a heading for each topic."""


@dataclass(frozen=True)
class Finding:
    """One thing the doctor found: ``fix`` may hold several alternatives, one a line."""

    level: Level
    title: str
    detail: str = ""
    fix: str = ""
    topic: str = "chatty"

    def to_dict(self) -> dict[str, str]:
        return {
            "level": self.level,
            "topic": self.topic,
            "title": self.title,
            "detail": self.detail,
            "fix": self.fix,
        }


def not_checked(what: str, detail: str, fix: str, topic: str) -> Finding:
    """A check that reads what only Linux has (``/sys``, ``/proc``, nftables), on a
    system without it (or with ``CHATTY_PORTABLE=1``): said, so that silence is not
    read as "fine", and a warning with what to look at by hand, since a cause may hide
    there."""
    return Finding("warn", f"{what}: not checked on this system", detail, fix, topic)


@dataclass(frozen=True)
class SeenPeer:
    """A Chatty that answered mDNS during the live look, and what its port did."""

    name: str
    device_id: str
    addresses: tuple[str, ...]
    port: int
    protocol: str
    app: str
    outcome: str
    """``reachable``, ``refused``, ``timeout`` or ``unreachable``."""
    reached: str | None = None
    """The ``host:port`` a TCP connection succeeded to, if any."""
    attempts: tuple[tuple[str, str], ...] = ()
    """``(address, outcome)`` for every address tried."""

    @property
    def label(self) -> str:
        return f"{self.name} ({self.device_id[:8]})" if self.name else self.device_id[:8]

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "id": self.device_id,
            "addresses": list(self.addresses),
            "port": self.port,
            "protocol": self.protocol,
            "app": self.app,
            "outcome": self.outcome,
            "reached": self.reached,
            "attempts": {address: outcome for address, outcome in self.attempts},
        }


@dataclass
class Report:
    findings: list[Finding] = field(default_factory=list)
    peers: list[SeenPeer] = field(default_factory=list)
    port: int | None = None

    @property
    def problems(self) -> list[Finding]:
        return [f for f in self.findings if f.level == "problem"]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.level == "warn"]

    def by_topic(self) -> list[tuple[str, list[Finding]]]:
        """``(heading, findings)`` in :data:`TOPICS` order, empty topics left out."""
        groups = []
        for topic, heading in TOPICS:
            found = [f for f in self.findings if f.topic == topic]
            if found:
                groups.append((heading, found))
        known = {t for t, _ in TOPICS}
        other = [f for f in self.findings if f.topic not in known]
        if other:
            groups.append(("Other", other))
        return groups

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": not self.problems,
            "port": self.port,
            "findings": [f.to_dict() for f in self.findings],
            "peers": [p.to_dict() for p in self.peers],
        }
