"""What a node tells its faces: one frozen dataclass per kind of event, and their one
JSON codec.

Every face reads these types: the window (through ``gui/bridge``), the command line
(``cli/events`` describes them; a one-shot node hands them over as they are) and the
tests. The control socket sends ``event.to_json()`` and the command line's client side
reads it back with ``NodeEvent.from_json``; ``chatty daemon --json`` prints the same
objects, one a line. The JSON shape of an event::

    {"type": "message", "time": 1700000000.0, "peer": {...}, "message": {...}}

``type`` and ``time`` always; then the payload of its kind, each part under its own
name (``peer``, ``message``, ``transfer``, ``pairing``), a part that is absent left out,
and ``text`` only when it is not empty. ``tests/test_events.py`` pins it.

Every kind has all five payload attributes, so code that looks at any event may ask
``event.transfer``; a kind's class narrows those it always carries (``NewMessage.message``
is a ``StoredMessage``), and its constructor refuses the ones it never carries.

This module is light on purpose: ``chatty say`` through a daemon decodes events and must
not load the node (``tests/test_startup.py``).

It is also the faces' vocabulary: the values events carry (``TransferInfo``,
``StoredMessage``) and the plain helpers that put them into words (``human_size``,
``short_id``) are re-exported here, so the window and the command line import the
node's API, ``api`` and ``events`` and never the core's modules (``.importlinter``,
"faces-use-the-api").
"""

from __future__ import annotations

import enum
import json
import time
from dataclasses import MISSING, asdict, dataclass, field, fields
from typing import Any, ClassVar, TypeVar

from chatty_p2p.device import UNKNOWN, device_type
from chatty_p2p.errors import ChattyError
from chatty_p2p.files.model import FINISHED as FINISHED
from chatty_p2p.files.model import OFFER_TTL as OFFER_TTL
from chatty_p2p.files.model import RESUMABLE as RESUMABLE
from chatty_p2p.files.model import FileInfo as FileInfo
from chatty_p2p.files.model import TransferInfo as TransferInfo
from chatty_p2p.files.model import TransferState as TransferState
from chatty_p2p.files.model import human_size as human_size
from chatty_p2p.files.model import items as items
from chatty_p2p.identity import format_fingerprint as format_fingerprint
from chatty_p2p.identity import short_id as short_id
from chatty_p2p.protocol.pairing import PAIR_TTL as PAIR_TTL
from chatty_p2p.protocol.pairing import normalise_code as normalise_code
from chatty_p2p.protocol.text import has_visible_name as has_visible_name
from chatty_p2p.store import StoredMessage as StoredMessage


class EventType(enum.StrEnum):
    """The kinds of event, by the name they have in JSON (``"type"``)."""

    PEER_DISCOVERED = "peer-discovered"
    PEER_UPDATED = "peer-updated"
    PEER_ONLINE = "peer-online"
    PEER_OFFLINE = "peer-offline"
    PEER_LOST = "peer-lost"
    MESSAGE = "message"
    MESSAGE_STATUS = "message-status"
    NAME_CHANGED = "name-changed"
    WARNING = "warning"
    TRANSFER = "transfer"
    TRANSFER_OFFERED = "transfer-offered"
    TRANSFER_PROGRESS = "transfer-progress"
    PAIRING = "pairing"
    CLIPBOARD = "clipboard"


class MalformedEvent(ChattyError):
    """An event from the control socket that is not one this Chatty knows how to read."""


@dataclass(frozen=True)
class PairingInfo:
    """One pairing attempt as a face shows it.

    ``state``: ``exchanging`` (no code yet), ``compare`` (show the code, ask the
    user), ``waiting-peer`` (our user said yes), ``paired`` or ``failed``.
    """

    peer_id: str
    peer_name: str
    state: str
    code: str
    initiator: bool
    error: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


VIA = ("chatty", "localsend")


