"""Where the window's parts sit: the conversation takes the height the header and the
send bar leave (splitting the window into parts once gave the send bar half of it)."""

from __future__ import annotations

from typing import Any

import pytest

from chatty_p2p.events import StoredMessage
from chatty_p2p.gui.delegate import COLUMN, PAD
from chatty_p2p.gui.models import ItemRole
from chatty_p2p.gui.window import MainWindow
from tests.gui.samples import DESK_ID, card, message

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


def _inked_span(win: MainWindow, row: int) -> tuple[int, int]:
    """The leftmost and rightmost x where row ``row`` of the conversation differs from
    the page behind it, along the row's middle line, as a person sees it."""
    view = win.view
    rect = view.visualRect(view.model().index(row, 0))
    image = view.viewport().grab().toImage()
    y = rect.top() + rect.height() // 2
    page = image.pixelColor(1, y)
    inked = [x for x in range(image.width()) if image.pixelColor(x, y) != page]
    assert inked, f"row {row} shows nothing on its middle line"
    return min(inked), max(inked)


def test_on_a_wide_screen_a_reply_sits_near_what_it_answers(
    made_up_window: MainWindow, qtbot: Any
) -> None:
    """At 1920 px the bubbles and cards sit in one centred column: the question on the
    left and the answer on the right were once 1,500 px apart."""
    win = made_up_window
    win.resize(1920, 1000)
    qtbot.waitUntil(lambda: win.view.viewport().width() > 1200)
    said = [win.view.model().index(r, 0).data(ItemRole) for r in range(win.view.model().rowCount())]
    rows = {m.body: r for r, m in enumerate(said) if isinstance(m, StoredMessage)}
    question, _ = _inked_span(win, rows["Are the holiday photos ready?"])
    _, answer = _inked_span(win, rows["Yes"])
    assert answer - question <= COLUMN, f"{answer - question} px from question to answer"
    right_margin = win.view.viewport().width() - 1 - answer
    assert abs(question - right_margin) <= 2 * PAD, "the column is not centred"


def test_two_hundred_messages_make_no_sideways_scroll_bar(
    made_up_window: MainWindow, qtbot: Any
) -> None:
    """Rows are laid out for the viewport's width once the vertical scroll bar takes
    its share: laid out for the width before it, they made a horizontal scroll bar
    (seen on X11, where the scroll bar is not an overlay)."""
    win = made_up_window
    said = [message(i, i % 2 == 0, f"message number {i} " * (1 + i % 7)) for i in range(1, 201)]
    win.conversation.load(DESK_ID, said, [card(0.5)])
    qtbot.waitUntil(lambda: win.view.model().rowCount() > 200)
    qtbot.wait(200)  # the view's delayed layout after the scroll bar showed
    assert not win.view.horizontalScrollBar().isVisible()
    assert win.view.horizontalScrollBar().maximum() == 0
