"""A bug while reading what a peer sent ends that session cleanly: an ERROR to the
peer, the peer offline here, nothing left running. (Hostile input that once
raised such a bug, a lone surrogate, is in ``test_hostile``.)"""

from __future__ import annotations

import asyncio
import logging

import pytest

from chatty_p2p.node import Node
from chatty_p2p.protocol.messages import ChatMessage, Event
from chatty_p2p.protocol.session import Session


async def online(alpha: Node, bravo: Node) -> None:
    """Bravo dials alpha; back once alpha holds the session."""
    await bravo.add_peer("127.0.0.1", alpha.port)
    async with asyncio.timeout(5):
        while not alpha.peer(bravo.device_id).online:
            await asyncio.sleep(0.02)


async def test_an_unexpected_error_in_a_session_ends_and_releases_it(
    nodes: tuple[Node, Node], monkeypatch: pytest.MonkeyPatch
) -> None:
    alpha, bravo = nodes
    await online(alpha, bravo)
    conn = alpha._peers.connection(bravo.device_id)
    assert conn is not None
    real = Session.receive_data

    def broken(self: Session, data: bytes, now: float | None = None) -> list[Event]:
        if self is conn.session:
            raise UnicodeEncodeError("utf-8", "\ud800", 0, 1, "surrogates not allowed")
        return real(self, data, now)

    monkeypatch.setattr(Session, "receive_data", broken)
    bravo_events = bravo.subscribe()
    await bravo.send_text(alpha.device_id, "this breaks something")
    async with asyncio.timeout(5):
        while alpha.peer(bravo.device_id).online:  # no ghost
            await asyncio.sleep(0.02)
        while True:
            event = await bravo_events.get()
            if event.type == "warning" and "internal" in event.text:
                break  # bravo was told, by an ERROR frame
    assert conn.finished.done() and "internal error" in conn.finished.result()


async def test_a_message_and_a_goodbye_in_one_read_are_kept_without_an_error(
    nodes: tuple[Node, Node], caplog: pytest.LogCaptureFixture
) -> None:
    """A peer that says something and leaves in the same breath: the message is kept,
    and the receipt that has no one to go to is dropped rather than raised (the
    sender asks again next session)."""
    alpha, bravo = nodes
    await online(alpha, bravo)
    conn = bravo._peers.connection(alpha.device_id)
    assert conn is not None
    conn.session.send_message(ChatMessage("ab" * 16, 1.0, "text", "bye for now"))
    said = conn.session.data_to_send()
    conn.session.close("quit")
    conn._writer.write(said + conn.session.data_to_send())  # both frames in one write
    async with asyncio.timeout(5):
        while alpha.peer(bravo.device_id).online:
            await asyncio.sleep(0.02)
    assert [m.body for m in alpha.history(bravo.device_id)] == ["bye for now"]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text
    assert "internal" not in caplog.text
