"""Transfer cards as a person sees them: painted to an image, measured in pixels.

The progress bar was painted without ``State_Horizontal``, so the Fusion style filled
its 8 px from the bottom: at 36 % a hairline along the bar's whole width, which reads
as nothing at all. These tests look at the pixels, not at the bar's ``progress``.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from PySide6.QtCore import QRect
from PySide6.QtGui import QColor, QFontMetrics, QImage, QPalette
from PySide6.QtWidgets import QApplication

from chatty_p2p.files.model import TransferInfo
from chatty_p2p.gui.conversation import PAD, ConversationView
from chatty_p2p.gui.models import ConversationModel
from tests.gui.samples import card

pytestmark = pytest.mark.gui


def painted(qtbot: Any, t: TransferInfo) -> tuple[QImage, QRect, QColor]:
    """The conversation view showing one card, grabbed; the card's inner rectangle
    (inside its padding: where the bar spans); the palette's highlight, the bar's fill."""
    model = ConversationModel()
    view = ConversationView()
    qtbot.addWidget(view)
    view.setModel(model)
    model.add(t)
    view.resize(700, 240)
    view.show()
    qtbot.waitExposed(view)
    image = view.viewport().grab().toImage()
    scale = image.devicePixelRatio()
    assert scale == 1, "the measure below counts pixels at a scale of 1"
    rect = view.visualRect(model.index(0))
    inner = view.delegate.card_rect(rect, t).adjusted(PAD, PAD, -PAD, -PAD)
    highlight = view.palette().color(QPalette.ColorGroup.Active, QPalette.ColorRole.Highlight)
    return image, inner, highlight


def filled(image: QImage, inner: QRect, highlight: QColor) -> list[tuple[int, int]]:
    """The pixels of the card in the bar's colour (its gradient and edges included)."""
    spots = []
    for y in range(inner.top(), inner.bottom() + 1):
        for x in range(inner.left(), inner.right() + 1):
            pixel = image.pixelColor(x, y)
            distance = (
                abs(pixel.red() - highlight.red())
                + abs(pixel.green() - highlight.green())
                + abs(pixel.blue() - highlight.blue())
            )
            if distance < 90:
                spots.append((x, y))
    return spots


@pytest.mark.parametrize("fraction", [0.36, 0.40, 0.90])
def test_the_bar_fills_its_share_of_the_width_at_its_full_height(
    qtbot: Any, fraction: float
) -> None:
    image, inner, highlight = painted(qtbot, card(fraction))
    spots = filled(image, inner, highlight)
    assert spots, "no pixel of the card is in the progress bar's colour"
    xs = [x for x, _ in spots]
    width = max(xs) - min(xs) + 1
    share = width / inner.width()
    # The body of the fill: rows that run its whole width (its rounded, darker edges
    # have a few pixels of the colour at most).
    rows = {y: sum(1 for _, sy in spots if sy == y) for _, y in spots}
    body = sorted(y for y, count in rows.items() if count >= 0.9 * width)
    assert abs(share - fraction) < 0.03, (
        f"at {fraction:.0%} the fill spans {share:.0%} of the bar's width "
        f"({width} of {inner.width()} px), {len(body)} px high"
    )
    assert len(body) >= 4, f"the fill is {len(body)} px high: a hairline, not a bar"


def test_a_finished_card_is_full_and_an_offer_is_empty(qtbot: Any) -> None:
    image, inner, highlight = painted(qtbot, card(1.0, state="done"))
    xs = [x for x, _ in filled(image, inner, highlight)]
    assert xs and (max(xs) - min(xs) + 1) / inner.width() > 0.97
    image, inner, highlight = painted(qtbot, card(0.0, state="offered"))
    assert filled(image, inner, highlight) == []


def test_the_style_is_the_one_users_get() -> None:
    """The measure assumes Fusion (Qt's default without a desktop's theme, offscreen and
    on a bare X11 alike), whose bar fills with the palette's highlight."""
    style = QApplication.style()
    assert style is not None and style.name().lower() == "fusion"


def test_a_card_sits_on_the_side_of_its_messages(qtbot: Any) -> None:
    """What we send is on the right, as our bubbles are; what comes, on the left. The
    bar's fill, found anywhere in the grab, shows where each card was painted."""
    for outgoing in (False, True):
        image, _, highlight = painted(qtbot, replace(card(0.5), outgoing=outgoing))
        whole = QRect(0, 0, image.width(), image.height())
        xs = [x for x, _ in filled(image, whole, highlight)]
        assert xs, "no bar painted"
        middle = image.width() // 2
        if outgoing:
            assert min(xs) > middle - 200 and max(xs) > middle, (min(xs), max(xs))
        else:
            assert max(xs) < middle, (min(xs), max(xs))


@pytest.mark.parametrize("state", ["offered", "declined", "cancelled"])
def test_a_card_with_nothing_moved_draws_no_bar(qtbot: Any, state: str) -> None:
    """An offer, or a transfer declined or cancelled before its first byte, has no
    progress to show: it drew an empty groove, a grey sliver that read as a stuck bar."""
    image, inner, _ = painted(qtbot, card(0.0, state))
    line = QFontMetrics(QApplication.font()).height() + 2
    band = range(inner.top() + 2 * line + 2, inner.top() + 2 * line + 10)
    background = image.pixelColor(inner.right(), band.start)
    drawn = [
        (x, y)
        for y in band
        for x in range(inner.left(), inner.right() + 1)
        if image.pixelColor(x, y) != background
    ]
    assert drawn == [], f"{len(drawn)} pixels drawn where the bar would be"


def test_an_interrupted_card_keeps_its_bar(qtbot: Any) -> None:
    image, inner, highlight = painted(qtbot, card(0.40, "interrupted"))
    assert filled(image, inner, highlight), "the 40 % moved before the break are not shown"
