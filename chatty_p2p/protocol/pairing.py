"""Pairing: a six-digit code both users compare before they trust each other.

Why not just show a hash of the two certificates: a man in the middle who
re-signs the traffic with keys of his own could search for a pair of keys whose
two codes agree; a million tries is minutes of work. So each side adds a random
nonce, and the initiator *commits* to its nonce before it sees the responder's
(the numeric comparison of Bluetooth pairing, ZRTP's short authentication
string). An attacker relaying between two victims then gets one guess in a
million per attempt, and every failed attempt is a mismatch the users see.

The exchange runs inside an authenticated control session, so each side knows
the other's certificate hash (its device id) for sure::

    initiator  PAIR {op: "start",  commit: sha256(nonce_i)}
    responder  PAIR {op: "nonce",  nonce: nonce_r}
    initiator  PAIR {op: "reveal", nonce: nonce_i}
    both show  code(id_i, id_r, nonce_i, nonce_r)
    each       PAIR {op: "confirm"}  once its user says the codes match
               PAIR {op: "abort", reason}  on "no", a timeout or a bad reveal

A side is paired when its own user confirmed and the peer's confirm arrived.
If both users press "pair" at once, the side with the smaller device id keeps
the initiator's role and the other answers its start.

No sockets, no clocks: the caller feeds ``PairMessage``s and sends what comes
back; timeouts are the caller's.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from enum import Enum

from chatty_p2p.errors import LocalProtocolError

PAIR_TTL = 120.0
"""A pairing nobody finishes is cancelled after this many seconds: by the caller
(``trust``), whose clock it is; named here, with the exchange, so that a face can
say it without loading the connection stack."""

CODE_DIGITS = 6
_DOMAIN = b"chatty pairing v1\x00"
OPS = frozenset({"start", "nonce", "reveal", "confirm", "abort"})


@dataclass(frozen=True, slots=True)
class PairMessage:
    """One PAIR frame's content. ``value`` is the commitment or the nonce (hex), or the
    abort reason."""

    op: str
    value: str = ""


class PairState(Enum):
    WAIT_NONCE = "started"  # initiator: start sent
    WAIT_REVEAL = "answered"  # responder: nonce sent
    COMPARE = "compare"  # code known; waiting for the users
    PAIRED = "paired"
    FAILED = "failed"


def code_for(initiator_id: str, responder_id: str, nonce_i: bytes, nonce_r: bytes) -> str:
    """The six digits both sides show, grouped for reading: ``"042 917"``."""
    digest = hashlib.sha256(
        _DOMAIN + bytes.fromhex(initiator_id) + bytes.fromhex(responder_id) + nonce_i + nonce_r
    ).digest()
    number = int.from_bytes(digest[:8], "big") % 10**CODE_DIGITS
    text = f"{number:0{CODE_DIGITS}d}"
    return f"{text[:3]} {text[3:]}"


def normalise_code(text: str) -> str:
    """A code as a user typed it (``"042917"``, ``"042-917"``) in display form, or ``""``."""
    digits = "".join(text.split()).replace("-", "")
    if len(digits) != CODE_DIGITS or not digits.isascii() or not digits.isdigit():
        return ""
    return f"{digits[:3]} {digits[3:]}"


class Pairing:
    """One pairing attempt with one peer, from one side."""

    def __init__(self, local_id: str, peer_id: str, initiator: bool) -> None:
        self.local_id = local_id
        self.peer_id = peer_id
        self.initiator = initiator
        self.state = PairState.WAIT_NONCE if initiator else PairState.WAIT_REVEAL
        self.code = ""
        self.local_confirmed = False
        self.peer_confirmed = False
        self.error = ""
        self._nonce = secrets.token_bytes(32)
        self._peer_commit = b""

    @property
    def active(self) -> bool:
        return self.state not in (PairState.PAIRED, PairState.FAILED)

    def start(self) -> PairMessage:
        """The initiator's first message."""
        if not self.initiator or self.state is not PairState.WAIT_NONCE:
            raise LocalProtocolError("only a fresh initiator starts a pairing")
        return PairMessage("start", hashlib.sha256(self._nonce).hexdigest())

    def receive(self, message: PairMessage) -> PairMessage | None:
        """Feed the peer's message; returns what to send back, if anything."""
        if message.op == "abort":
            if self.active:
                self._fail(f"the peer cancelled: {message.value or 'no reason given'}")
            return None
        if not self.active:
            return None
        match (message.op, self.state):
            case ("start", PairState.WAIT_NONCE) if self.local_id > self.peer_id:
                # Both pressed "pair": the smaller id initiates, so this side answers.
                self.initiator = False
                self._nonce = secrets.token_bytes(32)
                return self._answer_start(message)
            case ("start", PairState.WAIT_NONCE):
                return None  # our own start wins; the peer will answer it
            case ("start", PairState.WAIT_REVEAL) if not self._peer_commit:
                return self._answer_start(message)
            case ("nonce", PairState.WAIT_NONCE):
                peer_nonce = bytes.fromhex(message.value)
                self.code = code_for(self.local_id, self.peer_id, self._nonce, peer_nonce)
                self.state = PairState.COMPARE
                return PairMessage("reveal", self._nonce.hex())
            case ("reveal", PairState.WAIT_REVEAL) if self._peer_commit:
                peer_nonce = bytes.fromhex(message.value)
                if hashlib.sha256(peer_nonce).digest() != self._peer_commit:
                    return self.abort("the revealed nonce does not match its commitment")
                self.code = code_for(self.peer_id, self.local_id, peer_nonce, self._nonce)
                self.state = PairState.COMPARE
                return None
            case ("confirm", PairState.COMPARE):
                self.peer_confirmed = True
                self._settle()
                return None
        return self.abort(f"unexpected {message.op!r} while {self.state.value}")

    def _answer_start(self, message: PairMessage) -> PairMessage:
        self._peer_commit = bytes.fromhex(message.value)
        self.state = PairState.WAIT_REVEAL
        return PairMessage("nonce", self._nonce.hex())

    def confirm(self) -> PairMessage:
        """The local user saw the same code on both screens."""
        if self.state is not PairState.COMPARE:
            raise LocalProtocolError("there is no code to confirm yet")
        self.local_confirmed = True
        self._settle()
        return PairMessage("confirm")

    def abort(self, reason: str) -> PairMessage:
        """Give up (codes differ, timeout, bad input); tell the peer why."""
        self._fail(reason)
        return PairMessage("abort", reason)

    def _settle(self) -> None:
        if self.local_confirmed and self.peer_confirmed:
            self.state = PairState.PAIRED

    def _fail(self, reason: str) -> None:
        self.state = PairState.FAILED
        self.error = reason
