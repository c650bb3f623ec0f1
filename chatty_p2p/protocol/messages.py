"""What a control session carries, as values: who a peer says it is (HELLO), a chat
message, an offer of files, and the events a ``session.Session`` gives for what
arrives; with the protocol's versions and the limits on what a message may hold."""

from __future__ import annotations

from dataclasses import dataclass

from chatty_p2p.protocol.pairing import PairMessage

PROTOCOL_VERSION = 4
"""2: the bulk channel's receiver reports LANDED and resumable ERRORs while it works.
3: HELLO says how many bulk connections (``lanes``) one transfer may use; a large
file can then travel in ranges over several at once (see ``bulk``).
4: ENDED answers a RESUME for a transfer that ended (an older peer hears CANCEL)."""
LANES_SINCE = 3
"""The protocol version from which a transfer may use several bulk connections."""
ENDED_SINCE = 4
"""The protocol version from which a peer understands ENDED."""
MAX_LANES = 4
"""Bulk connections one transfer uses at most: each costs about a core on each side."""
MIN_PROTOCOL_VERSION = 2
"""A version-1 sender treats LANDED as a violation and fails the transfer, so it is
told to update at HELLO instead of failing mid-transfer."""
MAX_TEXT_BYTES = 64 * 1024
MAX_OFFER_NAMES = 8
MAX_FILE_NAME = 1024
MAX_FILES = 1_000_000
MAX_TOTAL_SIZE = 2**62


@dataclass(frozen=True, slots=True)
class Hello:
    """Who the peer says it is. ``device_id`` is checked against its TLS certificate."""

    device_id: str
    name: str
    boot: str
    port: int
    version: int = PROTOCOL_VERSION
    time: float | None = None
    """The sender's wall clock when it said hello (absent from older builds): a
    clock hours off makes message times wrong, and ``chatty doctor`` says so."""
    lanes: int = 1
    """Bulk connections this side will use for one transfer at once (its spare cores,
    at most ``MAX_LANES``); 1 with a version-2 peer, which knows no ranges."""


@dataclass(frozen=True, slots=True)
class ChatMessage:
    """A text or link message as it travels. ``ts`` is the sender's Unix time."""

    id: str
    ts: float
    kind: str
    body: str


@dataclass(frozen=True, slots=True)
class Offer:
    """What a receiver is asked to consent to: how many files, how big, a few names."""

    id: str
    count: int
    size: int
    names: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class HelloReceived:
    hello: Hello


@dataclass(frozen=True, slots=True)
class MessageReceived:
    message: ChatMessage


@dataclass(frozen=True, slots=True)
class ReceiptReceived:
    message_id: str


@dataclass(frozen=True, slots=True)
class NackReceived:
    """The peer could not keep a message (its disk is full): it stays unacknowledged
    here, to be sent again; ``reason`` is the peer's, for the user."""

    message_id: str
    reason: str


@dataclass(frozen=True, slots=True)
class ProfileReceived:
    name: str


@dataclass(frozen=True, slots=True)
class ClosedByPeer:
    reason: str


@dataclass(frozen=True, slots=True)
class PeerReportedError:
    code: str
    message: str


@dataclass(frozen=True, slots=True)
class OfferReceived:
    offer: Offer


@dataclass(frozen=True, slots=True)
class AnswerReceived:
    transfer_id: str
    accepted: bool
    reason: str


@dataclass(frozen=True, slots=True)
class CancelReceived:
    transfer_id: str
    reason: str


@dataclass(frozen=True, slots=True)
class ResumeRequested:
    transfer_id: str


@dataclass(frozen=True, slots=True)
class EndedReceived:
    transfer_id: str
    failed: bool
    """False: every file arrived and was verified; True: ``reason`` says what failed."""
    reason: str


@dataclass(frozen=True, slots=True)
class PairReceived:
    message: PairMessage


@dataclass(frozen=True, slots=True)
class UnknownFrameReceived:
    frame_type: int


Event = (
    HelloReceived
    | MessageReceived
    | ReceiptReceived
    | NackReceived
    | ProfileReceived
    | OfferReceived
    | AnswerReceived
    | CancelReceived
    | ResumeRequested
    | EndedReceived
    | PairReceived
    | ClosedByPeer
    | PeerReportedError
    | UnknownFrameReceived
)
