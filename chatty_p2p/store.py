"""The SQLite store: known peers with their pinned certificates, messages, transfers, settings.

Several processes may open the same data dir (a daemon, the window, a one-shot
``chatty history``), so the database runs in WAL mode with a busy timeout and
every write is a single short transaction. Message ids are unique per peer,
which is what makes re-delivery after a reconnect idempotent. A transfer and
its manifest are stored when offered or accepted, and each file's state as it
lands, which is what lets a transfer resume after either side restarts.

Local paths (a file to send, a download folder) are the machine's own names,
which need not be UTF-8: such a path is stored as its bytes (a BLOB) and read
back as the same ``str``, so the file it names can still be opened.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from chatty_p2p.errors import StoreError
from chatty_p2p.protocol.bulk.wire import Entry
from chatty_p2p.protocol.session import ChatMessage, name_key

SCHEMA_VERSION = 3
_SCHEMA = """
CREATE TABLE IF NOT EXISTS peers (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    first_seen  REAL NOT NULL,
    last_seen   REAL NOT NULL,
    addresses   TEXT NOT NULL DEFAULT '[]',
    manual      INTEGER NOT NULL DEFAULT 0,
    trusted     INTEGER NOT NULL DEFAULT 0,
    blocked     INTEGER NOT NULL DEFAULT 0
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
CREATE TABLE IF NOT EXISTS transfers (
    id          TEXT NOT NULL,
    peer_id     TEXT NOT NULL,
    outgoing    INTEGER NOT NULL,
    state       TEXT NOT NULL,
    count       INTEGER NOT NULL,
    size        INTEGER NOT NULL,
    names       TEXT NOT NULL,
    created     REAL NOT NULL,
    updated     REAL NOT NULL,
    done_bytes  INTEGER NOT NULL DEFAULT 0,
    folder      TEXT NOT NULL DEFAULT '',
    error       TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (peer_id, id, outgoing)
);
CREATE TABLE IF NOT EXISTS transfer_entries (
    peer_id     TEXT NOT NULL,
    transfer_id TEXT NOT NULL,
    outgoing    INTEGER NOT NULL,
    idx         INTEGER NOT NULL,
    path        TEXT NOT NULL,
    kind        TEXT NOT NULL,
    size        INTEGER NOT NULL,
    mtime       REAL NOT NULL,
    local       TEXT NOT NULL,
    status      TEXT NOT NULL DEFAULT 'pending',
    PRIMARY KEY (peer_id, transfer_id, outgoing, idx)
);
CREATE TABLE IF NOT EXISTS settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"""

QUEUED, SENT, DELIVERED, RECEIVED = "queued", "sent", "delivered", "received"


def _path_in(path: str) -> str | bytes:
    """A local path as SQLite can store it: text, or its bytes if it is not UTF-8."""
    try:
        path.encode("utf-8")
        return path
    except UnicodeEncodeError:
        return path.encode("utf-8", "surrogateescape")


def _path_out(value: str | bytes) -> str:
    return value if isinstance(value, str) else value.decode("utf-8", "surrogateescape")


def peek_setting(data_dir: Path, key: str) -> str | None:
    """A setting read without opening the store, which would take the data dir that a
    running daemon may hold: for ``chatty share``, which runs no node. None when it is
    not set or cannot be read."""
    try:
        db = sqlite3.connect(f"{(data_dir / 'chatty.db').as_uri()}?mode=ro", uri=True)
        try:
            row = db.execute("SELECT value FROM settings WHERE key = ?", (key,)).fetchone()
        finally:
            db.close()
    except sqlite3.Error:
        return None
    return _path_out(row[0]) if row and row[0] else None


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


@dataclass
class TransferRecord:
    """A batch of files, either way. ``folder`` is where an incoming one lands."""

    id: str
    peer_id: str
    outgoing: bool
    state: str
    count: int
    size: int
    names: list[str]
    created: float = field(default_factory=time.time)
    updated: float = field(default_factory=time.time)
    done_bytes: int = 0
    folder: str = ""
    error: str = ""

    @property
    def key(self) -> tuple[str, str, bool]:
        return (self.peer_id, self.id, self.outgoing)


class Store:
    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            # Owner-only from the first byte; SQLite gives its -wal and -shm files the same mode.
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
            self._db = sqlite3.connect(path, timeout=10, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            # executescript commits on its own; every statement in it is idempotent.
            self._db.executescript(_SCHEMA)
            columns = {row[1] for row in self._db.execute("PRAGMA table_info(peers)")}
            for column in ("trusted", "blocked"):  # added in versions 2 and 3
                if column not in columns:
                    self._db.execute(
                        f"ALTER TABLE peers ADD COLUMN {column} INTEGER NOT NULL DEFAULT 0"
                    )
            self._db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
            path.chmod(0o600)
        except (sqlite3.Error, OSError) as exc:
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
        return _path_out(rows[0][0]) if rows else default

    def set_setting(self, key: str, value: str) -> None:
        """Store a setting; a path among them (the download folder) need not be UTF-8."""
        with self._tx() as db:
            db.execute(
                "INSERT OR REPLACE INTO settings (key, value) VALUES (?, ?)",
                (key, _path_in(value)),
            )

    # ----- peers -----------------------------------------------------------

    _PEER_COLUMNS = "id, name, first_seen, last_seen, addresses, manual, trusted, blocked"

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

    # ----- transfers -------------------------------------------------------

    _TRANSFER_COLUMNS = (
        "id, peer_id, outgoing, state, count, size, names, created, updated, done_bytes, "
        "folder, error"
    )

    @staticmethod
    def _transfer(row: tuple[Any, ...]) -> TransferRecord:
        values = list(row)
        values[2], values[6], values[10] = bool(row[2]), json.loads(row[6]), _path_out(row[10])
        return TransferRecord(*values)

    def add_transfer(
        self,
        record: TransferRecord,
        entries: list[Entry] | None = None,
        local: list[str] | None = None,
    ) -> bool:
        """Record a new transfer, with its manifest if known (see ``add_entries``), in one
        transaction; False if this peer already has one with that id."""
        with self._tx() as db:
            cur = db.execute(
                f"INSERT OR IGNORE INTO transfers ({self._TRANSFER_COLUMNS}) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    record.id,
                    record.peer_id,
                    int(record.outgoing),
                    record.state,
                    record.count,
                    record.size,
                    json.dumps(record.names),
                    record.created,
                    record.updated,
                    record.done_bytes,
                    _path_in(record.folder),
                    record.error,
                ),
            )
            if cur.rowcount and entries is not None and local is not None:
                self._insert_entries(db, record.key, entries, local)
            return cur.rowcount > 0

    def transfer(self, key: tuple[str, str, bool]) -> TransferRecord | None:
        rows = self._query(
            f"SELECT {self._TRANSFER_COLUMNS} FROM transfers "
            "WHERE peer_id = ? AND id = ? AND outgoing = ?",
            (key[0], key[1], int(key[2])),
        )
        return self._transfer(rows[0]) if rows else None

    def transfers(self, limit: int = 200) -> list[TransferRecord]:
        """The most recent transfers, newest first."""
        rows = self._query(
            f"SELECT {self._TRANSFER_COLUMNS} FROM transfers ORDER BY created DESC LIMIT ?",
            (limit,),
        )
        return [self._transfer(r) for r in rows]

    def transfer_keys(self, id_prefix: str) -> list[tuple[str, str, bool]]:
        """Keys of the transfers whose id starts with ``id_prefix`` (hex)."""
        rows = self._query(
            "SELECT peer_id, id, outgoing FROM transfers WHERE substr(id, 1, ?) = ?",
            (len(id_prefix), id_prefix),
        )
        return [(r[0], r[1], bool(r[2])) for r in rows]

    def sent_to(self, peer_id: str) -> bool:
        """Whether we ever offered this peer anything: only then may it dial for bytes."""
        rows = self._query(
            "SELECT 1 FROM transfers WHERE peer_id = ? AND outgoing = 1 LIMIT 1", (peer_id,)
        )
        return bool(rows)

    def download_folders(self) -> list[str]:
        """Every folder an incoming transfer was ever meant to land in."""
        rows = self._query("SELECT DISTINCT folder FROM transfers WHERE outgoing = 0")
        return [_path_out(r[0]) for r in rows if r[0]]

    def unfinished_transfers(self, finished: frozenset[str]) -> list[TransferRecord]:
        """Transfers in none of the ``finished`` states: the file model defines them
        (``files.model.FINISHED``); the store keeps a state as the text it is given."""
        marks = ",".join("?" * len(finished))
        rows = self._query(
            f"SELECT {self._TRANSFER_COLUMNS} FROM transfers WHERE state NOT IN ({marks})",
            tuple(finished),
        )
        return [self._transfer(r) for r in rows]

    def update_transfer(self, record: TransferRecord) -> None:
        """Save what changes as a transfer goes: its state and progress, and the folder
        an incoming one lands in (chosen when it is accepted, not when offered)."""
        record.updated = time.time()
        with self._tx() as db:
            db.execute(
                """UPDATE transfers SET state = ?, updated = ?, done_bytes = ?, error = ?,
                   folder = ? WHERE peer_id = ? AND id = ? AND outgoing = ?""",
                (
                    record.state,
                    record.updated,
                    record.done_bytes,
                    record.error,
                    _path_in(record.folder),
                    record.peer_id,
                    record.id,
                    int(record.outgoing),
                ),
            )

    def add_entries(
        self, key: tuple[str, str, bool], entries: list[Entry], local: list[str]
    ) -> None:
        """A transfer's manifest; ``local`` is the path read (sender) or written (receiver)."""
        with self._tx() as db:
            self._insert_entries(db, key, entries, local)

    @staticmethod
    def _insert_entries(
        db: sqlite3.Connection, key: tuple[str, str, bool], entries: list[Entry], local: list[str]
    ) -> None:
        rows = [
            (key[0], key[1], int(key[2]), i, e.path, e.kind, e.size, e.mtime, _path_in(where))
            for i, (e, where) in enumerate(zip(entries, local, strict=True))
        ]
        db.executemany(
            """INSERT OR REPLACE INTO transfer_entries
               (peer_id, transfer_id, outgoing, idx, path, kind, size, mtime, local)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)""",
            rows,
        )

    def entries(self, key: tuple[str, str, bool]) -> tuple[list[Entry], list[str], list[str]]:
        """The manifest, each entry's local path and each entry's status, in order."""
        rows = self._query(
            """SELECT path, kind, size, mtime, local, status FROM transfer_entries
               WHERE peer_id = ? AND transfer_id = ? AND outgoing = ? ORDER BY idx""",
            (key[0], key[1], int(key[2])),
        )
        return (
            [Entry(r[0], r[1], r[2], r[3]) for r in rows],
            [_path_out(r[4]) for r in rows],
            [r[5] for r in rows],
        )

    def set_entries(
        self, key: tuple[str, str, bool], changes: list[tuple[int, str, str | None]]
    ) -> None:
        """Each (index, status, local path or None to keep it), in one transaction."""
        rows = [
            (status, None if local is None else _path_in(local), key[0], key[1], int(key[2]), i)
            for i, status, local in changes
        ]
        with self._tx() as db:
            db.executemany(
                """UPDATE transfer_entries SET status = ?, local = COALESCE(?, local)
                   WHERE peer_id = ? AND transfer_id = ? AND outgoing = ? AND idx = ?""",
                rows,
            )
