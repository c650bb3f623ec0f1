"""Chatty: peer-to-peer LAN chat and file sharing.

Every instance is equal: it advertises itself over mDNS, discovers the others,
and both accepts and opens mutually authenticated TLS connections.
"""

__version__ = "0.1.0"
