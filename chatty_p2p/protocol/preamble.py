"""The plaintext exchange that precedes TLS on every connection.

Why it exists: Python's ``ssl`` cannot accept an arbitrary self-signed client
certificate (there is no verify callback), yet Chatty wants true mutual TLS.
So the dialer first sends its certificate in the clear; the listener builds a
TLS context that trusts exactly that certificate and only then starts the
handshake, in which the dialer must prove it holds the matching private key.
The certificate is public anyway (its hash is advertised over mDNS).

Request (dialer to listener)::

    b"CHATTY" | version u8 | kind u8 | cert length u16 | cert (DER)

Reply (listener to dialer)::

    b"CHATTY" | version u8 | status u8

The exchange is lock-step, so neither side's stream buffer can hold TLS bytes
when the handshake starts.
"""

from __future__ import annotations

import struct
from enum import IntEnum

from chatty_p2p.errors import RemoteProtocolError

MAGIC = b"CHATTY"
PREAMBLE_VERSION = 1
MAX_CERT = 4096
REQUEST_HEAD = struct.Struct("!6sBBH")
REPLY = struct.Struct("!6sBB")


class ChannelKind(IntEnum):
    """What the connection will carry once TLS is up."""

    CONTROL = 1
    BULK = 2


class Status(IntEnum):
    """The listener's answer to a request."""

    OK = 0
    REFUSED = 1
    BAD_VERSION = 2


def encode_request(kind: ChannelKind, cert_der: bytes) -> bytes:
    return REQUEST_HEAD.pack(MAGIC, PREAMBLE_VERSION, kind, len(cert_der)) + cert_der


def parse_request_head(head: bytes) -> tuple[ChannelKind, int]:
    """Kind and certificate length from the fixed-size head of a request."""
    magic, version, kind, cert_len = REQUEST_HEAD.unpack(head)
    if magic != MAGIC:
        raise RemoteProtocolError("not a Chatty peer (bad magic)", "malformed")
    if version != PREAMBLE_VERSION:
        raise RemoteProtocolError(f"unsupported preamble version {version}", "version")
    try:
        channel = ChannelKind(kind)
    except ValueError as exc:
        raise RemoteProtocolError(f"unknown channel kind {kind}", "malformed") from exc
    if not 0 < cert_len <= MAX_CERT:
        raise RemoteProtocolError(f"certificate length {cert_len} out of range", "too-large")
    return channel, cert_len


def encode_reply(status: Status) -> bytes:
    return REPLY.pack(MAGIC, PREAMBLE_VERSION, status)


def parse_reply(data: bytes) -> Status:
    magic, version, status = REPLY.unpack(data)
    if magic != MAGIC:
        raise RemoteProtocolError("not a Chatty peer (bad magic)", "malformed")
    if version != PREAMBLE_VERSION:
        raise RemoteProtocolError(f"unsupported preamble version {version}", "version")
    try:
        return Status(status)
    except ValueError as exc:
        raise RemoteProtocolError(f"unknown preamble status {status}", "malformed") from exc
