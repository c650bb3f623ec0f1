"""What the file transfers ask of the node, as typed protocols rather than loose
callables: ``files`` sits below the node, so it names the little it needs here
and the node hands in its parts (``node.transfers`` adapts them)."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, Protocol

from chatty_p2p.net.connection import Connection


class Peers(Protocol):
    """The node's peers as the transfers see them: by device id."""

    def connection(self, peer_id: str) -> Connection | None:
        """The peer's control session, if it is online: offers, answers, RESUME."""

    def addresses(self, peer_id: str) -> list[tuple[str, int]]:
        """Where the peer was last seen, to dial its bulk connection."""

    def name(self, peer_id: str) -> str:
        """The peer's name for a user to read ("bravo")."""

    def want_connection(self, peer_id: str) -> None:
        """Dial the peer now: something waits for it to be online."""

    def accepts_from(self, peer_id: str) -> bool:
        """Whether this peer's offers are accepted without asking the user."""


class Spawner(Protocol):
    """The node's task keeper: what it spawns is cancelled when the node stops."""

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]: ...
