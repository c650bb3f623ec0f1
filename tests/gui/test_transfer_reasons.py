"""Issue 16, item 7: a transfer stopped by the network says so in words a user can act
on ("the connection to desk was lost; it resumes when desk is back"), not in the
raw reason ("connection lost (SSLEOFError)"), which stays in the tooltip."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from chatty_p2p.files.model import TransferInfo
from chatty_p2p.gui import transfer_words as words
from chatty_p2p.gui.models import card_status
from chatty_p2p.gui.window import MainWindow
from tests.gui.samples import card

RAW = [
    "connection lost (SSLEOFError)",
    "connection lost (EOF occurred in violation of protocol (_ssl.c:2427))",
    "connection lost (broken pipe)",
    "connection lost (closed by the other side)",
    "connection lost (the other side closed the connection)",
    "connection lost (connection reset by peer)",
]


def stopped(error: str, state: str = "interrupted") -> TransferInfo:
    return dataclasses.replace(card(0.4, state), error=error)


@pytest.mark.parametrize("raw", RAW)
def test_a_lost_connection_reads_in_words(raw: str) -> None:
    said = words.state_words(stopped(raw))
    assert said == "interrupted: the connection to desk was lost; it resumes when desk is back"


def test_a_peer_that_stopped_answering_reads_in_words() -> None:
    said = words.state_words(stopped("bulk handshake failed: timed out"))
    assert said == "interrupted: desk stopped answering; it resumes when desk is back"


def test_a_reason_already_in_words_is_kept() -> None:
    assert words.state_words(stopped("disk full", "paused")) == "paused: disk full"


def test_the_raw_reason_stays_in_the_tooltip() -> None:
    tip = words.state_tooltip(stopped("connection lost (SSLEOFError)"))
    assert tip.startswith("interrupted: the connection to desk was lost")
    assert "SSLEOFError" in tip
    assert words.state_tooltip(stopped("disk full", "paused")) == "paused: disk full"


def test_the_transfers_panel_shows_the_words(qtbot: Any, made_up_window: MainWindow) -> None:
    panel = made_up_window.transfers_panel
    panel.upsert(stopped("connection lost (SSLEOFError)"))
    item = panel.tree.topLevelItem(0)
    assert item is not None
    assert "SSLEOFError" not in item.text(2)
    assert "the connection to desk was lost; it resumes when desk is back" in item.text(2)
    assert "(reported: connection lost (SSLEOFError))" in item.toolTip(2)


def test_a_card_in_the_conversation_says_it_in_words_too() -> None:
    status = card_status(stopped("connection lost (SSLEOFError)"))
    assert status == "interrupted: the connection to desk was lost; it resumes when desk is back"
