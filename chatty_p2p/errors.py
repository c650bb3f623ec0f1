"""One error family for everything a user can act on.

Foreign errors (ssl, OSError, sqlite3, zeroconf) are converted into these where
they enter the core, so the faces print ``str(error)`` and never a traceback.
"""


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


class UnknownPeer(PeerError):
    """No peer matches what the user typed."""


class AmbiguousPeer(PeerError):
    """Several peers match what the user typed."""


class PeerUnreachable(PeerError):
    """A peer is known but no connection to it could be made."""


class IdentityMismatch(PeerError):
    """A peer presented a key other than the one it advertised or was pinned to."""


class NodeAlreadyRunning(ChattyError):
    """Another Chatty process owns this data directory."""


class StoreError(ChattyError):
    """The local database could not be read or written."""
