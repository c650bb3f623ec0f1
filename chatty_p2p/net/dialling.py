"""Dialling a peer: ``dial`` one address (the preamble, TLS pinned to the key
expected, then HELLO), or ``dial_any`` of its addresses, happy-eyeballs style.

A module of its own because only the node's sessions dial, while a ``Connection``
is also what the listener accepts (``accepting``): the two ends share the class and
the HELLO exchange (``handshake``) and nothing else.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable
from typing import cast

from chatty_p2p.errors import ChattyError, DialFailed, why_failed
from chatty_p2p.identity import Identity
from chatty_p2p.net import tls
from chatty_p2p.net.connection import CONNECT_TIMEOUT, HANDSHAKE_TIMEOUT, Connection
from chatty_p2p.net.handshake import Budgets, exchange_hellos, fresh_budgets
from chatty_p2p.protocol import preamble
from chatty_p2p.protocol.messages import Hello

STAGGER = 0.25
"""Head start of each address over the next when dialling several (RFC 8305's 250 ms)."""


def happy_order(addresses: list[tuple[str, int]]) -> list[tuple[str, int]]:
    """The order to try a peer's addresses in (RFC 8305): IPv6 and IPv4 alternating,
    IPv6 first, link-local last; the first (the last one that worked) stays first."""
    if not addresses:
        return []
    head, rest = addresses[0], addresses[1:]
    six = [a for a in rest if ":" in a[0] and not a[0].startswith("fe80:")]
    six += [a for a in rest if a[0].startswith("fe80:")]
    four = [a for a in rest if ":" not in a[0]]
    mixed = [a for pair in zip(six, four, strict=False) for a in pair]
    shorter = min(len(six), len(four))
    return [head, *mixed, *six[shorter:], *four[shorter:]]


async def dial_any(
    addresses: list[tuple[str, int]],
    identity: Identity,
    local: Hello,
    expected_id: str | None,
    on_error: Callable[[str, int, ChattyError], None],
    budgets: Budgets = fresh_budgets,
) -> Connection | None:
    """Happy eyeballs: start a dial to the next address every ``STAGGER`` seconds (or
    at once when one fails) and keep the first that *authenticates*, not merely the
    first TCP answer: a stale address may reach some other machine. The rest are
    cancelled. ``None`` when none worked; each failure went to ``on_error``."""
    order = happy_order(addresses)
    running: dict[asyncio.Task[Connection], tuple[str, int]] = {}
    winner: Connection | None = None
    try:
        while (order or running) and winner is None:
            if order:
                host, port = order.pop(0)
                task = asyncio.ensure_future(
                    dial(host, port, identity, local, expected_id, budgets)
                )
                running[task] = (host, port)
            done, _ = await asyncio.wait(
                running, timeout=STAGGER if order else None, return_when=asyncio.FIRST_COMPLETED
            )
            for task in done:
                host, port = running.pop(task)
                exc = task.exception()
                if exc is None:
                    if winner is None:
                        winner = task.result()
                    else:  # two finished in the same instant: keep one
                        task.result().abort("duplicate session")
                elif isinstance(exc, ChattyError):
                    on_error(host, port, exc)
                else:
                    raise exc
    except BaseException:
        if winner is not None:
            winner.abort("dial abandoned")
        raise
    finally:
        for task in running:
            task.cancel()
        # Connections that authenticated while being cancelled are cut, not closed
        # politely: a goodbye could take seconds, and the winner waits for nothing.
        for late in await asyncio.gather(*running, return_exceptions=True):
            if isinstance(late, Connection):
                late.abort("duplicate session")
    return winner


def unanswered(seconds: float) -> str:
    """A timeout in words that say how long was waited: a bare "timed out" leaves the
    user guessing whether Chatty gave up at once. "timed out" stays first, the word
    ``errors.unreachable`` ranks a silent address by."""
    return f"timed out (no answer within {seconds:g} s)"


async def dial(
    host: str,
    port: int,
    identity: Identity,
    local: Hello,
    expected_id: str | None,
    budgets: Budgets = fresh_budgets,
) -> Connection:
    """Connect to ``host:port`` and authenticate; ``expected_id`` pins the peer's key."""
    try:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(host, port), CONNECT_TIMEOUT
        )
    except (OSError, TimeoutError) as exc:
        why = unanswered(CONNECT_TIMEOUT) if isinstance(exc, TimeoutError) else why_failed(exc)
        raise DialFailed(f"cannot connect to {host} port {port}: {why}", host, why) from exc
    try:
        async with asyncio.timeout(HANDSHAKE_TIMEOUT):
            writer.write(preamble.encode_request(preamble.ChannelKind.CONTROL, identity.cert_der))
            status = preamble.parse_reply(await reader.readexactly(preamble.REPLY.size))
            if status is not preamble.Status.OK:
                message = f"{host} port {port} refused the connection ({status.name.lower()})"
                why = (
                    "it runs a Chatty too old or too new for this one"
                    if status is preamble.Status.BAD_VERSION
                    else "it refuses this device (blocked, or paired peers only)"
                )
                raise DialFailed(message, host, why)
            await writer.start_tls(tls.client_context(identity), server_hostname="chatty")
            ssl_object = cast(ssl.SSLObject, writer.get_extra_info("ssl_object"))
            cert_id = tls.peer_id(ssl_object, expected_id)
            return await exchange_hellos(reader, writer, local, cert_id, True, budgets)
    except BaseException as exc:
        writer.close()
        if isinstance(exc, ChattyError | asyncio.CancelledError):
            raise
        if isinstance(exc, TimeoutError):
            why = f"handshake {unanswered(HANDSHAKE_TIMEOUT)}"
            raise DialFailed(f"{host} port {port}: {why}", host, why) from exc
        if isinstance(exc, OSError | ssl.SSLError | asyncio.IncompleteReadError):
            why = f"handshake failed ({why_failed(exc)})"
            raise DialFailed(f"{host} port {port}: {why}", host, why) from exc
        raise
