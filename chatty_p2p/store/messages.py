"""Messages, both ways, with each outgoing one's status (queued, sent, delivered).
Message ids are unique per peer, which is what makes re-delivery after a reconnect
idempotent: a message seen twice is stored once.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from chatty_p2p.protocol.messages import ChatMessage
from chatty_p2p.store.database import Database

QUEUED, SENT, DELIVERED, RECEIVED = "queued", "sent", "delivered", "received"


@dataclass(frozen=True)
class StoredMessage:
    seq: int
    id: str
    peer_id: str
    outgoing: bool
    kind: str
    body: str
    ts: float
    status: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def message(self) -> ChatMessage:
        return ChatMessage(self.id, self.ts, self.kind, self.body)


class MessageTable(Database):
    """The ``messages`` table's methods."""

    _MSG_COLUMNS = "seq, id, peer_id, outgoing, kind, body, ts, status"

    @staticmethod
    def _message(row: tuple[Any, ...]) -> StoredMessage:
        return StoredMessage(row[0], row[1], row[2], bool(row[3]), row[4], row[5], row[6], row[7])

    def add_message(self, peer_id: str, msg: ChatMessage, outgoing: bool) -> StoredMessage | None:
        """Record a message; ``None`` if this peer already sent one with that id."""
        status = QUEUED if outgoing else RECEIVED
        with self._tx() as db:
            cur = db.execute(
                """INSERT OR IGNORE INTO messages (id, peer_id, outgoing, kind, body, ts, status)
                   VALUES (?, ?, ?, ?, ?, ?, ?)""",
                (msg.id, peer_id, int(outgoing), msg.kind, msg.body, msg.ts, status),
            )
            if cur.rowcount == 0:
                return None
            seq = cur.lastrowid
        assert seq is not None
        return StoredMessage(seq, msg.id, peer_id, outgoing, msg.kind, msg.body, msg.ts, status)

    def set_status(self, peer_id: str, message_id: str, status: str) -> bool:
        """Move an outgoing message forward (queued → sent → delivered); never back."""
        order = {QUEUED: 0, SENT: 1, DELIVERED: 2}
        earlier = [s for s, rank in order.items() if rank < order[status]]
        marks = ",".join("?" * len(earlier))
        with self._tx() as db:
            cur = db.execute(
                f"""UPDATE messages SET status = ? WHERE peer_id = ? AND id = ? AND outgoing = 1
                    AND status IN ({marks})""",
                (status, peer_id, message_id, *earlier),
            )
            return cur.rowcount > 0

    def message(self, peer_id: str, message_id: str) -> StoredMessage | None:
        rows = self._query(
            f"SELECT {self._MSG_COLUMNS} FROM messages WHERE peer_id = ? AND id = ?",
            (peer_id, message_id),
        )
        return self._message(rows[0]) if rows else None

    def undelivered_count(self, peer_id: str) -> int:
        rows = self._query(
            """SELECT COUNT(*) FROM messages
               WHERE peer_id = ? AND outgoing = 1 AND status IN (?, ?)""",
            (peer_id, QUEUED, SENT),
        )
        return int(rows[0][0])

    def undelivered(self, peer_id: str) -> list[StoredMessage]:
        """Outgoing messages still owed to ``peer_id``, oldest first."""
        rows = self._query(
            f"""SELECT {self._MSG_COLUMNS} FROM messages
                WHERE peer_id = ? AND outgoing = 1 AND status IN (?, ?) ORDER BY seq""",
            (peer_id, QUEUED, SENT),
        )
        return [self._message(r) for r in rows]

    def history(self, peer_id: str, limit: int = 100) -> list[StoredMessage]:
        """The last ``limit`` messages with ``peer_id``, oldest first."""
        rows = self._query(
            f"""SELECT {self._MSG_COLUMNS} FROM messages WHERE peer_id = ?
                ORDER BY seq DESC LIMIT ?""",
            (peer_id, limit),
        )
        return [self._message(r) for r in reversed(rows)]
