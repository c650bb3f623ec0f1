"""Every colour the window paints, worked out from the palette it paints with.

Text, backgrounds and the accent come from the palette's roles, so a dark system
palette gives dark cards, dark incoming bubbles and light names. The few colours that
carry a meaning (trust: green for paired, amber for unverified, red for blocked) are
one hue each, made light enough on a dark background or dark enough on a light one to
read: ``readable`` moves a colour towards white or black until its contrast with the
background reaches WCAG's 4.5 for text (3 for a dot). So there is one list of
colours, not one per scheme, and a palette Chatty has never seen still reads.

Nothing keeps a colour: a delegate asks ``theme(option.palette)`` at each paint, and
``ThemedLabel`` renders its text again on a palette change, so the system's switch
between light and dark (which Qt delivers as a new palette) shows at once.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable
from dataclasses import dataclass

from PySide6.QtCore import QEvent
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QLabel, QWidget

TEXT_CONTRAST = 4.5
"""WCAG 2's minimum for body text (level AA)."""
TEXT_AIM = 4.7
"""What text colours are mixed to reach: a little above the minimum, since a colour
mixed to exactly 4.5 measured 4.50 to 4.49 in a grab of the window once rounded to
8 bits and drawn with antialiasing (the state words of a selected peer, dark)."""
MARK_CONTRAST = 3.0
"""WCAG 2's minimum for a graphic that carries meaning (the online dot)."""

GREEN = QColor("#1a7f37")
AMBER = QColor("#9a6700")
RED = QColor("#cf222e")
_WHITE = QColor("#ffffff")
_BLACK = QColor("#000000")


def luminance(colour: QColor) -> float:
    """Relative luminance, as WCAG 2 defines it (0 for black, 1 for white)."""

    def channel(value: float) -> float:
        return value / 12.92 if value <= 0.03928 else ((value + 0.055) / 1.055) ** 2.4

    return (
        0.2126 * channel(colour.redF())
        + 0.7152 * channel(colour.greenF())
        + 0.0722 * channel(colour.blueF())
    )


def contrast(a: QColor, b: QColor) -> float:
    """WCAG 2's contrast ratio, from 1 (the same) to 21 (black on white)."""
    high, low = sorted((luminance(a), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def mix(a: QColor, b: QColor, share: float) -> QColor:
    """``a`` with ``share`` of ``b`` blended in (0: ``a``, 1: ``b``), opaque."""
    return QColor.fromRgbF(
        a.redF() + (b.redF() - a.redF()) * share,
        a.greenF() + (b.greenF() - a.greenF()) * share,
        a.blueF() + (b.blueF() - a.blueF()) * share,
    )


def is_dark(background: QColor) -> bool:
    """Whether white reads better on it than black does."""
    return contrast(background, _WHITE) > contrast(background, _BLACK)


def readable(colour: QColor, background: QColor, minimum: float = TEXT_AIM) -> QColor:
    """``colour`` as it is if it reads on ``background``; else moved step by step
    towards white (on a dark background) or black (on a light one) until it does."""
    target = _WHITE if is_dark(background) else _BLACK
    for step in range(21):
        candidate = mix(colour, target, step / 20)
        if contrast(candidate, background) >= minimum:
            return candidate
    return target


@dataclass(frozen=True)
class Inks:
    """Colours for text on one background, each readable on it."""

    background: QColor
    text: QColor
    muted: QColor
    trusted: QColor
    unverified: QColor
    blocked: QColor

    @classmethod
    def on(cls, background: QColor, text: QColor) -> Inks:
        body = readable(text, background)
        return cls(
            background=background,
            text=body,
            muted=readable(mix(body, background, 0.4), background),
            trusted=readable(GREEN, background),
            unverified=readable(AMBER, background),
            blocked=readable(RED, background),
        )

    def trust(self, trust: str) -> QColor:
        """The colour of a trust word (``trusted``, ``unverified``, ``blocked``)."""
        return {"trusted": self.trusted, "blocked": self.blocked}.get(trust, self.unverified)


@dataclass(frozen=True)
class Theme:
    """The window's colours for one palette."""

    page: Inks
    """On a list's background (the peer list, the conversation)."""
    window: Inks
    """On the window's own background (labels, dialogs)."""
    accent: Inks
    """On the accent: a selected peer, an outgoing bubble, an unread badge. The
    palette's highlight, darkened (or lightened) until its highlighted text reads."""
    bubble: Inks
    """On an incoming bubble: the page with a little of its text blended in."""
    card: Inks
    """On a transfer card: a lighter touch of the same."""
    card_border: QColor
    online: QColor
    away: QColor


_ROLES = (
    QPalette.ColorRole.Base,
    QPalette.ColorRole.Text,
    QPalette.ColorRole.Window,
    QPalette.ColorRole.WindowText,
    QPalette.ColorRole.Highlight,
    QPalette.ColorRole.HighlightedText,
)
"""The palette's roles a theme is made from."""


def theme(palette: QPalette) -> Theme:
    """The colours to paint with on ``palette`` (its active group). Delegates ask at
    every paint and size hint, so the answer is kept for each set of role colours."""
    return _theme(tuple(palette.color(QPalette.ColorGroup.Active, r).rgba() for r in _ROLES))


@functools.lru_cache(maxsize=8)
def _theme(rgbas: tuple[int, ...]) -> Theme:
    base, text, window, window_text, highlight, on_accent = (QColor.fromRgba(c) for c in rgbas)
    accent = readable(highlight, on_accent)
    return Theme(
        page=Inks.on(base, text),
        window=Inks.on(window, window_text),
        accent=Inks.on(accent, on_accent),
        bubble=Inks.on(mix(base, text, 0.08), text),
        card=Inks.on(mix(base, text, 0.04), text),
        card_border=mix(base, text, 0.2),
        online=readable(GREEN, base, MARK_CONTRAST),
        away=readable(mix(text, base, 0.5), base, MARK_CONTRAST),
    )


class ThemedLabel(QLabel):
    """A label whose rich text carries colours: written by ``render`` from the label's
    palette, and written again when the palette changes (the system went dark)."""

    def __init__(self, render: Callable[[Theme], str], parent: QWidget | None = None):
        super().__init__(parent)
        self.set_render(render)

    def set_render(self, render: Callable[[Theme], str]) -> None:
        self._render = render
        self.setText(render(theme(self.palette())))

    def changeEvent(self, event: QEvent) -> None:
        if event.type() == QEvent.Type.PaletteChange:
            self.setText(self._render(theme(self.palette())))
        super().changeEvent(event)


def avatar_colour(key: str, background: QColor) -> QColor:
    """A device's own colour, the same every run (from ``key``, its id): one of
    twelve hues spread around the wheel, moved until it stands out from
    ``background`` as a graphic must (``MARK_CONTRAST``)."""
    hue = int.from_bytes(hashlib.sha256(key.encode("utf-8", "replace")).digest()[:4]) % 12 * 30
    return readable(QColor.fromHsl(hue, 150, 120), background, MARK_CONTRAST)


def ink_on(fill: QColor) -> QColor:
    """Black or white, whichever reads better on ``fill`` (a glyph on an avatar)."""
    return _WHITE if is_dark(fill) else _BLACK
