"""Happy eyeballs on loopback: several addresses for one peer, only one of them right."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from pathlib import Path

from chatty_p2p.errors import ChattyError, DialFailed, IdentityMismatch, unreachable
from chatty_p2p.net.dialling import dial, dial_any, happy_order
from chatty_p2p.node import EventType, Node


def test_order_keeps_the_last_good_first_then_alternates_families() -> None:
    given = [
        ("10.0.0.1", 1),
        ("10.0.0.2", 1),
        ("fe80::1%eth0", 1),
        ("fd00::1", 1),
        ("10.0.0.3", 1),
        ("fd00::2", 1),
    ]
    assert happy_order(given) == [
        ("10.0.0.1", 1),
        ("fd00::1", 1),
        ("10.0.0.2", 1),
        ("fd00::2", 1),
        ("10.0.0.3", 1),
        ("fe80::1%eth0", 1),
    ]
    assert happy_order([]) == []


async def test_the_first_address_that_proves_to_be_the_peer_wins(
    nodes: tuple[Node, Node], tmp_path: Path
) -> None:
    """bravo is listed third, after an address that accepts TCP but never answers (a
    stale address now held by something else) and one where another Chatty answers
    (right protocol, wrong key). The dial ends with bravo, the stranger's answer is
    reported as a mismatch, and the silent one is abandoned rather than waited for."""
    a, b = nodes
    stranger = Node(tmp_path / "c", name="stranger", discovery=False)
    await stranger.start()
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)  # accepts in the kernel, never answers the preamble
    errors: list[tuple[int, ChattyError]] = []
    try:
        conn = await dial_any(
            [
                ("127.0.0.1", silent.getsockname()[1]),
                ("127.0.0.1", stranger.port),
                ("127.0.0.1", b.port),
            ],
            a.identity,
            a._sessions.hello(),
            b.device_id,
            lambda host, port, exc: errors.append((port, exc)),
        )
        assert conn is not None and conn.peer.device_id == b.device_id
        assert [port for port, _ in errors] == [stranger.port]
        assert isinstance(errors[0][1], IdentityMismatch)
        await conn.close()
    finally:
        silent.close()
        await stranger.stop()


async def test_no_address_answers_gives_none_and_every_reason(nodes: tuple[Node, Node]) -> None:
    a, b = nodes
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()  # nothing listens there now
    errors: list[str] = []
    conn = await dial_any(
        [("127.0.0.1", port), ("::1", port)],
        a.identity,
        a._sessions.hello(),
        b.device_id,
        lambda host, _port, exc: errors.append(f"{host}: {exc}"),
    )
    assert conn is None
    assert len(errors) == 2 and all("cannot connect" in e for e in errors), errors


async def _slow_relay(target_port: int, delay: float) -> asyncio.Server:
    """A TCP relay to ``target_port`` whose answers lag ``delay`` per chunk, like a
    VPN path to the same machine: it works, just later than the LAN path."""

    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, lag: float) -> None:
        with contextlib.suppress(OSError):
            while data := await reader.read(65536):
                await asyncio.sleep(lag)
                writer.write(data)
                await writer.drain()
        writer.close()

    async def handle(client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        server_r, server_w = await asyncio.open_connection("127.0.0.1", target_port)
        await asyncio.gather(pipe(client_r, server_w, 0), pipe(server_r, client_w, delay))

    return await asyncio.start_server(handle, "127.0.0.1", 0)


async def test_two_working_paths_leave_one_session_and_no_flap(nodes: tuple[Node, Node]) -> None:
    """alpha dials bravo on a slow path and, 250 ms later, a fast one. bravo attaches
    the slow one first, then sees the fast one arrive while alpha keeps the fast one
    and drops the slow one. bravo must end on the fast one without ever showing alpha
    offline (which would also end a pairing and restart downloads)."""
    a, b = nodes
    events = b.subscribe()
    relay = await _slow_relay(b.port, 0.11)
    try:
        conn = await dial_any(
            [("127.0.0.1", relay.sockets[0].getsockname()[1]), ("::1", b.port)],
            a.identity,
            a._sessions.hello(),
            b.device_id,
            lambda *_: None,
        )
        assert conn is not None and conn.remote_host == "::1"
        a._sessions.attach(conn)
        await a.send_text(b.device_id, "one session, no flap")
        seen: list[EventType] = []
        async with asyncio.timeout(5):
            while True:
                event = await events.get()
                seen.append(event.type)
                if event.type is EventType.MESSAGE:
                    break
        await asyncio.sleep(1.0)  # past the probe: a late flap would show now
        while not events.empty():
            seen.append(events.get_nowait().type)
        assert EventType.PEER_OFFLINE not in seen, seen
        assert b.peer(a.device_id).online
    finally:
        relay.close()


async def test_a_peer_unreachable_everywhere_is_summed_up_in_one_line(
    nodes: tuple[Node, Node],
) -> None:
    """Users read "fe80::…%v2: Connection refused; 10.250.0.1: Connection refused; …":
    one line names the most telling failure and counts the rest."""
    a, _ = nodes
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()  # nothing listens there now
    try:
        await dial("127.0.0.1", port, a.identity, a._sessions.hello(), None)
    except DialFailed as exc:
        refused = (exc.host, exc.reason)
    assert refused == ("127.0.0.1", "connection refused")
    failures = [
        ("fe80::1%v2", "connection refused"),
        ("10.250.0.1", "connection refused"),
        ("10.251.0.1", "network is unreachable"),
        ("fd00::1", "timed out"),
    ]
    assert unreachable("alphie", failures) == (
        "alphie cannot be reached (connection refused at 10.250.0.1 and 3 other addresses)"
    )
    # Something that answered says more than a closed port; a lone address, no count.
    answered = [*failures, ("10.0.0.9", "it refuses this device (blocked, or paired peers only)")]
    assert unreachable("alphie", answered) == (
        "alphie cannot be reached (it refuses this device (blocked, or paired peers only) "
        "at 10.0.0.9 and 4 other addresses)"
    )
    assert unreachable("alphie", [refused]) == (
        "alphie cannot be reached (connection refused at 127.0.0.1)"
    )
    assert unreachable("alphie", []) == "alphie cannot be reached (no address known)"
