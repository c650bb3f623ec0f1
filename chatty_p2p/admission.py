"""Caps on what strangers can make a node hold before they prove who they are.

Every accepted socket takes a slot for its remote address until it closes;
until its handshake is done it also takes one of the few handshake slots.
A flood of connections (one host opening 500 at once, or a slowloris that
never finishes its preamble) thus costs a bounded number of sockets and
buffers, and, since the handshake itself has a deadline, only for seconds,
while peers on other addresses keep being served.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

MAX_PER_ADDRESS = 32
"""Open connections from one address: control and bulk, handshaking or not."""
MAX_HANDSHAKES_PER_ADDRESS = 8
MAX_HANDSHAKES = 64
"""Unauthenticated connections in flight, over all addresses."""


class Ticket:
    def __init__(self, admission: Admission, host: str) -> None:
        self._admission = admission
        self.host = host
        self.handshaking = True

    def authenticated(self) -> None:
        """The handshake is over: give its slot back to the next stranger."""
        if self.handshaking:
            self.handshaking = False
            self._admission._handshakes[self.host] -= 1
            self._admission._handshaking -= 1


class Admission:
    def __init__(self) -> None:
        self._open: Counter[str] = Counter()
        self._handshakes: Counter[str] = Counter()
        self._handshaking = 0

    def check(self, host: str) -> str:
        """Why a new connection from ``host`` is refused now, or ``""``."""
        if self._open[host] >= MAX_PER_ADDRESS:
            return f"{MAX_PER_ADDRESS} connections from this address are already open"
        if self._handshakes[host] >= MAX_HANDSHAKES_PER_ADDRESS:
            return f"{MAX_HANDSHAKES_PER_ADDRESS} handshakes from this address in progress"
        if self._handshaking >= MAX_HANDSHAKES:
            return f"{MAX_HANDSHAKES} handshakes in progress"
        return ""

    @contextmanager
    def hold(self, host: str) -> Iterator[Ticket]:
        """Count a connection (checked with ``check`` just before) while it is open."""
        self._open[host] += 1
        self._handshakes[host] += 1
        self._handshaking += 1
        ticket = Ticket(self, host)
        try:
            yield ticket
        finally:
            ticket.authenticated()
            self._open[host] -= 1
            for counter in (self._open, self._handshakes):
                if counter[host] <= 0:
                    del counter[host]
