"""The HELLO exchange that turns an authenticated TLS stream into a ``Connection``:
the same on both ends, the dialler's (``dialling``) and the listener's
(``accepting``), so it lives apart from either and neither imports the other.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from chatty_p2p.errors import IdentityMismatch, PeerError, RefusedByPeer, RemoteProtocolError
from chatty_p2p.net.connection import READ_SIZE, Connection
from chatty_p2p.protocol.limits import Budget
from chatty_p2p.protocol.messages import (
    ClosedByPeer,
    Event,
    Hello,
    HelloReceived,
    PeerReportedError,
)
from chatty_p2p.protocol.session import Session

Budgets = Callable[[str], tuple[Budget, Budget]]
"""A peer's rate budgets (incoming, outgoing) by its device id: they outlive its
sessions (see ``Session.share_budgets``)."""


def fresh_budgets(_peer_id: str) -> tuple[Budget, Budget]:
    """Budgets for a connection with no memory of the peer: tools and tests."""
    return Budget(), Budget.outgoing()


async def exchange_hellos(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    local: Hello,
    cert_id: str,
    dialed: bool,
    budgets: Budgets,
) -> Connection:
    session = Session(local)
    # The certificate names the peer before its HELLO does: what arrives behind the
    # HELLO in the same read counts against its lasting budget too. Checked only
    # from the read loop on, a reconnect brought a fresh burst of a read's worth.
    session.share_budgets(*budgets(cert_id))
    session.start()
    writer.write(session.data_to_send())
    early: list[Event] = []
    loop = asyncio.get_running_loop()
    while session.peer is None:
        data = await reader.read(READ_SIZE)
        if not data:
            raise PeerError("the peer closed the connection during the handshake")
        try:
            events = session.receive_data(data, loop.time())
        except RemoteProtocolError as exc:
            session.fail(exc)
            writer.write(session.data_to_send())
            raise
        for event in events:
            if isinstance(event, PeerReportedError):
                raise RefusedByPeer(event.code, event.message)
            if isinstance(event, ClosedByPeer):
                raise PeerError(f"the peer closed the connection: {event.reason}")
            if isinstance(event, HelloReceived) and event.hello.device_id != cert_id:
                error = RemoteProtocolError(
                    "HELLO id does not match the TLS certificate", "identity"
                )
                session.fail(error)
                writer.write(session.data_to_send())
                raise IdentityMismatch(str(error))
            if not isinstance(event, HelloReceived):
                early.append(event)
    return Connection(reader, writer, session, dialed, early)
