"""The database file: its tables, opening it, and what every table's methods share.

Several processes may open the same data dir (a daemon, the window, a one-shot
``chatty history``), so the database runs in WAL mode with a busy timeout and
every write is a single short transaction (``Database._tx``). The whole schema
stands here, in one place, because opening the file creates and upgrades every
table at once; each table's rows and methods are in a module of their own.

Local paths (a file to send, a download folder) are the machine's own names,
which need not be UTF-8: such a path is stored as its bytes (a BLOB) and read
back as the same ``str`` (``path_in``, ``path_out``), so the file it names can
still be opened.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from chatty_p2p.errors import StoreError

SCHEMA_VERSION = 4
ADDED_COLUMNS = (
    ("trusted", "INTEGER NOT NULL DEFAULT 0"),  # version 2
    ("blocked", "INTEGER NOT NULL DEFAULT 0"),  # version 3
    ("device", "TEXT NOT NULL DEFAULT ''"),  # version 4
)
"""The peers table's columns added since version 1, for a database made before them."""
_SCHEMA = """
CREATE TABLE IF NOT EXISTS peers (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    first_seen  REAL NOT NULL,
    last_seen   REAL NOT NULL,
    addresses   TEXT NOT NULL DEFAULT '[]',
    manual      INTEGER NOT NULL DEFAULT 0,
    trusted     INTEGER NOT NULL DEFAULT 0,
    blocked     INTEGER NOT NULL DEFAULT 0,
    device      TEXT NOT NULL DEFAULT ''
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


def path_in(path: str) -> str | bytes:
    """A local path as SQLite can store it: text, or its bytes if it is not UTF-8."""
    try:
        path.encode("utf-8")
        return path
    except UnicodeEncodeError:
        return path.encode("utf-8", "surrogateescape")


def path_out(value: str | bytes) -> str:
    return value if isinstance(value, str) else value.decode("utf-8", "surrogateescape")


class Database:
    """An open database: the base of each table's methods, which ``Store`` joins."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            # Owner-only from the first byte; SQLite gives its -wal and -shm files the same mode.
            # (On Windows a mode is only a read-only bit: the data dir's ACL keeps others out.)
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
            self._db = sqlite3.connect(path, timeout=10, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            # executescript commits on its own; every statement in it is idempotent.
            self._db.executescript(_SCHEMA)
            columns = {row[1] for row in self._db.execute("PRAGMA table_info(peers)")}
            for column, kind in ADDED_COLUMNS:
                if column not in columns:
                    self._db.execute(f"ALTER TABLE peers ADD COLUMN {column} {kind}")
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
