"""The reasons a failed dial or an ended session gives are never empty and say what
happened: an exception whose text is empty (a timeout, a bare assertion) still reads
as something. No sockets: the connect and the stream are stand-ins."""

from __future__ import annotations

import asyncio
from typing import Any, cast

import pytest

from chatty_p2p.errors import DialFailed, why_failed
from chatty_p2p.identity import Identity
from chatty_p2p.net import dialling
from chatty_p2p.net.connection import Connection
from chatty_p2p.protocol.messages import Event, MessageReceived
from tests.support.sessions import B_ID, hello, msg, pair


async def test_a_connect_that_gets_no_answer_says_how_long_it_waited(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A firewall that drops, or a host behind a router that is off: nothing answers."""

    async def silent(host: str, port: int) -> Any:
        await asyncio.Event().wait()

    monkeypatch.setattr(asyncio, "open_connection", silent)
    monkeypatch.setattr(dialling, "CONNECT_TIMEOUT", 0.01)
    with pytest.raises(DialFailed) as failed:
        await dialling.dial("198.19.0.3", 4000, cast(Identity, None), hello(B_ID), None)
    assert failed.value.reason == "timed out (no answer within 0.01 s)"
    assert str(failed.value) == (
        "cannot connect to 198.19.0.3 port 4000: timed out (no answer within 0.01 s)"
    )


class _Transport:
    def abort(self) -> None:
        pass

    def get_write_buffer_size(self) -> int:
        return 0


class _Writer:
    """What a ``Connection`` writes to: it takes everything and closes when told."""

    def __init__(self) -> None:
        self.transport = _Transport()
        self._closing = False

    def get_extra_info(self, name: str) -> None:
        return None

    def write(self, data: bytes) -> None:
        pass

    def is_closing(self) -> bool:
        return self._closing

    def close(self) -> None:
        self._closing = True

    async def wait_closed(self) -> None:
        pass


async def test_a_failure_with_no_text_while_handling_a_frame_is_named() -> None:
    """An ``AssertionError()`` has no text: the reason a session ended with said
    "internal error: " and stopped there."""
    session, _ = pair()
    reader = asyncio.StreamReader()
    reader.feed_eof()
    conn = Connection(reader, cast(Any, _Writer()), session, True, [MessageReceived(msg())])

    def broken(conn: Connection, event: Event) -> None:
        raise AssertionError

    assert await conn.run(broken) == "internal error: AssertionError"


def test_an_exception_with_no_words_is_named_by_its_kind() -> None:
    """``why_failed`` ends sentences the user reads ("connection lost (...)"): an
    exception with no text used to end them with "no reason given"."""
    assert why_failed(AssertionError()) == "AssertionError"
    assert why_failed(ValueError("bad length")) == "bad length"
