"""TLS contexts for Chatty's mutually authenticated connections.

Both sides present their device certificate. The dialer does not validate a
chain (there is none: certificates are self-signed) but compares the peer's
certificate hash with the device id it expected. The listener trusts exactly
the certificate the dialer announced in the preamble, so OpenSSL itself makes
the dialer prove possession of that key. TLS 1.3 only.
"""

from __future__ import annotations

import ssl
from collections import OrderedDict

from chatty_p2p.errors import IdentityMismatch
from chatty_p2p.identity import Identity, fingerprint


def _base(identity: Identity, purpose: int) -> ssl.SSLContext:
    ctx = ssl.SSLContext(purpose)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.load_cert_chain(identity.cert_path, identity.key_path)
    return ctx


def client_context(identity: Identity) -> ssl.SSLContext:
    ctx = _base(identity, ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE  # replaced by the fingerprint check in peer_id()
    return ctx


class ServerContexts:
    """Listener contexts, one per dialer certificate, the recent ones cached."""

    def __init__(self, identity: Identity, cache_size: int = 64) -> None:
        self._identity = identity
        self._cache: OrderedDict[bytes, ssl.SSLContext] = OrderedDict()
        self._cache_size = cache_size

    def trusting(self, peer_cert_der: bytes) -> ssl.SSLContext:
        """A server context that accepts only a client holding ``peer_cert_der``'s key."""
        ctx = self._cache.get(peer_cert_der)
        if ctx is None:
            ctx = _base(self._identity, ssl.PROTOCOL_TLS_SERVER)
            ctx.verify_mode = ssl.CERT_REQUIRED
            ctx.load_verify_locations(cadata=peer_cert_der)
            # Chatty never resumes TLS sessions; unread tickets would also turn a
            # blocking socket's close() into a reset that can eat the last bytes.
            ctx.num_tickets = 0
            self._cache[peer_cert_der] = ctx
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        else:
            self._cache.move_to_end(peer_cert_der)
        return ctx


def peer_id(ssl_object: ssl.SSLObject | ssl.SSLSocket, expected: str | None = None) -> str:
    """The device id of the certificate the peer presented, checked if expected."""
    der = ssl_object.getpeercert(binary_form=True)
    if not der:
        raise IdentityMismatch("the peer presented no certificate")
    actual = fingerprint(der)
    if expected is not None and actual != expected:
        raise IdentityMismatch(
            f"the peer's key ({actual[:8]}) is not the one it advertised ({expected[:8]})"
        )
    return actual


def localsend_server_context(identity: Identity) -> ssl.SSLContext:
    """The LocalSend face's HTTPS: this device's certificate, whose SHA-256 (the device
    id) is the fingerprint LocalSend shows; TLS 1.2 too, which LocalSend's apps may
    still use, and no client certificate (LocalSend sends none)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(identity.cert_path, identity.key_path)
    return ctx
