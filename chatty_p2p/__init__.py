"""Chatty: peer-to-peer LAN chat and file sharing.

Every instance is equal: it advertises itself over mDNS, discovers the others,
and both accepts and opens mutually authenticated TLS connections.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("chatty_p2p")
    """From the installed package's metadata (``pyproject.toml``): one place for it."""
except PackageNotFoundError:  # run from a source tree that was never installed
    __version__ = "0+unknown"
