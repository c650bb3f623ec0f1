"""A LocalSend device in the window: listed with its type's icon and "LocalSend" where a
Chatty peer's trust would be, no Pair…, and a file dropped on its row sent to it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QPointF
from PySide6.QtWidgets import QInputDialog, QStyleOptionViewItem

from chatty_p2p.events import EventType
from chatty_p2p.gui.bridge import NodeBridge
from chatty_p2p.gui.peers import PeerDelegate
from chatty_p2p.gui.window import MainWindow
from chatty_p2p.node import Node
from tests.gui.test_gui import drop_files
from tests.support.headless import Headless

pytestmark = pytest.mark.gui


@pytest.fixture
def phone(tmp_path: Path) -> Iterator[Headless]:
    """A node speaking LocalSend only (no mDNS, no Chatty session with the window)."""
    node = Node(
        tmp_path / "phone",
        name="phone",
        discovery=False,
        localsend=True,
        localsend_port=0,
        download_dir=tmp_path / "phone-dl",
    )
    headless = Headless(node)
    yield headless
    headless.stop()


@pytest.fixture
def window(qtbot: Any, tmp_path: Path, phone: Headless) -> Iterator[MainWindow]:
    """The window of a node speaking LocalSend only, with the phone added by address."""
    bridge = NodeBridge(
        lambda: Node(
            tmp_path / "laptop",
            name="laptop",
            discovery=False,
            localsend=True,
            localsend_port=0,
        )
    )
    win = MainWindow(bridge)
    qtbot.addWidget(win)
    bridge.start()
    bridge.wait_started()
    win.show()
    port = phone.node.localsend.running().port

    async def add(node: Node) -> None:
        await node.localsend.running().add("127.0.0.1", port)

    bridge.call(add)
    qtbot.waitUntil(lambda: win.peers.rowCount() == 1, timeout=5000)
    yield win
    bridge.stop()


def test_a_localsend_device_is_listed_as_such_and_takes_a_dropped_file(
    qtbot: Any, window: MainWindow, tmp_path: Path, phone: Headless
) -> None:
    win = window
    listed = win.peers.peer(0)
    assert (listed.name, listed.via) == ("phone", "localsend")
    look = PeerDelegate(win.peer_view).look(_option(win), win.peers.index(0))
    assert "LocalSend" in [text.strip() for text, _ in look.status]
    assert look.glyph == listed.device  # its type's icon, not an initial
    win.peer_view.setCurrentIndex(win.peers.index(0))
    qtbot.waitUntil(lambda: win.current == listed.id, timeout=5000)
    assert not win.header.pair_button.isVisible()

    recipe = tmp_path / "recipe.txt"
    recipe.write_text("two eggs\n")
    spot = win.peer_view.visualRect(win.peers.index(0)).center()
    drop_files(win.peer_view.viewport(), [recipe], QPointF(spot))
    qtbot.waitUntil(
        lambda: any(e.type is EventType.TRANSFER_OFFERED for e in phone.events), timeout=5000
    )
    offer = next(e for e in phone.events if e.type is EventType.TRANSFER_OFFERED)
    assert offer.transfer is not None
    phone.call(lambda n: n.accept(offer.transfer.id))
    arrived = tmp_path / "phone-dl" / "recipe.txt"
    qtbot.waitUntil(arrived.exists, timeout=10000)
    assert arrived.read_text() == "two eggs\n"


def test_a_device_asking_for_a_pin_gets_the_files_again_with_the_pin_typed(
    qtbot: Any, window: MainWindow, tmp_path: Path, phone: Headless, monkeypatch: pytest.MonkeyPatch
) -> None:
    phone.call(lambda n: n.localsend.set_pin("482913"))  # on its own thread
    asked: list[str] = []

    def typed(_parent: Any, _title: str, label: str, *_: Any) -> tuple[str, bool]:
        asked.append(label)
        return "482913", True

    monkeypatch.setattr(QInputDialog, "getText", staticmethod(typed))
    note = tmp_path / "note.txt"
    note.write_text("see you at 8\n")
    window.send_paths([note], [window.peers.peer(0).id])
    qtbot.waitUntil(lambda: bool(asked), timeout=10000)
    assert asked == ["phone asks for a PIN: type the one it shows"]
    qtbot.waitUntil(
        lambda: any(e.type is EventType.TRANSFER_OFFERED for e in phone.events), timeout=10000
    )


def _option(win: MainWindow) -> QStyleOptionViewItem:
    """The style option the list paints row 0 with."""
    option = QStyleOptionViewItem()
    win.peer_view.initViewItemOption(option)
    option.rect = win.peer_view.visualRect(win.peers.index(0))
    return option