@dataclass(frozen=True)
class Peer:
    """What a face shows about a peer at one moment."""

    id: str
    name: str
    online: bool
    discovered: bool
    known: bool
    addresses: tuple[str, ...]
    last_seen: float
    conflict: str | None = None
    """Id of the trusted peer whose name this one claims, if refused for that."""
    trust: str = "unverified"
    """``trusted`` (paired), ``unverified`` or ``blocked``."""
    clock_skew: float | None = None
    """Seconds the peer's clock was ahead of ours when it connected (if it said)."""
    refused_by: str = ""
    """Why the peer ended our last session with an ERROR (it refuses us), if it did."""
    device: str = UNKNOWN
    """What the peer says it is in its mDNS record (laptop, desktop, server...: one of
    ``device.DEVICE_TYPES``); "unknown" if it did not say or said something else."""
    via: str = "chatty"
    """How it is reached: ``chatty`` (a Chatty peer, pinned TLS) or ``localsend`` (a
    device running LocalSend, which nobody verifies)."""

    def __post_init__(self) -> None:
        # Whatever made this (a record, the control socket's JSON), only a known word.
        object.__setattr__(self, "device", device_type(self.device))
        if self.via not in VIA:
            object.__setattr__(self, "via", "chatty")

    @property
    def short_id(self) -> str:
        return short_id(self.id)

    @property
    def state(self) -> str:
        if self.trust == "blocked":
            return "blocked"
        if self.conflict:
            return "refused: key changed"
        if self.online:
            return "online"
        if self.refused_by:
            return "refuses us"
        return "seen" if self.discovered else "offline"

    @classmethod
    def from_json(cls, data: object) -> Peer:
        """A peer from its ``to_dict`` (as the API answers it); ``MalformedEvent`` if not."""
        return _decode_dataclass(cls, data, "peer")

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "state": self.state,
            "online": self.online,
            "discovered": self.discovered,
            "known": self.known,
            "trust": self.trust,
            "conflict": self.conflict,
            "addresses": list(self.addresses),
            "clock_skew": self.clock_skew,
            "refused_by": self.refused_by,
            "last_seen": self.last_seen,
            "device": self.device,
            "via": self.via,
        }


# ----- the event kinds -------------------------------------------------------

PAYLOAD = ("peer", "message", "transfer", "pairing", "text")
"""The parts an event may carry, in the order its JSON lists them."""


@dataclass(frozen=True, kw_only=True)
class NodeEvent:
    """Something a face may want to show; the base of every kind (see the module)."""

    type: ClassVar[EventType]
    carries: ClassVar[frozenset[str]] = frozenset()
    """The payload parts this kind may have; the others stay empty."""

    peer: Peer | None = None
    message: StoredMessage | None = None
    transfer: TransferInfo | None = None
    pairing: PairingInfo | None = None
    text: str = ""
    time: float = field(default_factory=time.time)

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name not in PAYLOAD:
                continue
            if f.name not in self.carries and value not in (None, ""):
                raise TypeError(f"a {self.type} event carries no {f.name}")
            # A part a kind narrows (``NewMessage.message: StoredMessage``) inherits the
            # base's default None, so that it must be given is checked here.
            if value is None and not str(f.type).endswith("| None"):
                raise TypeError(f"a {self.type} event needs its {f.name}")

    def to_json(self) -> dict[str, Any]:
        """The event as a JSON object (what the control socket and ``daemon --json``
        send)."""
        out: dict[str, Any] = {"type": str(self.type), "time": self.time}
        for name in PAYLOAD:
            value = getattr(self, name)
            if name == "text":
                if value:
                    out["text"] = value
            elif value is not None:
                out[name] = value.to_dict()
        return out

    @staticmethod
    def from_json(data: object) -> NodeEvent:
        """The event an object made by ``to_json`` stands for (or that object as JSON
        text). Raises ``MalformedEvent``, saying what is wrong, for anything else."""
        if isinstance(data, (str, bytes)):
            try:
                data = json.loads(data)
            except ValueError as exc:
                raise MalformedEvent(f"an event that is not JSON: {exc}") from None
        if not isinstance(data, dict):
            raise MalformedEvent(f"an event must be a JSON object, not {_kind_of(data)}")
        kind = data.get("type")
        cls = KINDS.get(kind) if isinstance(kind, str) else None
        if cls is None:
            raise MalformedEvent(f"an event of unknown type {kind!r}")
        try:
            moment = data.get("time", MISSING)
            if isinstance(moment, bool) or not isinstance(moment, (int, float)):
                raise MalformedEvent("its time is missing or not a number")
            parts: dict[str, Any] = {"time": float(moment)}
            for name in cls.carries:
                if name not in data:
                    continue
                if name == "text":
                    parts["text"] = _check(data["text"], "str", "text")
                else:
                    parts[name] = _decode_part(name, data[name])
            return cls(**parts)
        except MalformedEvent as exc:
            raise MalformedEvent(f"a {kind} event the daemon sent: {exc}") from None
        except TypeError as exc:  # a part this kind must carry is missing
            raise MalformedEvent(f"a {kind} event the daemon sent: {exc}") from None


