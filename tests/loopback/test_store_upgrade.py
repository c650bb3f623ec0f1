"""A database from an older Chatty opens in this one: the peers table gains the
columns added since (trust, block, device type) and its rows keep what they had."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from chatty_p2p.store import PeerRecord, Store

VERSION_1_PEERS = """
CREATE TABLE peers (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    first_seen  REAL NOT NULL,
    last_seen   REAL NOT NULL,
    addresses   TEXT NOT NULL DEFAULT '[]',
    manual      INTEGER NOT NULL DEFAULT 0
);
INSERT INTO peers VALUES ('d' || hex(randomblob(31)), 'desk', 1.0, 2.0, '["10.0.0.2:4000"]', 1);
"""


def test_a_version_1_database_gains_the_new_columns_and_keeps_its_peer(tmp_path: Path) -> None:
    path = tmp_path / "chatty.db"
    db = sqlite3.connect(path)
    db.executescript(VERSION_1_PEERS)
    db.close()
    store = Store(path)
    try:
        [desk] = store.peers()
        assert (desk.name, desk.addresses, desk.manual) == ("desk", ["10.0.0.2:4000"], True)
        assert (desk.trusted, desk.blocked, desk.device) == (False, False, "")
        store.save_peer(PeerRecord(desk.id, "desk", addresses=desk.addresses, device="desktop"))
        store.save_peer(PeerRecord(desk.id, "desk", addresses=desk.addresses))  # said nothing
        again = store.peer(desk.id)
        assert again is not None and again.device == "desktop"
    finally:
        store.close()
