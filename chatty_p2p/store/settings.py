"""Settings: a few named values (the node's name, the download folder, switches), one
of which is also read without opening the store (``peek_setting``), by a command
that runs no node.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from chatty_p2p.store.database import Database, path_in, path_out


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
    return path_out(row[0]) if row and row[0] else None


class SettingsTable(Database):
    """The ``settings`` table's methods."""

    def setting(self, key: str, default: str | None = None) -> str | None:
        rows = self._query("SELECT value FROM settings WHERE key = ?", (key,))
        return path_out(rows[0][0]) if rows else default

    def set_setting(self, key: str, value: str) -> None:
        """Store a setting; a path among them (the download folder) need not be UTF-8."""
        with self._tx() as db:
            db.execute(
                "INSERT OR REPLACE INTO settings (key, value) VALUES (?, ?)",
                (key, path_in(value)),
            )
