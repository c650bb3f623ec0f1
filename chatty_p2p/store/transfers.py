"""Transfers, both ways, with their manifests: a transfer and its manifest are
stored when offered or accepted, and each file's state as it lands, which is what
lets a transfer resume after either side restarts.
"""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass, field
from typing import Any

from chatty_p2p.protocol.bulk.wire import Entry
from chatty_p2p.store.database import Database, path_in, path_out


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


class TransferTable(Database):
    """The ``transfers`` and ``transfer_entries`` tables' methods."""

    _TRANSFER_COLUMNS = (
        "id, peer_id, outgoing, state, count, size, names, created, updated, done_bytes, "
        "folder, error"
    )

    @staticmethod
    def _transfer(row: tuple[Any, ...]) -> TransferRecord:
        values = list(row)
        values[2], values[6], values[10] = bool(row[2]), json.loads(row[6]), path_out(row[10])
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
                    path_in(record.folder),
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
        return [path_out(r[0]) for r in rows if r[0]]

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
                    path_in(record.folder),
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
            (key[0], key[1], int(key[2]), i, e.path, e.kind, e.size, e.mtime, path_in(where))
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
            [path_out(r[4]) for r in rows],
            [r[5] for r in rows],
        )

    def set_entries(
        self, key: tuple[str, str, bool], changes: list[tuple[int, str, str | None]]
    ) -> None:
        """Each (index, status, local path or None to keep it), in one transaction."""
        rows = [
            (status, None if local is None else path_in(local), key[0], key[1], int(key[2]), i)
            for i, status, local in changes
        ]
        with self._tx() as db:
            db.executemany(
                """UPDATE transfer_entries SET status = ?, local = COALESCE(?, local)
                   WHERE peer_id = ? AND transfer_id = ? AND outgoing = ? AND idx = ?""",
                rows,
            )
