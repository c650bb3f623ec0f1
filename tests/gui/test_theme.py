"""Light and dark: the window painted with a light and a dark palette, and switched
from one to the other while it shows, measured in the pixels of a grab.

Peer names were painted in a fixed near-black (#1f2328) and vanished on a dark
palette; cards and incoming bubbles stayed near-white there, and the header's state
was a fixed grey. Each piece of text is checked where it is drawn: the background is
the commonest colour around it, and each glyph's ink is its pixel furthest from that
background; every glyph must reach WCAG 2's contrast ratio for text, 4.5.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from PySide6.QtCore import QRect
from PySide6.QtGui import QColor, QFont, QFontMetrics, QImage, QPalette
from PySide6.QtWidgets import QApplication

from chatty_p2p.gui.window import MainWindow
from chatty_p2p.store import StoredMessage
from tests.gui.samples import dark_palette

pytestmark = pytest.mark.gui

MINIMUM = 4.5
"""WCAG 2's contrast for text (level AA)."""
SURFACE = 1.6
"""The most a bubble or a card may stand out from the page: enough to see its edge,
not a light blob on a dark page."""
NOW = time.time()


def wcag_contrast(a: QColor, b: QColor) -> float:
    """The contrast ratio of WCAG 2 (its formula, written out here on purpose rather
    than taken from the code under test)."""
    lum = []
    for c in (a, b):
        linear = [
            v / 12.92 if v <= 0.03928 else ((v + 0.055) / 1.055) ** 2.4 for v in c.getRgbF()[:3]
        ]
        lum.append(0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2])
    return (max(lum) + 0.05) / (min(lum) + 0.05)


@pytest.fixture
def app_palette() -> Iterator[QPalette]:
    """The application's palette, put back after the test."""
    before = QApplication.palette()
    yield before
    QApplication.setPalette(before)


@pytest.fixture
def crisp_text() -> Iterator[None]:
    """Text drawn without antialiasing while the test runs, so every pixel of a glyph
    is in the colour it was painted with: antialiased, a stroke of one pixel that
    falls between two columns never shows its full colour, and the measure would
    depend on where the text happened to land rather than on its colour."""
    before = QApplication.font()
    crisp = QFont(before)
    crisp.setStyleStrategy(QFont.StyleStrategy.NoAntialias)
    QApplication.setFont(crisp)
    yield
    QApplication.setFont(before)


@pytest.fixture
def window(crisp_text: None, made_up_window: MainWindow) -> MainWindow:
    return made_up_window


def background(image: QImage, rect: QRect) -> QColor:
    counts = Counter(
        image.pixel(x, y)
        for y in range(rect.top(), rect.bottom() + 1)
        for x in range(rect.left(), rect.right() + 1)
    )
    return QColor.fromRgb(counts.most_common(1)[0][0])


def glyphs(image: QImage, rect: QRect, paper: QColor) -> list[QColor]:
    """The ink of each glyph in ``rect``: runs of columns that hold a pixel unlike
    the background; a run narrower than 3 px (a dot, an i, a stroke's fringe) is left
    out, since antialiasing keeps such thin marks from their full colour."""
    inks: list[QColor] = []
    run: list[list[QColor]] = []
    for x in range(rect.left(), rect.right() + 2):
        column = [image.pixelColor(x, y) for y in range(rect.top(), rect.bottom() + 1)]
        marked = [c for c in column if wcag_contrast(c, paper) > 1.15]
        if marked and x <= rect.right():
            run.append(marked)
            continue
        if len(run) >= 3:
            inks.append(max((c for col in run for c in col), key=lambda c: wcag_contrast(c, paper)))
        run = []
    return inks


