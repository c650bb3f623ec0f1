"""The control-session state machine.

Rules
-----
* Both sides send HELLO as soon as TLS is up; nothing else may come first.
  A HELLO names a protocol version range; the session speaks the highest
  version both ranges share, or fails with ``version``.
* After HELLO the session is OPEN: PING/PONG keep it alive, MESSAGE carries a
  chat message, RECEIPT acknowledges one by id, PROFILE announces a rename.
  OFFER proposes a batch of files (a summary only: the manifest and the bytes
  travel on a separate bulk connection, see ``bulk``), ANSWER accepts or
  declines it, CANCEL stops a transfer from either side and RESUME asks the
  receiver to pick an interrupted one up again; ENDED is the receiver's answer
  to a RESUME for a transfer that already ended there (done, or failed), so that
  a sender that missed the end (its link broke just before the last word) ends
  the same way. File data never shares this
  connection, so it can never delay a chat message. PAIR carries one step of
  the pairing exchange (see ``pairing``). NACK says a MESSAGE was not kept (the
  receiver cannot write it: its disk is full): neither acknowledged nor lost,
  the sender tries it again later.
* Given the time, the session enforces ``limits`` on what it receives (a peer
  over budget gets ERROR ``rate-limit``) and paces what it sends: costly
  frames (messages, offers, …) wait in order until the budget allows them,
  while pings and receipts pass them, so a long backlog never looks like a
  dead link.
* BYE or ERROR from either side closes it; nothing is read after that.
* Every field a peer controls is type- and size-checked here; anything wrong
  raises ``RemoteProtocolError`` whose ``code`` goes back in an ERROR frame.
* A frame type this build does not know is reported as ``UnknownFrameReceived``
  and skipped, so a newer peer can add optional frames without a flag day.

The transitions are the ``_ALLOWED`` table below; the session has no clock and
no socket: the caller feeds bytes, reads events and sends ``data_to_send()``.
"""

from __future__ import annotations

import re
from collections import deque
from enum import Enum, auto
from typing import Any

from chatty_p2p.errors import LocalProtocolError, ProtocolError, RemoteProtocolError
from chatty_p2p.protocol import fields
from chatty_p2p.protocol.frames import (
    HEADER,
    Frame,
    FrameDecoder,
    FrameType,
    encode_json,
    finite,
)
from chatty_p2p.protocol.ids import DEVICE_ID
from chatty_p2p.protocol.limits import COSTLY, COSTLY_BURST, COSTLY_RATE, Budget
from chatty_p2p.protocol.messages import (
    MAX_FILE_NAME,
    MAX_FILES,
    MAX_LANES,
    MAX_OFFER_NAMES,
    MAX_TEXT_BYTES,
    MAX_TOTAL_SIZE,
    MIN_PROTOCOL_VERSION,
    PROTOCOL_VERSION,
    AnswerReceived,
    CancelReceived,
    ChatMessage,
    ClosedByPeer,
    EndedReceived,
    Event,
    Hello,
    HelloReceived,
    MessageReceived,
    NackReceived,
    Offer,
    OfferReceived,
    PairReceived,
    PeerReportedError,
    ProfileReceived,
    ReceiptReceived,
    ResumeRequested,
    UnknownFrameReceived,
)
from chatty_p2p.protocol.pairing import OPS, PairMessage
from chatty_p2p.protocol.text import MAX_NAME, MAX_REASON, clean_name, clean_text

_BOOT = re.compile(r"[0-9a-f]{16,32}")


class State(Enum):
    HANDSHAKE = auto()
    OPEN = auto()
    CLOSED = auto()


_ALLOWED: dict[State, frozenset[FrameType]] = {
    State.HANDSHAKE: frozenset({FrameType.HELLO, FrameType.BYE, FrameType.ERROR}),
    # Every costly frame (messages, offers, pairing: see ``limits``) and the cheap ones.
    State.OPEN: COSTLY
    | {
        FrameType.PING,
        FrameType.PONG,
        FrameType.RECEIPT,
        FrameType.NACK,
        FrameType.BYE,
        FrameType.ERROR,
    },
    State.CLOSED: frozenset(),
}


def _lanes(body: dict[str, Any]) -> int:
    """HELLO's ``lanes``: absent is 1; beyond ``MAX_LANES`` is capped, not refused."""
    if "lanes" not in body:
        return 1
    value: int = fields.field(body, "lanes", int, "HELLO")
    if value < 1:
        raise RemoteProtocolError("HELLO: field 'lanes' out of range", "malformed")
    return min(value, MAX_LANES)


