"""Kernel TLS (kTLS) on Linux: whether the kernel can encrypt what a file sender sends.

What it buys: with kTLS the kernel holds a connection's transmit keys and frames
and encrypts the TLS records itself. A sender can then hand a file to
``os.sendfile``: its pages go from the page cache to the socket without being
copied through Python and OpenSSL's buffers, and without a system call per
16 KiB record.

What it risks: ``os.sendfile`` writes to the socket beneath TLS. If the kernel
does not hold the transmit keys, the file's plaintext goes on the wire, in the
middle of a TLS stream. And ``ssl.OP_ENABLE_KTLS`` is only a request: OpenSSL
hands the keys to the kernel when the kernel accepts the negotiated cipher, and
otherwise silently keeps encrypting in userspace, the connection working as
before (an OpenSSL built without kTLS accepts the option too, and never uses
it). So the option being set proves nothing about a connection;
``sending_in_kernel`` asks the kernel, and only its ``True`` allows sendfile.

Three parts:

* ``platform_support``: can this Python, OpenSSL and kernel ask for kTLS at all,
  and if not, what is missing, in words for the doctor report.
* ``enable``: set ``ssl.OP_ENABLE_KTLS`` on a context where that can work.
* ``sending_in_kernel``: on one connected socket, after its handshake, whether
  the kernel holds the transmit keys.

OpenSSL gives the keys to the kernel through its socket BIO, so only an
``ssl.SSLSocket`` can ever get there. A connection through memory BIOs
(``ssl.SSLObject``: asyncio's, or one that moves its own ciphertext) never
does, whatever the option says, and ``sending_in_kernel`` says ``False`` for it.

Python 3.11's ``socket`` module names none of the Linux constants used here;
they are from the kernel's ``linux/tls.h`` and glibc's ``netinet/tcp.h`` and
``bits/socket.h``.
"""

from __future__ import annotations

import socket
import ssl
import sys
from dataclasses import dataclass
from pathlib import Path

from chatty_p2p import portable

# The TCP upper-layer protocols the kernel has registered, separated by spaces
# (e.g. "mptcp tls"). "tls" appears once the tls module is loaded or built in.
ULP_LIST = Path("/proc/sys/net/ipv4/tcp_available_ulp")

TCP_ULP = 31  # getsockopt(IPPROTO_TCP, TCP_ULP): the name of a socket's ULP, "" if none
ULP_NAME_MAX = 16  # TCP_ULP_NAME_MAX in the kernel
SOL_TLS = 282
TLS_TX = 1
# sizeof(struct tls_crypto_info): two unsigned shorts, the TLS version and the cipher.
# getsockopt(SOL_TLS, TLS_TX) accepts exactly this size or exactly the size of the
# cipher's own struct (40 bytes for AES-128-GCM, 56 for AES-256-GCM and
# ChaCha20-Poly1305), and EINVAL for anything else: a buffer of the largest size
# would fail for AES-128-GCM. This size succeeds for every cipher once the kernel
# holds the keys (EBUSY before), and copies no key into Python.
CRYPTO_INFO_SIZE = 4


@dataclass(frozen=True)
class Support:
    """Whether kTLS can be asked for here, and why, in words a user can read."""

    usable: bool
    why: str


def platform_support(ulp_list: Path = ULP_LIST, system: str | None = None) -> Support:
    """Whether this Python, OpenSSL and kernel can let the kernel encrypt.

    Not cached: it reads one small file, and a module loaded meanwhile counts.

    The kernel must list ``tls`` among its registered ULPs now. A module that is
    installed but not loaded does not count: the kernel loads a ULP's module on
    demand only for a process with CAP_NET_ADMIN (``net/ipv4/tcp_ulp.c``), which
    Chatty should not have, so OpenSSL's request would fail and fall back.

    ``system`` is ``portable.system()`` unless given: with ``CHATTY_PORTABLE=1`` this
    is not Linux, and nothing in /proc is read.
    """
    system = portable.system() if system is None else system
    missing: list[str] = []
    if not hasattr(ssl, "OP_ENABLE_KTLS"):
        version = sys.version_info
        if version < (3, 12):
            missing.append(f"Python {version[0]}.{version[1]} has no kernel TLS (needs 3.12)")
        else:
            missing.append(
                f"Python's ssl module has no kernel TLS with {ssl.OPENSSL_VERSION}"
                " (needs OpenSSL 3.0)"
            )
    if system != "linux":
        missing.append(
            f"Chatty uses kernel TLS (the kernel's tls module) on Linux only (this is {system})"
        )
    else:
        try:
            ulps = ulp_list.read_text().split()
        except OSError as exc:
            missing.append(f"the kernel does not say whether it has TLS ({ulp_list}: {exc})")
        else:
            if "tls" not in ulps:
                missing.append(
                    "the kernel has no tls module loaded (`modprobe tls` as root,"
                    " where the kernel has one)"
                )
    if missing:
        return Support(False, "; ".join(missing))
    return Support(
        True,
        f"{ssl.OPENSSL_VERSION} may hand TLS to the kernel's tls module; each"
        " connection is checked before a file is sent with sendfile",
    )


def enable(ctx: ssl.SSLContext) -> bool:
    """Ask OpenSSL to hand ``ctx``'s connections to the kernel, where that can work.

    Returns whether the option was set. Being set, it is still only a request:
    see ``sending_in_kernel``.
    """
    if not platform_support().usable:
        return False
    ctx.options |= ssl.OP_ENABLE_KTLS  # type: ignore[attr-defined]  # 3.12+, checked above
    return True


def sending_in_kernel(sock: socket.socket) -> bool:
    """Whether the kernel holds this connected TCP socket's TLS transmit keys.

    The check that must pass, on that socket, after its handshake, before the
    sender uses ``os.sendfile`` on it: ``False`` means the kernel would send the
    file's bytes as they are, unencrypted. Both must hold: the socket's ULP is
    ``tls``, and the kernel returns its transmit crypto info. The ULP alone
    proves nothing: an OpenSSL built with kTLS attaches it to every socket it is
    given (``SSL_set_fd``), option or not, and the kernel answers EBUSY while
    the ULP is attached but no keys were set, as on every connection whose cipher
    the kernel refused. Any error (no such option, not Linux, a closed socket) is
    ``False``.

    ``sock`` is a plain socket or an ``ssl.SSLSocket`` (an instance of
    ``socket.socket``, whose options are the TCP socket's own).
    """
    try:
        ulp = sock.getsockopt(socket.IPPROTO_TCP, TCP_ULP, ULP_NAME_MAX)
        if ulp.split(b"\0", 1)[0] != b"tls":
            return False
        sock.getsockopt(SOL_TLS, TLS_TX, CRYPTO_INFO_SIZE)
    except OSError:
        return False
    return True
