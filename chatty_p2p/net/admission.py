"""Caps on what strangers can make a node hold before they prove who they are.

Every accepted socket takes a slot for its remote address until it closes;
until its handshake is done it also takes a handshake slot, of which each
address gets a few and everyone together a bounded number. A flood of
connections (one host opening 500 at once, or a slowloris that never finishes
its preamble) thus costs a bounded number of sockets and buffers, and, since
the handshake itself has a deadline, only for seconds, while peers on other
addresses keep being served. Slots are taken in the accept loop itself, before
any task runs, so a burst of accepts cannot slip past stale counts.

When every handshake slot is taken, a newcomer is not simply refused: that
would let 40 addresses holding 8 silent handshakes each lock out everyone,
a paired friend included. Instead it displaces the oldest handshake of the
address holding the most, as long as that address holds more than the
newcomer's; so no address keeps more than an even share while others want
in. Fairness is per address, not per prefix: on a LAN every host shares one
/24 (or /64), so a prefix would make the attacker and the friend one group.
A dialer whose preamble names a paired peer (``Ticket.known``) leaves the
strangers' pool at once and can no longer be displaced. The preamble is not
proof (a recorded one can be replayed; TLS then fails), so each paired id has
only ``MAX_KNOWN_HANDSHAKES`` such places; beyond them a claim counts as a
stranger's.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from types import TracebackType

from chatty_p2p.errors import ChattyError

MAX_PER_ADDRESS = 32
"""Open connections from one address: control and bulk, handshaking or not."""
MAX_HANDSHAKES_PER_ADDRESS = 8
MAX_HANDSHAKES = 256
"""Unauthenticated connections in flight, over all addresses."""
MAX_KNOWN_HANDSHAKES = 4
"""Handshakes in flight per paired id outside the strangers' pool: its control
session and a few file connections."""
WARN_EVERY = 60.0
"""Seconds between two warnings about the same address (see ``Hush``)."""
MAX_HUSHED = 4096


class Refused(ChattyError):
    """No slot for this connection now; the text says which cap it hit."""


class Ticket:
    """One connection's slots; a context manager that gives them back on exit."""

    def __init__(self, admission: Admission, host: str) -> None:
        self._admission = admission
        self.host = host
        self._handshaking = True
        self._open = True
        self._claims = ""
        """The paired id this handshake has a place for (see ``known``)."""
        self.evicted = False
        """Displaced by a newcomer (see the module docstring); ``on_evict`` was called."""
        self.on_evict: Callable[[], object] = lambda: None
        """Ends the connection's handshake; set by whoever runs it."""

    def authenticated(self) -> None:
        """The handshake is over: give its slot back to the next stranger."""
        if self._handshaking:
            self._handshaking = False
            self._admission._release(self, handshake=True)
        if self._claims:
            self._admission._unclaim(self._claims)
            self._claims = ""

    def known(self, peer_id: str) -> None:
        """The preamble names a paired peer: unless that id's places are taken, it
        leaves the strangers' pool and cannot be displaced (its deadline stays)."""
        if not self._handshaking or self._admission._known[peer_id] >= MAX_KNOWN_HANDSHAKES:
            return
        self._handshaking = False
        self._admission._release(self, handshake=True)
        self._admission._known[peer_id] += 1
        self._claims = peer_id

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
            self._admission._release(self, handshake=False)


class Admission:
    def __init__(self) -> None:
        self._open: Counter[str] = Counter()
        self._handshakes: Counter[str] = Counter()
        self._handshaking: dict[Ticket, None] = {}
        """Tickets still handshaking, oldest first."""
        self._known: Counter[str] = Counter()

    def enter(self, host: str) -> Ticket:
        """Slots for a new connection from ``host``, or ``Refused``."""
        if self._open[host] >= MAX_PER_ADDRESS:
            raise Refused(f"{MAX_PER_ADDRESS} connections from this address are already open")
        if self._handshakes[host] >= MAX_HANDSHAKES_PER_ADDRESS:
            raise Refused(f"{MAX_HANDSHAKES_PER_ADDRESS} handshakes from this address in progress")
        if self._handshakes.total() >= MAX_HANDSHAKES:
            self._displace_for(host)
        self._open[host] += 1
        self._handshakes[host] += 1
        ticket = Ticket(self, host)
        self._handshaking[ticket] = None
        return ticket

    def _displace_for(self, host: str) -> None:
        greedy, held = self._handshakes.most_common(1)[0]
        if held <= self._handshakes[host]:
            raise Refused(f"{MAX_HANDSHAKES} handshakes in progress")
        victim = next(t for t in self._handshaking if t.host == greedy)
        victim.authenticated()  # its slot is the newcomer's from now on
        victim.evicted = True
        victim.on_evict()

    def _unclaim(self, peer_id: str) -> None:
        self._known[peer_id] -= 1
        if self._known[peer_id] <= 0:
            del self._known[peer_id]

    def _release(self, ticket: Ticket, handshake: bool) -> None:
        counter = self._handshakes if handshake else self._open
        if handshake:
            del self._handshaking[ticket]
        counter[ticket.host] -= 1
        if counter[ticket.host] <= 0:
            del counter[ticket.host]


class Hush:
    """Says whether to warn about an address now: once per ``WARN_EVERY`` seconds
    each, so a flood of failed handshakes is seen in the log without filling it.
    Time is passed in; at most ``MAX_HUSHED`` addresses are remembered."""

    def __init__(self) -> None:
        self._last: dict[str, float] = {}

    def __call__(self, host: str, now: float) -> bool:
        last = self._last.get(host)
        if last is not None and now - last < WARN_EVERY:
            return False
        if len(self._last) >= MAX_HUSHED:
            self._last = {h: t for h, t in self._last.items() if now - t < WARN_EVERY}
            if len(self._last) >= MAX_HUSHED:
                return False  # a flood from thousands of addresses: enough was said
        self._last[host] = now
        return True