def _message(body: dict[str, Any]) -> ChatMessage:
    ts = finite(body.get("ts"))
    if ts is None:
        raise RemoteProtocolError("MESSAGE: field 'ts' is not a time", "malformed")
    return ChatMessage(
        id=fields.item_id(body, "MESSAGE"),
        ts=ts,
        kind=fields.text(body, "kind", "MESSAGE", 16),
        body=fields.text(body, "body", "MESSAGE", MAX_TEXT_BYTES),
    )


def _goodbye(frame_type: FrameType, body: dict[str, Any]) -> ClosedByPeer | PeerReportedError:
    """BYE or ERROR: the peer ends the session; what it says is only shown, so a
    malformed reason is no reason to fail it."""
    if frame_type is FrameType.BYE:
        reason = body.get("reason")
        return ClosedByPeer(clean_text(reason) if isinstance(reason, str) and reason else "bye")
    code, message = body.get("code"), body.get("message")
    return PeerReportedError(
        clean_text(code, 64) if isinstance(code, str) and code else "unknown",
        clean_text(message) if isinstance(message, str) else "",
    )


def _about_an_item(frame_type: FrameType, body: dict[str, Any]) -> Event:
    """The frames about one message or transfer, named by its id."""
    name = frame_type.name
    item = fields.item_id(body, name)
    match frame_type:
        case FrameType.RECEIPT:
            return ReceiptReceived(item)
        case FrameType.NACK:
            return NackReceived(item, fields.reason(body, name))
        case FrameType.ANSWER:
            accepted = fields.field(body, "accept", bool, name)
            return AnswerReceived(item, accepted, fields.reason(body, name))
        case FrameType.CANCEL:
            return CancelReceived(item, fields.reason(body, name))
        case FrameType.RESUME:
            return ResumeRequested(item)
        case FrameType.ENDED:
            failed = fields.field(body, "failed", bool, name)
            return EndedReceived(item, failed, fields.reason(body, name))
    raise AssertionError(f"unhandled frame type {frame_type}")  # pragma: no cover


