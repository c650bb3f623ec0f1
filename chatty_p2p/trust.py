"""Pairing as the node runs it: one attempt per peer, over its control session.

The exchange itself is ``protocol.pairing``; this module adds what needs a
clock and a user: a deadline (``PAIR_TTL``), waiting for the code, the user's
yes or no (or the code they typed from the other screen), and telling the
faces at every step. A peer becomes trusted here only when both users have
said the codes match; the node decides what trust unlocks.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from dataclasses import dataclass
from typing import Protocol

from chatty_p2p.errors import ChattyError, LocalProtocolError, PeerError
from chatty_p2p.events import PairingInfo
from chatty_p2p.net.connection import Connection
from chatty_p2p.protocol.pairing import PAIR_TTL, Pairing, PairMessage, PairState, normalise_code

log = logging.getLogger(__name__)

CODE_WAIT = 10.0
"""How long ``start`` waits for the peer's half of the code."""
MAX_PAIRINGS = 8
"""Pairings running at once; more is someone pestering, not a user."""
ANSWERED_PER_WINDOW, ATTEMPT_WINDOW = 5, 600.0
"""Pairing requests this node answers unasked, from all peers together, per 10 minutes.
The responder sends its nonce before its user sees anything; without this cap a man in
the middle could abort and retry against it, unseen, until its code matched the other
victim's. Five tries in ten minutes leave him odds of 1 in 200,000."""


@dataclass
class _LivePairing:
    pairing: Pairing
    changed: asyncio.Event
    timer: asyncio.TimerHandle | None = None


class PairingHost(Protocol):
    """What pairing needs of the node that runs it."""

    def control(self, peer_id: str) -> Connection | None:
        """The peer's control session, if it is online."""

    def peer_name(self, peer_id: str) -> str: ...

    def pairing_changed(self, info: PairingInfo) -> None:
        """Tell the faces (every step of every attempt)."""

    def paired(self, peer_id: str) -> None:
        """Both users said the codes match: trust the peer."""

    def pairing_failed(self, peer_id: str) -> None: ...


