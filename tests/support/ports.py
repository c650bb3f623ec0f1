"""Ports for daemons and servers a test starts on a port it chooses."""

from __future__ import annotations

import random
import socket

_GIVEN: set[int] = set()


def free_port() -> int:
    """A free port, never the same twice in a run: a daemon that restarts keeps its
    port, so that its peer finds it again. Below the ephemeral range, where another
    process's outgoing connection (the suite runs beside another) could take it
    between our check and the bind."""
    while True:
        port = random.randrange(20000, 30000)
        try:
            with socket.socket(socket.AF_INET6) as s:
                s.bind(("::", port))
        except OSError:
            continue
        if port not in _GIVEN:
            _GIVEN.add(port)
            return port


def listening(port: int) -> bool:
    """Whether something accepts connections on this machine's port (asked by
    connecting, not by binding: a bind also fails for a port that is only the local
    end of someone's connection)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            return True
    except OSError:
        return False