class Session:
    """One side of a control session; see the module docstring for the rules."""

    def __init__(self, local: Hello) -> None:
        self.local = local
        self.state = State.HANDSHAKE
        self.peer: Hello | None = None
        self._decoder = FrameDecoder()
        self._outgoing = bytearray()
        self._held: deque[tuple[FrameType, bytes]] = deque()
        self._in_budget = Budget()
        self._out_budget = Budget.outgoing()
        self._hello_sent = False
        self._ping_counter = 0

    def share_budgets(self, incoming: Budget, outgoing: Budget) -> None:
        """Count against budgets that outlive this session: the peer's own, kept by
        whoever knows who it is. Otherwise every reconnect would bring a fresh burst,
        and a flood would only need to reconnect; and our pacing would forget what
        the peer's side still remembers."""
        self._in_budget, self._out_budget = incoming, outgoing

    @property
    def budgets(self) -> tuple[Budget, Budget]:
        """The budgets counted against (incoming, outgoing), to keep for the peer."""
        return self._in_budget, self._out_budget

    @property
    def buffered(self) -> int:
        """Bytes held for a frame the peer has not finished: what this session costs
        beyond its fixed size, and nothing once it is closed."""
        return self._decoder.buffered

    # ----- sending -------------------------------------------------------

    def start(self) -> None:
        """Queue our HELLO; call once, right after TLS is up."""
        if self._hello_sent:
            raise LocalProtocolError("HELLO already sent")
        self._hello_sent = True
        self._queue(
            FrameType.HELLO,
            {
                "proto": [MIN_PROTOCOL_VERSION, PROTOCOL_VERSION],
                "id": self.local.device_id,
                "name": self.local.name,
                "boot": self.local.boot,
                "port": self.local.port,
                **({} if self.local.time is None else {"time": self.local.time}),
                "lanes": self.local.lanes,
            },
        )

    def send_message(self, message: ChatMessage) -> None:
        self._require_open("send a message")
        if len(message.body.encode("utf-8")) > MAX_TEXT_BYTES:
            raise LocalProtocolError(f"message longer than {MAX_TEXT_BYTES} bytes")
        self._queue(
            FrameType.MESSAGE,
            {"id": message.id, "ts": message.ts, "kind": message.kind, "body": message.body},
        )

    def send_receipt(self, message_id: str) -> None:
        self._require_open("acknowledge a message")
        self._queue(FrameType.RECEIPT, {"id": message_id})

    def send_nack(self, message_id: str, reason: str) -> None:
        """Say a message was not kept (it was not acknowledged either); a build that
        does not know NACK skips it and sends the message again next session."""
        self._require_open("refuse a message")
        self._queue(FrameType.NACK, {"id": message_id, "reason": reason[:MAX_REASON]})

    def send_profile(self, name: str) -> None:
        self._require_open("announce a name")
        self._queue(FrameType.PROFILE, {"name": clean_name(name)})

    def send_offer(self, offer: Offer) -> None:
        self._require_open("offer files")
        names = [n[:MAX_FILE_NAME] for n in offer.names[:MAX_OFFER_NAMES]]
        self._queue(
            FrameType.OFFER,
            {"id": offer.id, "count": offer.count, "size": offer.size, "names": names},
        )

    def send_answer(self, transfer_id: str, accepted: bool, reason: str = "") -> None:
        self._require_open("answer an offer")
        self._queue(
            FrameType.ANSWER,
            {"id": transfer_id, "accept": accepted, "reason": reason[:MAX_REASON]},
        )

    def send_cancel(self, transfer_id: str, reason: str) -> None:
        self._require_open("cancel a transfer")
        self._queue(FrameType.CANCEL, {"id": transfer_id, "reason": reason[:MAX_REASON]})

    def send_resume(self, transfer_id: str) -> None:
        self._require_open("ask for a resume")
        self._queue(FrameType.RESUME, {"id": transfer_id})

    def send_ended(self, transfer_id: str, failed: bool, reason: str) -> None:
        """Tell the sender how a transfer it asked about ended here (protocol 4)."""
        self._require_open("say how a transfer ended")
        body = {"id": transfer_id, "failed": failed, "reason": reason[:MAX_REASON]}
        self._queue(FrameType.ENDED, body)

    def send_pair(self, message: PairMessage) -> None:
        self._require_open("pair")
        self._queue(FrameType.PAIR, {"op": message.op, "value": message.value[:MAX_REASON]})

    def ping(self) -> None:
        self._require_open("ping")
        self._ping_counter += 1
        self._queue(FrameType.PING, {"n": self._ping_counter})

    def close(self, reason: str = "bye") -> None:
        """Queue a BYE (if the session got that far) and stop reading."""
        if self.state is not State.CLOSED and self._hello_sent:
            self._queue(FrameType.BYE, {"reason": reason[:MAX_REASON]})
        self._closed()

    def fail(self, error: ProtocolError) -> None:
        """Queue an ERROR frame describing ``error`` and close."""
        if self.state is not State.CLOSED:
            self._queue(FrameType.ERROR, {"code": error.code, "message": str(error)[:MAX_REASON]})
        self._closed()

    def _closed(self) -> None:
        # Held messages stay undelivered in the caller's store and go out next session.
        self._held.clear()
        self._decoder.clear()  # a megabyte of unfinished frame, say: nothing reads it now
        self.state = State.CLOSED

    def data_to_send(self, now: float | None = None) -> bytes:
        """Bytes to write now. Given the time, costly frames are paced (see
        ``send_delay``); without it everything queued comes out."""
        while self._held:
            frame_type, data = self._held[0]
            if now is not None:
                if self._out_budget.wait(now, frame_type, len(data)) > 0:
                    break
                self._out_budget.take(now, frame_type, len(data))
            self._outgoing += data
            self._held.popleft()
        data = bytes(self._outgoing)
        self._outgoing.clear()
        return data

    def send_delay(self, now: float) -> float | None:
        """Seconds until the next held frame may go, or ``None`` if none is held."""
        if not self._held:
            return None
        frame_type, data = self._held[0]
        return self._out_budget.wait(now, frame_type, len(data))

    # ----- receiving -----------------------------------------------------

    def receive_data(self, data: bytes, now: float | None = None) -> list[Event]:
        """Feed bytes from the peer; return the events they complete. Given the time,
        a peer sending faster than ``limits`` allows is a ``rate-limit`` error."""
        if self.state is State.CLOSED:
            return []
        events: list[Event] = []
        for frame in self._decoder.feed(data):
            if now is not None:
                size = HEADER.size + len(frame.payload)
                if self._in_budget.wait(now, frame.type, size) > 0:
                    raise RemoteProtocolError(
                        f"sending too fast (more than {COSTLY_BURST} messages at once "
                        f"or {COSTLY_RATE:.0f} a second)",
                        "rate-limit",
                    )
                self._in_budget.take(now, frame.type, size)
            event = self._handle(frame)
            if event is not None:
                events.append(event)
            if isinstance(event, ClosedByPeer | PeerReportedError):
                break  # nothing after BYE or ERROR is read
        return events

    def _handle(self, frame: Frame) -> Event | None:
        try:
            frame_type = FrameType(frame.type)
        except ValueError:
            if self.state is State.HANDSHAKE:
                raise RemoteProtocolError(
                    f"frame type {frame.type} before HELLO", "order"
                ) from None
            return UnknownFrameReceived(frame.type)
        if frame_type not in _ALLOWED[self.state]:
            raise RemoteProtocolError(
                f"{frame_type.name} not allowed while {self.state.name.lower()}", "order"
            )
        body = frame.json()
        match frame_type:
            case FrameType.HELLO:
                return self._on_hello(body)
            case FrameType.PING:
                self._queue(FrameType.PONG, {"n": fields.field(body, "n", int, "PING")})
                return None
            case FrameType.PONG:
                return None
            case FrameType.MESSAGE:
                return MessageReceived(_message(body))
            case FrameType.PROFILE:
                return ProfileReceived(
                    clean_name(fields.text(body, "name", "PROFILE", 4 * MAX_NAME))
                )
            case FrameType.OFFER:
                return OfferReceived(self._offer(body))
            case FrameType.PAIR:
                return PairReceived(self._pair(body))
            case FrameType.BYE | FrameType.ERROR:
                self._closed()
                return _goodbye(frame_type, body)
        return _about_an_item(frame_type, body)

    @staticmethod
    def _offer(body: dict[str, Any]) -> Offer:
        names = fields.field(body, "names", list, "OFFER")
        if len(names) > MAX_OFFER_NAMES or not all(
            isinstance(n, str) and len(n.encode("utf-8")) <= MAX_FILE_NAME for n in names
        ):
            raise RemoteProtocolError("OFFER: bad 'names'", "malformed")
        return Offer(
            id=fields.item_id(body, "OFFER"),
            count=fields.count(body, "count", "OFFER", MAX_FILES),
            size=fields.count(body, "size", "OFFER", MAX_TOTAL_SIZE),
            names=tuple(clean_text(n, MAX_FILE_NAME) for n in names),
        )

    @staticmethod
    def _pair(body: dict[str, Any]) -> PairMessage:
        op = fields.field(body, "op", str, "PAIR")
        if op not in OPS:
            raise RemoteProtocolError(f"PAIR: unknown op {op[:16]!r}", "malformed")
        if op in ("start", "nonce", "reveal"):
            return PairMessage(op, fields.text(body, "value", "PAIR", 64, DEVICE_ID))
        return PairMessage(op, clean_text(fields.text(body, "value", "PAIR", MAX_REASON)))

    def _on_hello(self, body: dict[str, Any]) -> HelloReceived:
        proto = body.get("proto")
        if (
            not isinstance(proto, list)
            or len(proto) != 2
            or not all(isinstance(v, int) and not isinstance(v, bool) for v in proto)
        ):
            raise RemoteProtocolError("HELLO: field 'proto' must be [min, max]", "malformed")
        low, high = proto
        version = min(high, PROTOCOL_VERSION)
        if version < max(low, MIN_PROTOCOL_VERSION):
            raise RemoteProtocolError(
                f"peer speaks protocol {low}-{high}, this build "
                f"{MIN_PROTOCOL_VERSION}-{PROTOCOL_VERSION}: update Chatty",
                "version",
            )
        port = fields.field(body, "port", int, "HELLO")
        if not 0 <= port <= 65535:
            raise RemoteProtocolError("HELLO: port out of range", "malformed")
        self.peer = Hello(
            device_id=fields.text(body, "id", "HELLO", 64, DEVICE_ID),
            name=clean_name(fields.text(body, "name", "HELLO", 4 * MAX_NAME)),
            boot=fields.text(body, "boot", "HELLO", 32, _BOOT),
            port=port,
            version=version,
            time=finite(body.get("time")),
            lanes=_lanes(body) if version >= 3 else 1,
        )
        self.state = State.OPEN
        return HelloReceived(self.peer)

    # ----- helpers -------------------------------------------------------

    def _require_open(self, what: str) -> None:
        if self.state is not State.OPEN:
            raise LocalProtocolError(f"cannot {what} while {self.state.name.lower()}")

    def _queue(self, frame_type: FrameType, body: dict[str, Any]) -> None:
        data = encode_json(frame_type, body)
        if frame_type in COSTLY:
            self._held.append((frame_type, data))
        else:
            self._outgoing += data
