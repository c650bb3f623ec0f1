"""The SQLite store: known peers with their pinned certificates, messages, settings.

Several processes may open the same data dir (a daemon, the window, a one-shot
``chatty history``), so the database runs in WAL mode with a busy timeout and
every write is a single short transaction. Message ids are unique per peer,
which is what makes re-delivery after a reconnect idempotent.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from chatty_p2p.errors import StoreError
from chatty_p2p.protocol.session import ChatMessage

SCHEMA_VERSION = 1
_SCHEMA = """
CREATE TABLE IF NOT EXISTS peers (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    first_seen  REAL NOT NULL,
    last_seen   REAL NOT NULL,
    addresses   TEXT NOT NULL DEFAULT '[]',
    manual      INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS messages (
    seq       INTEGER PRIMARY KEY AUTOINCREMENT,
    id        TEXT NOT NULL,
    peer_id   TEXT NOT NULL,
    outgoing  INTEGER NOT NULL,
    kind      TEXT NOT NULL,
    body      TEXT NOT NULL,
    ts        REAL NOT NULL,
    status    TEXT NOT NULL,
    UNIQUE (peer_id, id)
);
CREATE INDEX IF NOT EXISTS messages_by_peer ON messages (peer_id, seq);
CREATE TABLE IF NOT EXISTS settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"""

QUEUED, SENT, DELIVERED, RECEIVED = "queued", "sent", "delivered", "received"


@dataclass
class PeerRecord:
    """A peer met at least once. Its id is its certificate's hash, so the row *is* the pin."""

    id: str
    name: str
    first_seen: float = field(default_factory=time.time)
    last_seen: float = field(default_factory=time.time)
    addresses: list[str] = field(default_factory=list)
    manual: bool = False


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


class Store:
    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self._db = sqlite3.connect(path, timeout=10, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            # executescript commits on its own; every statement in it is idempotent.
            self._db.executescript(_SCHEMA)
            self._db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
            path.chmod(0o600)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open the database {path}: {exc}") from exc

    def close(self) -> None:
        self._db.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        try:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
        except sqlite3.Error as exc:
            raise StoreError(f"database error in {self.path}: {exc}") from exc

    def _query(self, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        try:
            return self._db.execute(sql, args).fetchall()
        except sqlite3.Error as exc:
            raise StoreError(f"database error in {self.path}: {exc}") from exc

    # ----- settings --------------------------------------------------------

    def setting(self, key: str, default: str | None = None) -> str | None:
        rows = self._query("SELECT value FROM settings WHERE key = ?", (key,))
        return rows[0][0] if rows else default

    def set_setting(self, key: str, value: str) -> None:
        with self._tx() as db:
            db.execute("INSERT OR REPLACE INTO settings (key, value) VALUES (?, ?)", (key, value))

    # ----- peers -----------------------------------------------------------

    _PEER_COLUMNS = "id, name, first_seen, last_seen, addresses, manual"

    @staticmethod
    def _peer(row: tuple[Any, ...]) -> PeerRecord:
        return PeerRecord(row[0], row[1], row[2], row[3], json.loads(row[4]), bool(row[5]))

    def peer(self, peer_id: str) -> PeerRecord | None:
        rows = self._query(f"SELECT {self._PEER_COLUMNS} FROM peers WHERE id = ?", (peer_id,))
        return self._peer(rows[0]) if rows else None

    def peers(self) -> list[PeerRecord]:
        rows = self._query(f"SELECT {self._PEER_COLUMNS} FROM peers ORDER BY name, id")
        return [self._peer(r) for r in rows]

    def known_with_name(self, name: str) -> list[PeerRecord]:
        rows = self._query(f"SELECT {self._PEER_COLUMNS} FROM peers WHERE name = ?", (name,))
        return [self._peer(r) for r in rows]

    def save_peer(self, record: PeerRecord) -> None:
        with self._tx() as db:
            db.execute(
                """INSERT INTO peers (id, name, first_seen, last_seen, addresses, manual)
                   VALUES (?, ?, ?, ?, ?, ?)
                   ON CONFLICT (id) DO UPDATE SET
                     name = excluded.name,
                     last_seen = excluded.last_seen,
                     addresses = excluded.addresses,
                     manual = peers.manual OR excluded.manual""",
                (
                    record.id,
                    record.name,
                    record.first_seen,
                    record.last_seen,
                    json.dumps(record.addresses),
                    int(record.manual),
                ),
            )

    def forget_peer(self, peer_id: str) -> bool:
        with self._tx() as db:
            return db.execute("DELETE FROM peers WHERE id = ?", (peer_id,)).rowcount > 0

    # ----- messages --------------------------------------------------------

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
