"""Known peers: one row per peer met, keyed by its certificate's hash, so the row is
the pin; whether it is trusted (paired) or blocked; and the pruning of strangers
that keeps a flood of fresh keys from filling the table.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

from chatty_p2p.protocol.text import name_key
from chatty_p2p.store.database import Database


@dataclass
class PeerRecord:
    """A peer met at least once. Its id is its certificate's hash, so the row *is* the pin."""

    id: str
    name: str
    first_seen: float = field(default_factory=time.time)
    last_seen: float = field(default_factory=time.time)
    addresses: list[str] = field(default_factory=list)
    manual: bool = False
    trusted: bool = False
    """Paired: the user compared codes (or the fingerprint). Only a trusted peer's
    offers may be accepted unasked, and only its key change is refused."""
    blocked: bool = False
    """Its connections are refused before TLS and it is never dialled."""
    device: str = ""
    """The kind of device it last said it is (``chatty_p2p.device``), "" if it never
    said: so a peer that is away keeps its laptop or phone icon."""


class PeerTable(Database):
    """The ``peers`` table's methods."""

    _PEER_COLUMNS = "id, name, first_seen, last_seen, addresses, manual, trusted, blocked, device"

    @staticmethod
    def _peer(row: tuple[Any, ...]) -> PeerRecord:
        return PeerRecord(
            row[0],
            row[1],
            row[2],
            row[3],
            json.loads(row[4]),
            bool(row[5]),
            bool(row[6]),
            bool(row[7]),
            row[8],
        )

    def peer(self, peer_id: str) -> PeerRecord | None:
        rows = self._query(f"SELECT {self._PEER_COLUMNS} FROM peers WHERE id = ?", (peer_id,))
        return self._peer(rows[0]) if rows else None

    def peers(self) -> list[PeerRecord]:
        rows = self._query(f"SELECT {self._PEER_COLUMNS} FROM peers ORDER BY name, id")
        return [self._peer(r) for r in rows]

    def trusted_with_name(self, name: str) -> list[PeerRecord]:
        """Trusted peers whose name looks like ``name`` (see ``name_key``)."""
        rows = self._query(f"SELECT {self._PEER_COLUMNS} FROM peers WHERE trusted")
        key = name_key(name)
        return [record for record in map(self._peer, rows) if name_key(record.name) == key]

    def save_peer(self, record: PeerRecord) -> None:
        with self._tx() as db:
            db.execute(
                """INSERT INTO peers (id, name, first_seen, last_seen, addresses, manual, device)
                   VALUES (?, ?, ?, ?, ?, ?, ?)
                   ON CONFLICT (id) DO UPDATE SET
                     name = excluded.name,
                     last_seen = excluded.last_seen,
                     addresses = excluded.addresses,
                     manual = peers.manual OR excluded.manual,
                     device = CASE excluded.device WHEN '' THEN peers.device
                              ELSE excluded.device END""",
                (
                    record.id,
                    record.name,
                    record.first_seen,
                    record.last_seen,
                    json.dumps(record.addresses),
                    int(record.manual),
                    record.device,
                ),
            )

    def set_trusted(self, peer_id: str, trusted: bool) -> bool:
        with self._tx() as db:
            cur = db.execute(
                "UPDATE peers SET trusted = ?, blocked = blocked AND NOT ? WHERE id = ?",
                (int(trusted), int(trusted), peer_id),
            )
            return cur.rowcount > 0

    def set_blocked(self, peer_id: str, blocked: bool) -> bool:
        with self._tx() as db:
            cur = db.execute(
                "UPDATE peers SET blocked = ?, trusted = trusted AND NOT ? WHERE id = ?",
                (int(blocked), int(blocked), peer_id),
            )
            return cur.rowcount > 0

    def prune_strangers(self, keep: int) -> int:
        """Forget the oldest peers that are only a name, beyond ``keep`` of them.

        A stranger may connect with a fresh key every time; without this each one
        would be a row forever. Trusted, blocked, added-by-address peers and those
        with messages or transfers are never pruned.
        """
        with self._tx() as db:
            cur = db.execute(
                """DELETE FROM peers WHERE id IN (
                     SELECT id FROM peers p
                     WHERE NOT trusted AND NOT blocked AND NOT manual
                       AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.peer_id = p.id)
                       AND NOT EXISTS (SELECT 1 FROM transfers t WHERE t.peer_id = p.id)
                     ORDER BY last_seen DESC LIMIT -1 OFFSET ?)""",
                (keep,),
            )
            return cur.rowcount

    def forget_peer(self, peer_id: str) -> bool:
        with self._tx() as db:
            return db.execute("DELETE FROM peers WHERE id = ?", (peer_id,)).rowcount > 0
