"""Where the window's parts sit: the conversation takes the height the header and the
send bar leave (splitting the window into parts once gave the send bar half of it)."""

from __future__ import annotations

import pytest

from chatty_p2p.gui.window import MainWindow

pytestmark = pytest.mark.gui


def test_the_conversation_takes_the_height_the_header_and_send_bar_leave(
    made_up_window: MainWindow,
) -> None:
    win = made_up_window
    assert win.composer.height() <= win.input.height() + 4
    tallest = max(win.header.title.height(), win.header.pair_button.height())
    assert win.header.height() <= tallest + 4
    column = win.view.parentWidget()
    assert column is not None
    spare = column.height() - win.header.height() - win.composer.height() - win.view.height()
    assert spare <= 20, f"{spare} px of the right side go to neither part"
