"""Kernel TLS detection: what this machine lacks, a kernel that has it (a fake proc
file), and real loopback connections, plain and TLS 1.3, that must never pass as
kernel-encrypted. The kernel's answers to a socket that does have kTLS are
played by a socket whose getsockopt follows net/tls/tls_main.c's rules."""

from __future__ import annotations

import errno
import socket
import ssl
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from chatty_p2p.identity import Identity
from chatty_p2p.net import ktls, tls

SSL_OP_ENABLE_KTLS = 8  # OpenSSL 3's value, what Python 3.12 exposes as ssl.OP_ENABLE_KTLS


def _ulp_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "tcp_available_ulp"
    path.write_text(text)
    return path


# --- platform_support ----------------------------------------------------------


def test_this_machine_says_what_is_missing() -> None:
    python_lacks = not hasattr(ssl, "OP_ENABLE_KTLS")
    try:
        kernel_lacks = "tls" not in ktls.ULP_LIST.read_text().split()
    except OSError:
        kernel_lacks = True
    support = ktls.platform_support()
    assert support.usable is not (python_lacks or kernel_lacks or sys.platform != "linux")
    if sys.version_info < (3, 12):
        assert f"Python {sys.version_info[0]}.{sys.version_info[1]}" in support.why
        assert "needs 3.12" in support.why
    if sys.platform == "linux" and kernel_lacks:
        assert "kernel" in support.why and "tls" in support.why


def test_a_kernel_listing_tls_with_the_option_present_is_usable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ssl, "OP_ENABLE_KTLS", SSL_OP_ENABLE_KTLS, raising=False)
    support = ktls.platform_support(_ulp_file(tmp_path, "cubic reno tls\n"), "linux")
    assert support.usable, support.why
    assert ssl.OPENSSL_VERSION in support.why


def test_a_kernel_without_tls_is_named_as_what_lacks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ssl, "OP_ENABLE_KTLS", SSL_OP_ENABLE_KTLS, raising=False)
    support = ktls.platform_support(_ulp_file(tmp_path, "cubic reno\n"), "linux")
    assert not support.usable
    assert support.why.startswith("the kernel has no tls module")
    assert "Python" not in support.why  # this Python has the option: not to blame


def test_an_unreadable_ulp_list_is_not_usable_and_says_which_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ssl, "OP_ENABLE_KTLS", SSL_OP_ENABLE_KTLS, raising=False)
    missing = tmp_path / "no-such-file"
    support = ktls.platform_support(missing, "linux")
    assert not support.usable
    assert str(missing) in support.why


def test_not_linux_is_not_usable_even_with_tls_listed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ssl, "OP_ENABLE_KTLS", SSL_OP_ENABLE_KTLS, raising=False)
    support = ktls.platform_support(_ulp_file(tmp_path, "tls\n"), "darwin")
    assert not support.usable
    assert "Linux only" in support.why and "darwin" in support.why


def test_a_new_python_without_the_option_blames_openssl(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delattr(ssl, "OP_ENABLE_KTLS", raising=False)
    monkeypatch.setattr(sys, "version_info", (3, 12, 0, "final", 0))
    support = ktls.platform_support(_ulp_file(tmp_path, "tls\n"), "linux")
    assert not support.usable
    assert support.why.startswith("Python's ssl module has no kernel TLS with")
    assert "needs OpenSSL 3.0" in support.why


# --- enable --------------------------------------------------------------------


def test_enable_leaves_the_options_alone_here() -> None:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    before = ctx.options
    assert ktls.enable(ctx) is ktls.platform_support().usable
    if not ktls.platform_support().usable:
        assert ctx.options == before


def test_enable_leaves_the_options_alone_when_not_usable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The option exists, so only the support check keeps enable() from setting it.
    monkeypatch.setattr(ssl, "OP_ENABLE_KTLS", SSL_OP_ENABLE_KTLS, raising=False)
    monkeypatch.setattr(ktls, "platform_support", lambda: ktls.Support(False, "test"))
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    before = ctx.options
    assert ktls.enable(ctx) is False
    assert ctx.options == before


def test_enable_sets_the_option_when_usable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ssl, "OP_ENABLE_KTLS", SSL_OP_ENABLE_KTLS, raising=False)
    monkeypatch.setattr(ktls, "platform_support", lambda: ktls.Support(True, "test"))
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    before = ctx.options
    assert not before & SSL_OP_ENABLE_KTLS
    assert ktls.enable(ctx) is True
    assert ctx.options == before | SSL_OP_ENABLE_KTLS  # OpenSSL took it, nothing else changed