def worst_text(image: QImage, rect: QRect, paper: QColor | None = None) -> float:
    """The lowest contrast of a glyph in ``rect`` against its background (text that
    blends in so far that no glyph stands out counts as its strongest pixel)."""
    paper = paper or background(image, rect)
    inks = glyphs(image, rect, paper) or [
        image.pixelColor(x, y)
        for y in range(rect.top(), rect.bottom() + 1)
        for x in range(rect.left(), rect.right() + 1)
    ]
    contrasts = [wcag_contrast(ink, paper) for ink in inks]
    return min(contrasts) if glyphs(image, rect, paper) else max(contrasts)


def check_peer_list(win: MainWindow) -> dict[str, float]:
    image = win.peer_view.viewport().grab().toImage()
    line = QFontMetrics(QApplication.font()).height()
    out = {}
    for row in range(win.peers.rowCount()):
        rect = win.peer_view.visualRect(win.peers.index(row))
        name = win.peers.peer(row).name
        text = QRect(rect.left() + 24, rect.top() + 2, rect.width() - 70, line + 4)
        status = QRect(rect.left() + 24, rect.top() + line + 6, rect.width() - 70, line + 2)
        out[f"{name}'s name"] = worst_text(image, text)
        out[f"{name}'s state"] = worst_text(image, status)
    return out


def check_conversation(win: MainWindow) -> tuple[dict[str, float], dict[str, float]]:
    """Text in each bubble and on the card; and each bubble and the card against the
    page: a light blob on a dark page (or the reverse) was the old look."""
    view = win.view
    image = view.viewport().grab().toImage()
    page = background(image, image.rect())
    texts, surfaces = {}, {}
    for row in range(win.conversation.rowCount()):
        item = win.conversation.item(row)
        rect = view.visualRect(win.conversation.index(row))
        if isinstance(item, StoredMessage):
            layout, _ = view.delegate._layout(item, rect)
            side = "outgoing" if item.outgoing else "incoming"
            paper = background(image, layout.bubble.adjusted(2, 2, -2, -2))
            texts[f"{side} bubble's text"] = worst_text(image, layout.text, paper)
            if not item.outgoing:
                surfaces["incoming bubble"] = wcag_contrast(paper, page)
        else:
            box = view.delegate.card_rect(rect, item)
            paper = background(image, box.adjusted(2, 2, -2, -2))
            title = QRect(box.left() + 8, box.top() + 6, box.width() // 2, 20)
            texts["card's title"] = worst_text(image, title, paper)
            surfaces["card"] = wcag_contrast(paper, page)
    return texts, surfaces


def check_header(win: MainWindow) -> dict[str, float]:
    label = win.header.title
    image = label.grab().toImage()
    return {"header": worst_text(image, image.rect())}


def problems(win: MainWindow) -> list[str]:
    texts = {**check_peer_list(win), **check_conversation(win)[0], **check_header(win)}
    surfaces = check_conversation(win)[1]
    return [
        f"{what}: {value:.2f} (at least {MINIMUM})"
        for what, value in texts.items()
        if value < MINIMUM
    ] + [
        f"{what} against the page: {value:.2f} (at most {SURFACE})"
        for what, value in surfaces.items()
        if value > SURFACE
    ]


@pytest.fixture(params=["light", "dark"])
def scheme(request: pytest.FixtureRequest, app_palette: QPalette) -> str:
    """The palette the window starts with (set before the window is made)."""
    if request.param == "dark":
        QApplication.setPalette(dark_palette())
    return str(request.param)


def assert_readable(win: MainWindow) -> None:
    found = problems(win)
    assert not found, "\n".join(found)


def test_text_reads_on_a_light_and_a_dark_palette(scheme: str, window: MainWindow) -> None:
    assert_readable(window)


def test_a_live_switch_to_dark_and_back_repaints_every_text(
    qtbot: Any, app_palette: QPalette, window: MainWindow
) -> None:
    """What the system's dark switch does to a running Chatty: Qt hands every widget
    a new palette. Nothing else is done here; the window must follow on its own."""
    assert_readable(window)
    QApplication.setPalette(dark_palette())
    qtbot.wait(50)
    assert_readable(window)
    QApplication.setPalette(app_palette)
    qtbot.wait(50)
    assert_readable(window)
