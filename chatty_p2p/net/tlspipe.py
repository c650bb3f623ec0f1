"""TLS over a plain socket through OpenSSL's memory BIOs: the bulk channel's transport.

Why not ``ssl.SSLSocket``: it moves one 16 KiB TLS record per system call. A
1 MiB write becomes 64 ``write()`` calls, and a reader makes two ``read()``
calls per record, each preceded by a ``poll()`` when the socket has a
timeout. On a link near a gigabyte a second those calls, not the cipher, are
what a receiving core spends its time on. Here OpenSSL encrypts into and
decrypts from memory (``ssl.SSLObject`` with two ``ssl.MemoryBIO``) and this
module moves the ciphertext itself, in calls of up to ``RAW_READ`` bytes:

* ``send`` encrypts everything it is given, then hands the kernel all of it;
* ``recv_into`` takes whatever the socket holds (one call), and decrypts as
  much as the caller's buffer has room for, record after record.

Liveness is the plain socket's timeout, paid once per system call, not per
record: a link that moves nothing for ``timeout`` seconds raises
``TimeoutError``. The cryptography is OpenSSL's: the same contexts, TLS 1.3
only, both sides authenticated (see ``tls``).

One thread uses a pipe at a time; ``abort`` is the exception (any thread).

Where the kernel can encrypt (``ktls``), a sender's connection is a ``KernelTls``
instead: an ``ssl.SSLSocket`` whose transmit keys the kernel holds, so that file
bytes go out with ``os.sendfile``. Both offer what the bulk channel uses.
"""

from __future__ import annotations

import contextlib
import os
import socket
import ssl
import sys
import time
from typing import cast

RAW_READ = 1 << 20
"""Ciphertext taken from the kernel in one call, at most."""


class TlsPipe:
    """One TLS connection: ``SSLObject`` + memory BIOs over a blocking socket."""

    files_by_kernel = False
    """Never: OpenSSL hands keys to the kernel only through a socket BIO."""

    def __init__(
        self,
        sock: socket.socket,
        obj: ssl.SSLObject,
        incoming: ssl.MemoryBIO,
        outgoing: ssl.MemoryBIO,
    ) -> None:
        self.sock = sock
        self.obj = obj
        """For ``tls.peer_id``: the certificate the peer proved."""
        self._incoming = incoming
        self._outgoing = outgoing
        self._raw = bytearray(RAW_READ)
        self._raw_view = memoryview(self._raw)

    # ----- handshakes ------------------------------------------------------

    @classmethod
    def wrap(cls, sock: socket.socket, ctx: ssl.SSLContext, server: bool) -> TlsPipe:
        """A pipe whose handshake is still to be done (``handshake`` or ``step``).

        Nagle's algorithm is turned off: the pipe already hands the kernel whole
        batches, and with it on, a small frame sent after another (OPEN, then WANT)
        waits for the peer's delayed acknowledgement, 40 ms each time."""
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        obj = ctx.wrap_bio(incoming, outgoing, server_side=server, server_hostname=None)
        return cls(sock, obj, incoming, outgoing)

    def step(self) -> bytes | None:
        """One try at the handshake: ``None`` once it is done, else the bytes to send
        before waiting for the peer's (``feed``). The caller moves the bytes: a blocking
        thread (``handshake``) or the event loop (``accepting.server_pipe``)."""
        try:
            self.obj.do_handshake()
        except ssl.SSLWantReadError:
            return self._outgoing.read()
        return None

    def pending_output(self) -> bytes:
        """What the last ``step`` left to send once the handshake is done (a client's
        Finished)."""
        return self._outgoing.read()

    def feed(self, data: bytes) -> None:
        """Bytes the peer sent during the handshake; ``b""`` (its close) fails it."""
        if not data:
            raise ConnectionResetError("the peer closed the connection during the TLS handshake")
        self._incoming.write(data)

    def handshake(self, timeout: float) -> None:
        """The whole handshake, blocking, under one deadline for all of it."""
        deadline = time.monotonic() + timeout
        while (out := self.step()) is not None:
            if out:
                self.sock.sendall(out)
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("the TLS handshake timed out")
            self.sock.settimeout(left)
            self.feed(self.sock.recv(RAW_READ))
        if tail := self.pending_output():
            self.sock.sendall(tail)

    # ----- data ------------------------------------------------------------

    def send(self, data: bytes | bytearray | memoryview) -> None:
        """Encrypt all of ``data`` and send it. Each ``send`` call may wait up to the
        socket's timeout for room: a slow receiver is fine, a silent one is not."""
        view = memoryview(data)
        while view:
            view = view[self.obj.write(view) :]
        out = memoryview(self._outgoing.read())
        while out:
            out = out[self.sock.send(out) :]

    def recv_into(self, buffer: memoryview) -> int:
        """Decrypt into ``buffer``: at least one byte, waiting for the peer if need be,
        and as much as is already here. ``0`` once the peer has closed."""
        got = 0
        size = len(buffer)
        while got < size:
            try:
                n = cast(int, self.obj.read(size - got, buffer[got:]))  # with a buffer: a count
            except ssl.SSLWantReadError:
                if got:
                    break
                self._fill()
                continue
            except (ssl.SSLZeroReturnError, ssl.SSLEOFError):  # the peer closed
                break
            if not n:
                break
            got += n
        return got

    def _fill(self) -> None:
        n = self.sock.recv_into(self._raw_view)
        if n:
            self._incoming.write(self._raw_view[:n])
        else:
            self._incoming.write_eof()

    # ----- the end ---------------------------------------------------------

    def close(self, linger: float = 1.0) -> None:
        """Orderly end: our close_notify and FIN go out at once, then the peer's FIN is
        awaited briefly (closing with unread data would send a reset that could cut
        off our last frame on its way)."""
        with contextlib.suppress(OSError, ssl.SSLError):
            with contextlib.suppress(ssl.SSLWantReadError):
                self.obj.unwrap()
            if tail := self._outgoing.read():
                self.sock.sendall(tail)
            self.sock.shutdown(socket.SHUT_WR)
            deadline = time.monotonic() + linger
            while (left := deadline - time.monotonic()) > 0:
                self.sock.settimeout(left)
                if not self.sock.recv_into(self._raw_view):
                    break
        self.sock.close()

    def abort(self) -> None:
        """Unblock the thread using the pipe, from any thread: the socket is shut down
        under it, and its next call fails at once."""
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)