# --- sending_in_kernel: real connections ---------------------------------------


@pytest.fixture
def tcp_pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    with socket.create_server(("127.0.0.1", 0)) as listener:
        client = socket.create_connection(listener.getsockname(), timeout=10)
        server, _ = listener.accept()
    server.settimeout(10)
    with client, server:
        yield client, server


def test_a_plain_tcp_connection_is_not_sending_in_kernel(
    tcp_pair: tuple[socket.socket, socket.socket],
) -> None:
    client, server = tcp_pair
    client.sendall(b"ping")
    assert server.recv(4) == b"ping"  # connected and working
    assert not ktls.sending_in_kernel(client)
    assert not ktls.sending_in_kernel(server)


def test_a_tls13_connection_here_is_not_sending_in_kernel(
    tmp_path: Path, tcp_pair: tuple[socket.socket, socket.socket]
) -> None:
    identity = Identity.load_or_create(tmp_path)  # a throwaway self-signed certificate
    client_ctx = tls.client_context(identity)
    server_ctx = tls.ServerContexts(identity).trusting(identity.cert_der)
    assert ktls.enable(client_ctx) is ktls.enable(server_ctx) is ktls.platform_support().usable
    raw_client, raw_server = tcp_pair
    with ThreadPoolExecutor(1) as pool:
        accepted = pool.submit(server_ctx.wrap_socket, raw_server, server_side=True)
        client = client_ctx.wrap_socket(raw_client, server_hostname="chatty")
        server = accepted.result(timeout=10)
    with client, server:
        assert client.version() == server.version() == "TLSv1.3"
        client.sendall(b"ping")
        assert server.recv(4) == b"ping"  # the handshake is done on both sides
        # Whatever enable() said: here the kernel has no tls module, so no keys.
        assert not ktls.sending_in_kernel(client)
        assert not ktls.sending_in_kernel(server)


def test_a_closed_socket_is_not_sending_in_kernel() -> None:
    sock = socket.socket()
    sock.close()
    assert not ktls.sending_in_kernel(sock)  # EBADF is an answer too: no


# --- sending_in_kernel: the kernel's answers where kTLS is there ---------------


class KernelTlsSocket(socket.socket):
    """A socket whose TLS options answer as net/tls/tls_main.c does.

    ``ulp`` is what TCP_ULP reports; ``tx_struct`` is the size of the transmit
    cipher's crypto-info struct once the kernel holds the keys (40 for
    AES-128-GCM, 56 for AES-256-GCM and ChaCha20-Poly1305), None before."""

    def __init__(self, ulp: bytes, tx_struct: int | None) -> None:
        super().__init__()
        self.ulp, self.tx_struct = ulp, tx_struct

    def getsockopt(self, level: int, optname: int, buflen: int = 0) -> bytes:  # type: ignore[override]
        if (level, optname) == (socket.IPPROTO_TCP, ktls.TCP_ULP):
            return self.ulp.ljust(16, b"\0")[:buflen] if self.ulp else b""
        if (level, optname) == (ktls.SOL_TLS, ktls.TLS_TX) and self.ulp == b"tls":
            if buflen < 4:
                raise OSError(errno.EINVAL, "shorter than struct tls_crypto_info")
            if self.tx_struct is None:
                raise OSError(errno.EBUSY, "no transmit keys")
            if buflen not in (4, self.tx_struct):
                raise OSError(errno.EINVAL, "neither the header nor the cipher's struct")
            return bytes(buflen)
        raise OSError(errno.ENOPROTOOPT, "Protocol not available")


