"""The headless core every face drives: one asyncio ``Node`` per data dir (see
``core`` for how it works, and each part's module for its job)."""

from chatty_p2p.node.core import Node
from chatty_p2p.node.datadir import acquire_lock
from chatty_p2p.node.events import EventType, NodeEvent
from chatty_p2p.node.outbox import MAX_OUTBOX
from chatty_p2p.node.peers import MAX_ADDRESSES, Peer, clean_addresses, stored_addresses
from chatty_p2p.node.policy import FINGERPRINT_DIGITS
from chatty_p2p.node.sessions import MAX_STRANGER_DIALS

__all__ = [
    "FINGERPRINT_DIGITS",
    "MAX_ADDRESSES",
    "MAX_OUTBOX",
    "MAX_STRANGER_DIALS",
    "EventType",
    "Node",
    "NodeEvent",
    "Peer",
    "acquire_lock",
    "clean_addresses",
    "stored_addresses",
]
