"""Caps on what strangers can make a node hold before they prove who they are.

Every accepted socket takes a slot for its remote address until it closes;
until its handshake is done it also takes a handshake slot, of which each
address gets a few and everyone together a bounded number. A flood of
connections (one host opening 500 at once, or a slowloris that never finishes
its preamble) thus costs a bounded number of sockets and buffers, and, since
the handshake itself has a deadline, only for seconds, while peers on other
addresses keep being served. Slots are taken in the accept loop itself, before
any task runs, so a burst of accepts cannot slip past stale counts.
"""

from __future__ import annotations

from collections import Counter
from types import TracebackType

MAX_PER_ADDRESS = 32
"""Open connections from one address: control and bulk, handshaking or not."""
MAX_HANDSHAKES_PER_ADDRESS = 8
MAX_HANDSHAKES = 256
"""Unauthenticated connections in flight, over all addresses."""


class Refused(Exception):
    """No slot for this connection now; the text says which cap it hit."""


class Ticket:
    """One connection's slots; a context manager that gives them back on exit."""

    def __init__(self, admission: Admission, host: str) -> None:
        self._admission = admission
        self.host = host
        self._handshaking = True
        self._open = True

    def authenticated(self) -> None:
        """The handshake is over: give its slot back to the next stranger."""
        if self._handshaking:
            self._handshaking = False
            self._admission._release(self.host, handshake=True)

    def __enter__(self) -> Ticket:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.authenticated()
        if self._open:
            self._open = False
            self._admission._release(self.host, handshake=False)


class Admission:
    def __init__(self) -> None:
        self._open: Counter[str] = Counter()
        self._handshakes: Counter[str] = Counter()

    def enter(self, host: str) -> Ticket:
        """Slots for a new connection from ``host``, or ``Refused``."""
        if self._open[host] >= MAX_PER_ADDRESS:
            raise Refused(f"{MAX_PER_ADDRESS} connections from this address are already open")
        if self._handshakes[host] >= MAX_HANDSHAKES_PER_ADDRESS:
            raise Refused(f"{MAX_HANDSHAKES_PER_ADDRESS} handshakes from this address in progress")
        if self._handshakes.total() >= MAX_HANDSHAKES:
            raise Refused(f"{MAX_HANDSHAKES} handshakes in progress")
        self._open[host] += 1
        self._handshakes[host] += 1
        return Ticket(self, host)

    def _release(self, host: str, handshake: bool) -> None:
        counter = self._handshakes if handshake else self._open
        counter[host] -= 1
        if counter[host] <= 0:
            del counter[host]