@pytest.mark.parametrize(
    "tx_struct", [40, 56], ids=["aes-128-gcm", "aes-256-gcm or chacha20-poly1305"]
)
def test_kernel_tls_with_transmit_keys_is_sending_in_kernel(tx_struct: int) -> None:
    with KernelTlsSocket(b"tls", tx_struct) as sock:
        assert ktls.sending_in_kernel(sock)


def test_the_tls_ulp_without_transmit_keys_is_not_sending_in_kernel() -> None:
    # What OpenSSL leaves when the kernel refused the cipher, or was never asked:
    # the ULP (attached to every socket OpenSSL is given), no keys.
    with KernelTlsSocket(b"tls", None) as sock:
        assert not ktls.sending_in_kernel(sock)


# --- the sender's transport, where the platform says kernel TLS can work -------


async def test_asking_for_kernel_tls_where_the_kernel_refuses_still_sends_encrypted(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The gate forced open on this machine (its kernel has no tls module): the
    sender asks OpenSSL for kernel TLS, the kernel never holds the keys, so the
    connection says so and no byte goes through sendfile; the file still arrives
    whole, through TLS in userspace."""
    from chatty_p2p.net import tlspipe
    from chatty_p2p.node import Node
    from tests.support.transfers import ended, vouch, wait_transfer

    monkeypatch.setattr(ssl, "OP_ENABLE_KTLS", SSL_OP_ENABLE_KTLS, raising=False)
    monkeypatch.setattr(ktls, "platform_support", lambda: ktls.Support(True, "test"))
    made: list[tlspipe.KernelTls] = []
    real_init = tlspipe.KernelTls.__init__

    def record(self: tlspipe.KernelTls, sock: ssl.SSLSocket, by_kernel: bool) -> None:
        real_init(self, sock, by_kernel)
        made.append(self)

    def no_sendfile(*args: object) -> int:
        raise AssertionError("sendfile on a connection the kernel does not encrypt")

    monkeypatch.setattr(tlspipe.KernelTls, "__init__", record)
    monkeypatch.setattr(tlspipe.os, "sendfile", no_sendfile)
    a = Node(tmp_path / "a", name="alpha", discovery=False)
    b = Node(tmp_path / "b", name="bravo", discovery=False, download_dir=tmp_path / "in")
    await a.start()
    await b.start()
    try:
        await a.add_peer("127.0.0.1", b.port)
        b._guard.accept_from = ["*"]
        vouch(b, a)
        data = tmp_path / "data.bin"
        data.write_bytes(bytes(range(256)) * 40_000)  # 10 MB, a plaintext easy to spot
        b_events = b.subscribe()
        sent = await a.send_files(b.device_id, [data])
        got = await wait_transfer(b_events, lambda t: t.id == sent.id and ended(t))
        assert got.state == "done", got.error
        assert (tmp_path / "in" / "data.bin").read_bytes() == data.read_bytes()
        assert [k.files_by_kernel for k in made] == [False]  # asked, refused, seen
    finally:
        await a.stop()
        await b.stop()


def test_sendfile_refuses_a_connection_the_kernel_does_not_encrypt(
    tcp_pair: tuple[socket.socket, socket.socket], tmp_path: Path
) -> None:
    from chatty_p2p.net.tlspipe import KernelTls

    path = tmp_path / "secret.txt"
    path.write_bytes(b"plaintext")
    transport = KernelTls(tcp_pair[0], files_by_kernel=False)  # type: ignore[arg-type]
    with path.open("rb") as f, pytest.raises(RuntimeError):
        transport.sendfile(f.fileno(), 0, 9)
    tcp_pair[1].setblocking(False)
    with pytest.raises(BlockingIOError):
        tcp_pair[1].recv(100)  # nothing reached the wire
