"""The bulk channel's TLS transport (``tlspipe``) on real loopback sockets: bytes go
through intact in big system calls, every handshake ends within its deadline, and a
close is seen as the end."""

from __future__ import annotations

import asyncio
import os
import socket
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from chatty_p2p.identity import Identity
from chatty_p2p.net import accepting, tls
from chatty_p2p.net.tlspipe import TlsPipe


class Counting:
    """A socket that counts the calls that move bytes."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self.sends = 0

    def send(self, data: Any) -> int:
        self.sends += 1
        return self._sock.send(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


def _pair(tmp_path: Path) -> tuple[TlsPipe, TlsPipe]:
    """A client pipe and a server pipe, handshakes done, on loopback."""
    a, b = Identity.load_or_create(tmp_path / "a"), Identity.load_or_create(tmp_path / "b")
    listener = socket.create_server(("127.0.0.1", 0))
    dialled = socket.create_connection(listener.getsockname())
    accepted, _ = listener.accept()
    listener.close()
    client = TlsPipe.wrap(dialled, tls.client_context(a), server=False)
    done = threading.Thread(target=client.handshake, args=(5.0,))
    done.start()
    ctx = tls.ServerContexts(b).trusting(a.cert_der)
    server = asyncio.run(accepting.server_pipe(accepted, ctx))
    done.join(5)
    assert tls.peer_id(client.obj, b.device_id) == b.device_id
    assert tls.peer_id(server.obj) == a.device_id
    for pipe in (client, server):  # small frames must not wait for a delayed ack
        assert pipe.sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
    return client, server


def test_bytes_cross_intact_both_ways_in_big_calls(tmp_path: Path) -> None:
    client, server = _pair(tmp_path)
    counted = Counting(client.sock)
    client.sock = counted  # type: ignore[assignment]
    data = os.urandom(8 << 20)
    received = bytearray()

    def read_all() -> None:
        buffer = memoryview(bytearray(1 << 20))
        while len(received) < len(data):
            n = server.recv_into(buffer)
            assert n, "closed early"
            received.extend(buffer[:n])

    reader = threading.Thread(target=read_all)
    reader.start()
    for start in range(0, len(data), 1 << 20):
        client.send(data[start : start + (1 << 20)])
    reader.join(30)
    assert bytes(received) == data
    # 1 MiB is 64 TLS records; the pipe hands them to the kernel together.
    assert counted.sends <= 8 * 4, counted.sends

    server.send(b"small answer")
    buffer = memoryview(bytearray(100))
    assert bytes(buffer[: client.recv_into(buffer)]) == b"small answer"


def test_a_close_reads_as_the_end(tmp_path: Path) -> None:
    client, server = _pair(tmp_path)
    client.send(b"last words")
    closer = threading.Thread(target=client.close)
    closer.start()
    buffer = memoryview(bytearray(64))
    assert bytes(buffer[: server.recv_into(buffer)]) == b"last words"
    assert server.recv_into(buffer) == 0
    server.close()
    closer.join(5)
    assert not closer.is_alive()


def test_a_silent_server_fails_the_clients_handshake_at_its_deadline(tmp_path: Path) -> None:
    identity = Identity.load_or_create(tmp_path / "a")
    listener = socket.create_server(("127.0.0.1", 0))
    sock = socket.create_connection(listener.getsockname())
    pipe = TlsPipe.wrap(sock, tls.client_context(identity), server=False)
    start = time.monotonic()
    with pytest.raises(TimeoutError):
        pipe.handshake(0.5)
    assert time.monotonic() - start < 3
    listener.close()
    sock.close()


def test_a_dribbling_client_fails_the_servers_handshake_at_its_deadline(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A stranger sending a byte a second never finishes a handshake: the server gives
    up after ``HANDSHAKE_TIMEOUT`` for the whole of it, not per read."""
    monkeypatch.setattr(accepting, "HANDSHAKE_TIMEOUT", 1.0)
    a, b = Identity.load_or_create(tmp_path / "a"), Identity.load_or_create(tmp_path / "b")
    listener = socket.create_server(("127.0.0.1", 0))
    dialled = socket.create_connection(listener.getsockname())
    accepted, _ = listener.accept()
    stop = threading.Event()

    def dribble() -> None:
        dialled.send(b"\x16\x03\x01\x40\x00")  # a handshake record of 16 KiB is coming
        while not stop.wait(0.2):
            try:
                dialled.send(b"\x00")
            except OSError:
                return

    threading.Thread(target=dribble, daemon=True).start()
    ctx = tls.ServerContexts(b).trusting(a.cert_der)
    start = time.monotonic()
    with pytest.raises(TimeoutError):
        asyncio.run(accepting.server_pipe(accepted, ctx))
    assert time.monotonic() - start < 4
    stop.set()
    for sock in (listener, dialled, accepted):
        sock.close()


def test_a_peer_closing_during_the_handshake_fails_it_at_once(tmp_path: Path) -> None:
    identity = Identity.load_or_create(tmp_path / "a")
    listener = socket.create_server(("127.0.0.1", 0))
    sock = socket.create_connection(listener.getsockname())
    accepted, _ = listener.accept()
    accepted.close()
    pipe = TlsPipe.wrap(sock, tls.client_context(identity), server=False)
    with pytest.raises(OSError):
        pipe.handshake(10.0)
    listener.close()
    sock.close()


@pytest.mark.parametrize(
    "cert",
    [b"\x30\x82\x01\x00" + os.urandom(256), b"not a certificate at all", b"-" * 4000],
    ids=["der-shaped-noise", "text", "dashes"],
)
def test_a_preamble_with_a_certificate_openssl_cannot_read_is_refused(
    tmp_path: Path, cert: bytes
) -> None:
    """OpenSSL parses the certificate a dialer announces (to trust exactly it); what
    it cannot read is refused before any TLS, and nothing is kept for it."""
    from chatty_p2p.errors import RemoteProtocolError
    from chatty_p2p.protocol import preamble

    identity = Identity.load_or_create(tmp_path / "b")
    contexts = tls.ServerContexts(identity)
    listener = socket.create_server(("127.0.0.1", 0))
    dialled = socket.create_connection(listener.getsockname())
    accepted, _ = listener.accept()
    accepted.setblocking(False)
    dialled.sendall(preamble.encode_request(preamble.ChannelKind.BULK, cert))
    with pytest.raises(RemoteProtocolError, match="unusable certificate"):
        asyncio.run(accepting.read_preamble(accepted, contexts, lambda _: ""))
    reply = dialled.recv(preamble.REPLY.size)
    assert preamble.parse_reply(reply) is preamble.Status.REFUSED
    assert not contexts._cache
    for sock in (listener, dialled, accepted):
        sock.close()
