"""One conformance suite for both bulk transports a sender's side can have: the TLS pipe
(memory BIOs, ``tlspipe.TlsPipe``) and the kernel-TLS socket (``tlspipe.KernelTls``,
here as the platform leaves it: asked for, refused, encrypting in userspace). The bulk
channel (``net.bulk.Channel``) relies on exactly these behaviours from either."""

from __future__ import annotations

import asyncio
import os
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from chatty_p2p.identity import Identity
from chatty_p2p.net import accepting, ktls, tls
from chatty_p2p.net.tlspipe import KernelTls, TlsPipe

SSL_OP_ENABLE_KTLS = 8  # OpenSSL 3.0's value (Python 3.12 names it ssl.OP_ENABLE_KTLS)


@pytest.fixture(params=["pipe", "kernel-tls-refused"])
def pair(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[TlsPipe, TlsPipe | KernelTls]]:
    """A dialler's pipe and the answering (sending) side's transport, on loopback."""
    if request.param == "kernel-tls-refused":
        monkeypatch.setattr(ssl, "OP_ENABLE_KTLS", SSL_OP_ENABLE_KTLS, raising=False)
        monkeypatch.setattr(ktls, "platform_support", lambda: ktls.Support(True, "test"))
    a, b = Identity.load_or_create(tmp_path / "a"), Identity.load_or_create(tmp_path / "b")
    with socket.create_server(("127.0.0.1", 0)) as listener:
        dialled = socket.create_connection(listener.getsockname())
        accepted, _ = listener.accept()
    client = TlsPipe.wrap(dialled, tls.client_context(a), server=False)
    handshake = threading.Thread(target=client.handshake, args=(5.0,))
    handshake.start()
    server = asyncio.run(
        accepting.server_pipe(accepted, tls.ServerContexts(b).trusting(a.cert_der))
    )
    handshake.join(5)
    expected = KernelTls if request.param == "kernel-tls-refused" else TlsPipe
    assert type(server) is expected
    assert not server.files_by_kernel  # this machine's kernel has no tls module
    for transport in (client, server):
        transport.sock.settimeout(10)
    yield client, server
    for transport in (client, server):
        transport.sock.close()


def _receive(transport: TlsPipe | KernelTls, size: int) -> bytes:
    got = bytearray()
    buffer = memoryview(bytearray(1 << 20))
    while len(got) < size:
        n = transport.recv_into(buffer)
        assert n, "the stream ended early"
        got += buffer[:n]
    return bytes(got)


def test_each_side_proves_who_it_is(pair: tuple[TlsPipe, TlsPipe | KernelTls]) -> None:
    client, server = pair
    assert tls.peer_id(client.obj) != tls.peer_id(server.obj)


def test_big_and_small_writes_arrive_intact_both_ways(
    pair: tuple[TlsPipe, TlsPipe | KernelTls],
) -> None:
    client, server = pair
    data = os.urandom(5 * 1024 * 1024 + 3)
    reader = threading.Thread(target=lambda: received.append(_receive(client, len(data))))
    received: list[bytes] = []
    reader.start()
    server.send(data[:7])
    server.send(data[7:])
    reader.join(30)
    assert received == [data]
    client.send(b"WANT")
    assert _receive(server, 4) == b"WANT"


def test_nothing_to_read_without_waiting_is_blocking_io(
    pair: tuple[TlsPipe, TlsPipe | KernelTls],
) -> None:
    """What ``Channel.poll`` counts on to read the peer's news without stopping."""
    _, server = pair
    server.sock.setblocking(False)
    with pytest.raises(BlockingIOError):
        server.recv_into(memoryview(bytearray(64)))


def test_a_close_reaches_the_other_side_as_the_end(
    pair: tuple[TlsPipe, TlsPipe | KernelTls],
) -> None:
    client, server = pair
    server.send(b"last")
    closing = threading.Thread(target=server.close)
    closing.start()
    assert _receive(client, 4) == b"last"
    assert client.recv_into(memoryview(bytearray(64))) == 0
    client.sock.close()
    closing.join(5)
    assert not closing.is_alive()


def test_abort_from_another_thread_ends_a_blocked_read(
    pair: tuple[TlsPipe, TlsPipe | KernelTls],
) -> None:
    """How a cancel stops a worker waiting on a silent peer: at once, not at the timeout."""
    _, server = pair
    outcome: list[object] = []

    def read() -> None:
        try:
            outcome.append(server.recv_into(memoryview(bytearray(64))))
        except OSError as exc:
            outcome.append(exc)

    reader = threading.Thread(target=read)
    reader.start()
    time.sleep(0.2)
    started = time.monotonic()
    server.abort()
    reader.join(5)
    assert not reader.is_alive() and time.monotonic() - started < 2
    assert len(outcome) == 1 and (outcome[0] == 0 or isinstance(outcome[0], OSError))
