"""The SQLite store: known peers with their pinned certificates, messages, transfers, settings.

Callers hold one ``Store`` and import from this package. Each table's rows and
methods live in a module of their own (``peers``, ``messages``, ``transfers``,
``settings``) over ``database``, which opens the file and holds what they share;
``Store`` joins them into the one handle, so a caller never needs to know which
table a method reads. The tables' modules never import one another.
"""

from chatty_p2p.store.messages import DELIVERED, QUEUED, RECEIVED, SENT, MessageTable, StoredMessage
from chatty_p2p.store.peers import PeerRecord, PeerTable
from chatty_p2p.store.settings import SettingsTable, peek_setting
from chatty_p2p.store.transfers import TransferRecord, TransferTable

__all__ = [
    "DELIVERED",
    "QUEUED",
    "RECEIVED",
    "SENT",
    "PeerRecord",
    "Store",
    "StoredMessage",
    "TransferRecord",
    "peek_setting",
]


class Store(SettingsTable, PeerTable, MessageTable, TransferTable):
    """The database, open: every table's methods on one handle (see ``Database``)."""
