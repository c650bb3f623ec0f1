"""The peer list as device cards (issue 16, sixth point): an avatar in the device's
own colour with an icon of what it is, a long name cut with "…", where the peer is
in words, no id on screen, and a warning colour only where one is needed."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from PySide6.QtCore import QRect, Qt
from PySide6.QtGui import QColor, QFont, QFontMetrics, QImage, QPainter, QPalette
from PySide6.QtWidgets import QApplication, QListView, QStyle, QStyleOptionViewItem

from chatty_p2p.events import Peer
from chatty_p2p.gui.models import PeerModel, presence
from chatty_p2p.gui.peers import PeerDelegate
from chatty_p2p.gui.theme import MARK_CONTRAST, TEXT_CONTRAST, avatar_colour, contrast, ink_on
from chatty_p2p.gui.theme import theme as theme_of
from tests.gui.samples import dark_palette

NOW = time.time()
LONG = "Ada's ThinkPad X1 Carbon, the one with the sticker on the lid, in the attic"


def made(name: str, n: int, **kw: Any) -> Peer:
    """A peer with a real-looking 64-hex id (so a test can look for it on screen)."""
    fields: dict[str, Any] = {"online": True, "discovered": True, "known": True}
    fields.update({"addresses": (), "last_seen": NOW, **kw})
    return Peer(f"{n:02x}c0ffee" * 8, name, **fields)


class Recorder(QPainter):
    """A painter that keeps every text it is asked to draw."""

    def __init__(self, image: QImage) -> None:
        super().__init__(image)
        self.texts: list[str] = []

    def drawText(self, *args: Any) -> None:
        self.texts.extend(a for a in args if isinstance(a, str))
        super().drawText(*args)


@pytest.fixture
def peer_list(qtbot: Any) -> Iterator[QListView]:
    view = QListView()
    qtbot.addWidget(view)
    view.setModel(PeerModel(view))
    view.setItemDelegate(PeerDelegate(view))
    view.resize(260, 400)
    view.show()
    qtbot.waitExposed(view)
    yield view


def model_of(view: QListView) -> PeerModel:
    model = view.model()
    assert isinstance(model, PeerModel)
    return model


def option_for(view: QListView, row: int, width: int = 260) -> QStyleOptionViewItem:
    option = QStyleOptionViewItem()
    option.initFrom(view)
    option.font = QFont(view.font())
    option.state = QStyle.StateFlag.State_Enabled
    delegate = view.itemDelegate()
    height = delegate.sizeHint(option, view.model().index(row, 0)).height()
    option.rect = QRect(0, 0, width, height)
    return option


def paint_row(view: QListView, row: int, width: int = 260) -> tuple[QImage, list[str]]:
    """Row ``row`` painted alone on the list's background: the picture and its texts."""
    option = option_for(view, row, width)
    image = QImage(option.rect.size(), QImage.Format.Format_ARGB32)
    image.fill(view.palette().color(QPalette.ColorRole.Base))
    painter = Recorder(image)
    view.itemDelegate().paint(painter, option, view.model().index(row, 0))
    painter.end()
    return image, painter.texts


def look_of(view: QListView, row: int, width: int = 260) -> Any:
    delegate = view.itemDelegate()
    assert isinstance(delegate, PeerDelegate)
    return delegate.look(option_for(view, row, width), view.model().index(row, 0))


