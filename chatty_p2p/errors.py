"""One error family for everything a user can act on.

Foreign errors (ssl, OSError, sqlite3, zeroconf) are converted into these where
they enter the core, so the faces print ``str(error)`` and never a traceback.
"""

import errno
import logging
import os
import sys
from typing import Any


class ChattyError(Exception):
    """Base of every error Chatty reports to a user."""


class ProtocolError(ChattyError):
    """The byte stream broke the protocol rules.

    ``code`` is a short stable token sent to the peer in an error frame.
    """

    def __init__(self, message: str, code: str = "protocol") -> None:
        super().__init__(message)
        self.code = code


class LocalProtocolError(ProtocolError):
    """We tried to do something the protocol state does not allow (a bug here)."""


class RemoteProtocolError(ProtocolError):
    """The peer sent something malformed, oversized or out of order."""


class PeerError(ChattyError):
    """A peer could not be found, reached or trusted."""


class RefusedByPeer(PeerError):
    """The peer answered and refused us with an ERROR (``code``, ``text``): in the
    handshake or in the session, the user hears it the same way (``Announcer.refused``)."""

    def __init__(self, code: str, text: str) -> None:
        super().__init__(f"the peer refused the connection: {text or code}")
        self.code = code
        self.text = text


class UnknownPeer(PeerError):
    """No peer matches what the user typed."""


class AmbiguousPeer(PeerError):
    """Several peers match what the user typed."""


class DialFailed(PeerError):
    """One address did not lead to the peer. ``reason`` says why without the address
    ("connection refused"), for a summary of every address tried (``unreachable``)."""

    def __init__(self, message: str, host: str, reason: str) -> None:
        super().__init__(message)
        self.host = host
        self.reason = reason


class OutboxFull(ChattyError):
    """Too many messages wait to go to one peer; there is room again as they are
    delivered (``chatty chat`` waits for it while the peer is online)."""


class IdentityMismatch(PeerError):
    """A peer presented a key other than the one it advertised or was pinned to."""


class NodeAlreadyRunning(ChattyError):
    """Another Chatty process owns this data directory."""


class StoreError(ChattyError):
    """The local database could not be read or written."""


_QUIET = ("timed out", "unreachable", "no route")
"""Failures that say least: nothing answered at all."""


# ----- how a file transfer ends, other than done ----------------------------


class TransferFailed(ChattyError):
    """The transfer cannot go on; ``str()`` says why in words a user can act on."""


class Cancelled(ChattyError):
    """Stopped on purpose, by this side or the peer."""


class Interrupted(ChattyError):
    """The link went away; what is on disk stays and the transfer resumes later."""


class CancelledByPeer(ChattyError):
    """The sender says the transfer was cancelled there (while we were away)."""


class Paused(ChattyError):
    """The receiver cannot write (its disk is full, its folder unwritable) or the sender
    cannot read: what is on disk stays, and the transfer waits for a user to fix that
    and resume it. ``code`` is the bulk ERROR code that tells the other side (see
    ``protocol.bulk.wire.RESUMABLE``); ``remote`` says the other side is the one that stopped."""

    def __init__(self, message: str, code: str, remote: bool = False) -> None:
        super().__init__(message)
        self.code = code
        self.remote = remote


def unreachable(who: str, failures: list[tuple[str, str]]) -> str:
    """One line for a peer none of whose addresses worked, as ``(host, reason)``: the
    most telling failure and how many other addresses failed. A dozen addresses'
    reasons in a row (IPv6, link-local, stale ones) read as noise; the whole list
    goes to the log (``-v``). Most telling: something answered (a refusal, a failed
    handshake), then a port nobody listens on, then silence; a routable address
    before a link-local one, which differs per interface."""
    if not failures:
        return f"{who} cannot be reached (no address known)"
    logging.getLogger(__name__).info(
        "%s: %s", who, "; ".join(f"{host}: {reason}" for host, reason in failures)
    )

    def rank(failure: tuple[str, str]) -> tuple[int, bool]:
        host, reason = failure
        quiet = any(word in reason for word in _QUIET)
        kind = 2 if quiet else 1 if reason == "connection refused" else 0
        return kind, host.startswith("fe80:")

    host, reason = min(failures, key=rank)
    others = len({h for h, _ in failures if h != host})
    more = f" and {others} other address{'es' if others > 1 else ''}" if others else ""
    return f"{who} cannot be reached ({reason} at {host}{more})"


SQLITE_FULL = 13
"""SQLite's result code for a write that found no room (``sqlite3.Error.sqlite_errorcode``)."""


def disk_full(exc: BaseException) -> bool:
    """Whether an error (a ``StoreError``, say, and what caused it) comes down to a full
    disk: something the user fixes by freeing space, not a fault to report."""
    seen: BaseException | None = exc
    while seen is not None:
        if getattr(seen, "sqlite_errorcode", None) == SQLITE_FULL:
            return True
        if isinstance(seen, OSError) and seen.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        seen = seen.__cause__
    return False


def why_failed(exc: BaseException | None) -> str:
    """Plain words for why a socket or file operation failed, to end a sentence such
    as "connection lost (…)": the system's text for the error number rather than
    Python's (``[Errno 98] error while attempting to bind on address ('::', 80, 0,
    0)``), and what happened rather than a class name (``SSLEOFError``)."""
    ssl: Any = sys.modules.get("ssl")  # only a program that imported ssl has its errors
    if exc is None:
        return "closed by the other side"
    if ssl is not None and isinstance(exc, ssl.SSLEOFError | ssl.SSLZeroReturnError):
        return "the other side closed the connection"
    if ssl is not None and isinstance(exc, ssl.SSLError):
        return f"TLS failed: {(exc.reason or str(exc)).replace('_', ' ').lower()}"
    if isinstance(exc, TimeoutError):
        return "timed out"
    if isinstance(exc, OSError) and (exc.errno or 0) > 0:
        text = os.strerror(exc.errno or 0)
    elif isinstance(exc, OSError) and exc.strerror:  # getaddrinfo's: "Name or service not known"
        text = exc.strerror
    else:
        return str(exc) or type(exc).__name__  # a bare AssertionError() still says what
    return text[:1].lower() + text[1:]


NAME_NEEDED = "a name is needed: the new name has nothing visible in it"
"""Said by every face when a rename would leave nothing to show (see ``set_name``)."""