@dataclass(frozen=True, kw_only=True)
class PeerDiscovered(NodeEvent):
    """Discovery brought a peer we had not seen this run."""

    type = EventType.PEER_DISCOVERED
    carries = frozenset({"peer"})
    peer: Peer


@dataclass(frozen=True, kw_only=True)
class PeerUpdated(NodeEvent):
    """A peer's name, addresses or trust changed."""

    type = EventType.PEER_UPDATED
    carries = frozenset({"peer"})
    peer: Peer


@dataclass(frozen=True, kw_only=True)
class PeerOnline(NodeEvent):
    type = EventType.PEER_ONLINE
    carries = frozenset({"peer"})
    peer: Peer


@dataclass(frozen=True, kw_only=True)
class PeerOffline(NodeEvent):
    """The peer's session ended; ``text`` says why."""

    type = EventType.PEER_OFFLINE
    carries = frozenset({"peer", "text"})
    peer: Peer


@dataclass(frozen=True, kw_only=True)
class PeerLost(NodeEvent):
    """Discovery no longer sees the peer."""

    type = EventType.PEER_LOST
    carries = frozenset({"peer"})
    peer: Peer


@dataclass(frozen=True, kw_only=True)
class NewMessage(NodeEvent):
    """A message joined a conversation: one that came, or one we sent."""

    type = EventType.MESSAGE
    carries = frozenset({"peer", "message"})
    peer: Peer
    message: StoredMessage


@dataclass(frozen=True, kw_only=True)
class MessageStatus(NodeEvent):
    """A message of ours changed status; ``text`` is the peer's reason if it could not
    keep it, or why it waits here."""

    type = EventType.MESSAGE_STATUS
    carries = frozenset({"peer", "message", "text"})
    peer: Peer
    message: StoredMessage


@dataclass(frozen=True, kw_only=True)
class NameChanged(NodeEvent):
    """This node's own name is now ``text``."""

    type = EventType.NAME_CHANGED
    carries = frozenset({"text"})


@dataclass(frozen=True, kw_only=True)
class NodeWarning(NodeEvent):
    """Something the user should know (``text``), about a peer or about this node."""

    type = EventType.WARNING
    carries = frozenset({"peer", "text"})


@dataclass(frozen=True, kw_only=True)
class TransferChanged(NodeEvent):
    """A transfer began or changed state."""

    type = EventType.TRANSFER
    carries = frozenset({"transfer"})
    transfer: TransferInfo


@dataclass(frozen=True, kw_only=True)
class TransferOffered(NodeEvent):
    """A peer offers files and waits for the user's answer. ``peer`` is not set by the
    node; ``chatty daemon`` adds it so its line can say whether the sender is paired."""

    type = EventType.TRANSFER_OFFERED
    carries = frozenset({"transfer", "peer"})
    transfer: TransferInfo