def test_each_device_type_has_its_icon_and_an_untyped_one_its_initial(
    peer_list: QListView,
) -> None:
    kinds = ["laptop", "desktop", "server", "phone", "tablet", "unknown"]
    model_of(peer_list).reset([made(f"{k}{i}", i, device=k) for i, k in enumerate(kinds)])
    glyphs = {model_of(peer_list).peer(r).device: look_of(peer_list, r).glyph for r in range(6)}
    assert glyphs == {**{k: k for k in kinds[:5]}, "unknown": "U"}
    pictures = {}
    for row in range(6):
        image, _ = paint_row(peer_list, row)
        look = look_of(peer_list, row)
        pictures[glyphs[model_of(peer_list).peer(row).device]] = image.copy(look.avatar)
        centre = image.pixelColor(look.avatar.center().x() - look.avatar.width() // 4, 12)
        assert centre != peer_list.palette().color(QPalette.ColorRole.Base)  # a disc
    assert len({p.bits().tobytes() for p in pictures.values()}) == 6  # six pictures


def test_an_icon_is_painted_where_an_untyped_device_has_only_its_disc(
    peer_list: QListView,
) -> None:
    """Same id, same name, so the same colour: only what is on the disc differs."""
    model = model_of(peer_list)
    model.reset([made("", 1, device="laptop")])
    with_icon, _ = paint_row(peer_list, 0)
    model.reset([made("", 1)])  # no type and no letter in the name: "?" on the disc
    plain, texts = paint_row(peer_list, 0)
    avatar = look_of(peer_list, 0).avatar
    assert with_icon.copy(avatar) != plain.copy(avatar)
    assert "?" in texts


def test_a_long_name_is_cut_with_an_ellipsis_and_whole_in_the_tooltip(
    peer_list: QListView,
) -> None:
    model = model_of(peer_list)
    model.reset([made(LONG, 1, device="laptop"), made("desk", 2)])
    look = look_of(peer_list, model.row_of(made(LONG, 1).id) or 0)
    _, texts = paint_row(peer_list, model.row_of(made(LONG, 1).id) or 0)
    shown = next(t for t in texts if t.startswith("Ada"))
    assert shown.endswith("…") and shown != LONG
    assert QFontMetrics(peer_list.font()).horizontalAdvance(shown) <= look.text_width
    assert look.text_left + look.text_width <= 260
    index = model.index(model.row_of(made(LONG, 1).id) or 0)
    assert LONG in index.data(Qt.ItemDataRole.ToolTipRole)
    _, short = paint_row(peer_list, model.row_of(made("desk", 2).id) or 0)
    assert "desk" in short  # a name that fits is whole


def test_no_part_of_an_id_is_on_screen_only_the_fingerprint_in_the_tooltip(
    peer_list: QListView,
) -> None:
    model = model_of(peer_list)
    peers = [made("desk", 1, trust="trusted"), made("nas", 2, conflict="ee" * 32)]
    peers.append(made("old", 3, online=False, refused_by="your name is taken"))
    model.reset(peers)
    for row in range(3):
        peer = model.peer(row)
        _, texts = paint_row(peer_list, row)
        painted = " ".join(texts)
        assert peer.short_id not in painted and "c0ffee" not in painted, painted
        tip = model.index(row).data(Qt.ItemDataRole.ToolTipRole)
        assert f"fingerprint {peer.short_id}" in tip and peer.id not in tip


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"online": True}, "online"),
        ({"online": False}, "on the network"),
        ({"online": False, "discovered": False, "ago": 300}, "last seen 5 min ago"),
        ({"online": False, "discovered": False, "ago": 20}, "last seen just now"),
        ({"online": False, "discovered": False, "ago": 7300}, "last seen 2 h ago"),
        ({"online": False, "discovered": False, "last_seen": 0.0}, "offline"),
        ({"online": False, "trust": "blocked"}, "blocked"),
        ({"online": True, "conflict": "ee" * 32}, "key changed"),
    ],
)
def test_where_a_peer_is_is_said_in_words(
    peer_list: QListView, fields: dict[str, Any], words: str
) -> None:
    # "5 min ago" from the time the row is painted (the list asks the clock then), not
    # from when this module was imported: a suite run minutes later once said "9 min".
    fields = dict(fields)
    if "ago" in fields:
        fields["last_seen"] = time.time() - fields.pop("ago")
    peer = made("desk", 1, **fields)
    assert presence(peer) == words
    model_of(peer_list).reset([peer])
    _, texts = paint_row(peer_list, 0)
    assert any(t.startswith(words) for t in texts), texts
    assert "seen" not in texts and not any(t.startswith("seen") for t in texts)
    spoken = model_of(peer_list).index(0).data(Qt.ItemDataRole.AccessibleTextRole)
    assert words in spoken


def test_only_what_needs_the_user_has_a_warning_colour(peer_list: QListView) -> None:
    inks = theme_of(peer_list.palette()).page
    model = model_of(peer_list)
    cases = {
        "new": made("new", 1),
        "paired": made("paired", 2, trust="trusted"),
        "blocked": made("blocked", 3, trust="blocked"),
        "changed": made("changed", 4, conflict="ee" * 32),
        "refuses": made("refuses", 5, online=False, refused_by="no"),
    }
    model.reset(list(cases.values()))
    colours = {}
    for row in range(len(cases)):
        colours[model.peer(row).name] = {c.name() for _, c in look_of(peer_list, row).status}
    warnings = {inks.unverified.name(), inks.blocked.name()}
    assert colours["new"] == {inks.muted.name()}  # a newcomer is neutral, not amber
    assert colours["paired"] == {inks.muted.name(), inks.trusted.name()}
    assert colours["blocked"] == colours["changed"] == {inks.blocked.name()}
    assert inks.unverified.name() in colours["refuses"]
    assert not warnings & (colours["new"] | colours["paired"])


@pytest.mark.parametrize("dark", [False, True], ids=["light", "dark"])
def test_each_device_keeps_its_colour_and_its_avatar_reads(dark: bool) -> None:
    palette = dark_palette() if dark else QApplication.palette()
    page = palette.color(QPalette.ColorRole.Base)
    ids = [made("x", n).id for n in range(40)]
    fills = [avatar_colour(i, page) for i in ids]
    assert fills == [avatar_colour(i, page) for i in ids]  # the same every time
    assert len({f.name() for f in fills}) >= 6  # devices differ
    for fill in fills:
        assert contrast(fill, page) >= MARK_CONTRAST - 0.01
        assert contrast(ink_on(fill), fill) >= TEXT_CONTRAST


def test_the_row_is_painted_in_a_real_list_on_a_dark_palette(
    qtbot: Any, peer_list: QListView
) -> None:
    peer_list.setPalette(dark_palette())
    model_of(peer_list).reset([made(LONG, 1, device="server"), made("desk", 2)])
    peer_list.setCurrentIndex(peer_list.model().index(0, 0))
    image = peer_list.viewport().grab().toImage()
    rect = peer_list.visualRect(peer_list.model().index(1, 0))
    look = look_of(peer_list, 1)
    page = dark_palette().color(QPalette.ColorRole.Base)
    assert rect.height() == look.avatar.height() + 16
    disc = image.pixelColor(rect.left() + look.avatar.center().x() - 6, rect.top() + 10)
    assert disc != page and contrast(QColor(disc), page) >= 2.5