class KernelTls:
    """A sender's TLS connection whose transmit keys the kernel holds: records are
    framed and encrypted by the kernel, and ``sendfile`` moves a file's pages
    without copying them through Python or OpenSSL. Made by
    ``accepting.server_pipe`` for an ``ssl.SSLSocket`` after its handshake, with
    ``files_by_kernel`` set only if ``ktls.sending_in_kernel`` said so then: without
    it, ``sendfile`` would put plaintext on the wire, and it refuses."""

    def __init__(self, sock: ssl.SSLSocket, files_by_kernel: bool) -> None:
        self.sock = sock
        self.obj = sock
        self.files_by_kernel = files_by_kernel

    def send(self, data: bytes | bytearray | memoryview) -> None:
        self.sock.sendall(data)

    def sendfile(self, fd: int, offset: int, count: int) -> None:
        """``count`` bytes of file ``fd`` from ``offset``, encrypted by the kernel.
        (Windows has no ``os.sendfile``; it never gets here, as it has no kTLS.)"""
        if sys.platform == "win32" or not self.files_by_kernel:
            raise RuntimeError("sendfile on a connection the kernel does not encrypt")
        while count:
            sent = os.sendfile(self.sock.fileno(), fd, offset, count)
            if not sent:
                raise ConnectionResetError("the connection closed during sendfile")
            offset += sent
            count -= sent

    def recv_into(self, buffer: memoryview) -> int:
        try:
            return self.sock.recv_into(buffer)
        except ssl.SSLWantReadError:  # non-blocking, nothing yet: as a plain socket says
            raise BlockingIOError from None
        except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
            return 0

    def close(self, linger: float = 1.0) -> None:
        """As ``TlsPipe.close``, without the close_notify (the kernel's stream)."""
        with contextlib.suppress(OSError):
            socket.socket.shutdown(self.sock, socket.SHUT_WR)
            deadline = time.monotonic() + linger
            while (left := deadline - time.monotonic()) > 0:
                self.sock.settimeout(left)
                if not socket.socket.recv(self.sock, RAW_READ):
                    break
        self.sock.close()

    def abort(self) -> None:
        with contextlib.suppress(OSError):
            socket.socket.shutdown(self.sock, socket.SHUT_RDWR)