class Pairings:
    def __init__(self, local_id: str, host: PairingHost) -> None:
        self._local_id = local_id
        self._host = host
        self._live: dict[str, _LivePairing] = {}
        self._answered: deque[float] = deque()

    def info(self, peer_id: str) -> PairingInfo | None:
        live = self._live.get(peer_id)
        return self._info(live.pairing) if live is not None else None

    def _info(self, pairing: Pairing) -> PairingInfo:
        state = pairing.state.value
        if pairing.state in (PairState.WAIT_NONCE, PairState.WAIT_REVEAL):
            state = "exchanging"
        elif pairing.state is PairState.COMPARE and pairing.local_confirmed:
            state = "waiting-peer"
        return PairingInfo(
            pairing.peer_id,
            self._host.peer_name(pairing.peer_id),
            state,
            pairing.code,
            pairing.initiator,
            pairing.error,
        )

    def all(self) -> list[PairingInfo]:
        return [self._info(live.pairing) for live in self._live.values()]

    async def start(self, peer_id: str) -> PairingInfo:
        """Begin pairing (or join the one the peer began) and wait for the code."""
        live = self._live.get(peer_id)
        if live is None:
            conn = self._require_connection(peer_id)
            self._check_capacity()
            live = self._begin(Pairing(self._local_id, peer_id, initiator=True))
            conn.send(lambda s: s.send_pair(live.pairing.start()))
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(CODE_WAIT):
                while live.pairing.state in (PairState.WAIT_NONCE, PairState.WAIT_REVEAL):
                    live.changed.clear()
                    await live.changed.wait()
        if live.pairing.state in (PairState.WAIT_NONCE, PairState.WAIT_REVEAL):
            self._send(peer_id, live.pairing.abort("no answer from the peer"))
            self._settle(live)
        info = self._info(live.pairing)
        if info.state == "failed":
            raise PeerError(f"pairing with {info.peer_name} failed: {info.error}")
        return info

    def confirm(self, peer_id: str, code: str | None = None) -> PairingInfo:
        """The user says the codes match; given ``code`` (typed from the other
        screen), it must equal ours, or the pairing is cancelled."""
        live = self._live.get(peer_id)
        if live is None or live.pairing.state is not PairState.COMPARE:
            raise ChattyError(
                f"no pairing with {self._host.peer_name(peer_id)} is waiting for a yes"
            )
        pairing = live.pairing
        if code is not None and normalise_code(code) != pairing.code:
            self._send(peer_id, pairing.abort("the codes differ"))
            self._settle(live)
            raise PeerError(
                f"the code you typed is not the one shown here ({pairing.code}); pairing "
                f"cancelled. If {self._host.peer_name(peer_id)} really shows another code, someone "
                "may be in between: do not pair on this network."
            )
        self._send(peer_id, pairing.confirm())
        self._settle(live)
        return self._info(pairing)

    def reject(self, peer_id: str, reason: str = "the codes differ") -> PairingInfo:
        live = self._live.get(peer_id)
        if live is None:
            raise ChattyError(f"no pairing with {self._host.peer_name(peer_id)} is running")
        self._send(peer_id, live.pairing.abort(reason))
        info = self._info(live.pairing)
        self._settle(live)
        return info

    def on_message(self, peer_id: str, message: PairMessage) -> None:
        live = self._live.get(peer_id)
        if live is None:
            if message.op != "start":
                return  # the end of an attempt we already gave up on
            if len(self._live) >= MAX_PAIRINGS or not self._may_answer():
                log.warning(
                    "refused a pairing request from %s: too many", self._host.peer_name(peer_id)
                )
                self._send(peer_id, PairMessage("abort", "too many pairing requests; try later"))
                return
            live = self._begin(Pairing(self._local_id, peer_id, initiator=False))
        before = self._info(live.pairing)
        reply = live.pairing.receive(message)
        if reply is not None:
            self._send(peer_id, reply)
        if self._info(live.pairing) != before:
            self._settle(live)

    def _may_answer(self) -> bool:
        now = time.monotonic()
        while self._answered and now - self._answered[0] > ATTEMPT_WINDOW:
            self._answered.popleft()
        if len(self._answered) >= ANSWERED_PER_WINDOW:
            return False
        self._answered.append(now)
        return True

    def on_offline(self, peer_id: str) -> None:
        live = self._live.get(peer_id)
        if live is not None:
            live.pairing.abort("the peer went offline")
            self._settle(live)

    def _begin(self, pairing: Pairing) -> _LivePairing:
        live = _LivePairing(pairing, asyncio.Event())
        live.timer = asyncio.get_running_loop().call_later(
            PAIR_TTL, self._expire, pairing.peer_id, pairing
        )
        self._live[pairing.peer_id] = live
        return live

    def _expire(self, peer_id: str, pairing: Pairing) -> None:
        live = self._live.get(peer_id)
        if live is not None and live.pairing is pairing:
            self._send(peer_id, pairing.abort("nobody confirmed the code in time"))
            self._settle(live)

    def _settle(self, live: _LivePairing) -> None:
        """Tell everyone about the new state; a finished attempt leaves the table."""
        pairing = live.pairing
        live.changed.set()
        if not pairing.active:
            if live.timer is not None:
                live.timer.cancel()
            if self._live.get(pairing.peer_id) is live:
                del self._live[pairing.peer_id]
            if pairing.state is PairState.PAIRED:
                self._host.paired(pairing.peer_id)
            else:
                name = self._host.peer_name(pairing.peer_id)
                log.info("pairing with %s failed: %s", name, pairing.error)
                self._host.pairing_failed(pairing.peer_id)
        self._host.pairing_changed(self._info(pairing))

    def _send(self, peer_id: str, message: PairMessage) -> None:
        conn = self._host.control(peer_id)
        if conn is not None:
            with contextlib.suppress(LocalProtocolError):
                conn.send(lambda s: s.send_pair(message))

    def _require_connection(self, peer_id: str) -> Connection:
        conn = self._host.control(peer_id)
        if conn is None:
            raise PeerError(
                f"{self._host.peer_name(peer_id)} is offline; both devices must be online to pair"
            )
        return conn

    def _check_capacity(self) -> None:
        if len(self._live) >= MAX_PAIRINGS:
            raise ChattyError("too many pairings are running; finish or cancel one first")