@dataclass(frozen=True, kw_only=True)
class TransferProgress(NodeEvent):
    """Bytes moved (a tick: no state changed)."""

    type = EventType.TRANSFER_PROGRESS
    carries = frozenset({"transfer"})
    transfer: TransferInfo


@dataclass(frozen=True, kw_only=True)
class PairingChanged(NodeEvent):
    """A step of a pairing attempt."""

    type = EventType.PAIRING
    carries = frozenset({"pairing"})
    pairing: PairingInfo


@dataclass(frozen=True, kw_only=True)
class CopyToClipboard(NodeEvent):
    """Text from a paired peer (``text``) a face should put on the clipboard (see
    ``auto_copy_trusted``)."""

    type = EventType.CLIPBOARD
    carries = frozenset({"peer", "text"})
    peer: Peer


KINDS: dict[str, type[NodeEvent]] = {
    cls.type: cls
    for cls in (
        PeerDiscovered,
        PeerUpdated,
        PeerOnline,
        PeerOffline,
        PeerLost,
        NewMessage,
        MessageStatus,
        NameChanged,
        NodeWarning,
        TransferChanged,
        TransferOffered,
        TransferProgress,
        PairingChanged,
        CopyToClipboard,
    )
}
"""Each kind's class, by its JSON name: one for every ``EventType``."""

PEER_KINDS = (PeerDiscovered, PeerUpdated, PeerOnline, PeerOffline, PeerLost)


# ----- decoding the parts ----------------------------------------------------

_T = TypeVar("_T")


def _kind_of(value: object) -> str:
    return "null" if value is None else type(value).__name__


def _check(value: object, spelled: str, name: str) -> Any:
    """``value`` as a field of type ``spelled`` (a dataclass annotation, as written)
    holds it, or ``MalformedEvent``."""
    optional = spelled.endswith(" | None")
    base = spelled.removesuffix(" | None")
    if value is None and optional:
        return None
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    ok = {
        "str": isinstance(value, str),
        "bool": isinstance(value, bool),
        "int": isinstance(value, int) and not isinstance(value, bool),
        "float": number,
        "list[str]": isinstance(value, list) and all(isinstance(v, str) for v in value),
        "tuple[str, ...]": isinstance(value, list) and all(isinstance(v, str) for v in value),
    }.get(base)
    if ok is None:  # pragma: no cover - a payload field of a type not listed above
        raise AssertionError(f"no JSON decoding for {spelled}")
    if not ok:
        raise MalformedEvent(f"{name} should be {spelled}, not {_kind_of(value)}")
    if base == "float":
        return float(value)  # type: ignore[arg-type]
    if base == "tuple[str, ...]":
        return tuple(value)  # type: ignore[arg-type]
    if base == "list[str]":
        return list(value)  # type: ignore[call-overload]
    return value


def _decode_dataclass(cls: type[_T], data: object, name: str) -> _T:
    """One payload part, from the object its ``to_dict`` made: each field checked
    against its annotation; keys the dataclass does not have (``Peer``'s derived
    ``state``) are ignored, and a field with a default may be absent."""
    if not isinstance(data, dict):
        raise MalformedEvent(f"{name} should be an object, not {_kind_of(data)}")
    values: dict[str, Any] = {}
    for f in fields(cls):  # type: ignore[arg-type]
        if f.name in data:
            values[f.name] = _check(data[f.name], str(f.type), f"{name}.{f.name}")
        elif f.default is MISSING and f.default_factory is MISSING:
            raise MalformedEvent(f"{name} has no {f.name}")
    return cls(**values)


def _decode_part(name: str, data: object) -> object:
    if name == "peer":
        return _decode_dataclass(Peer, data, name)
    if name == "message":
        return _decode_dataclass(StoredMessage, data, name)
    if name == "transfer":
        return _decode_dataclass(TransferInfo, data, name)
    return _decode_dataclass(PairingInfo, data, name)
