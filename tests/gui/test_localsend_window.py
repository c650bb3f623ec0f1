"""A LocalSend device in the window: listed with its type's icon and "LocalSend" where a
Chatty peer's trust would be, no Pair…, and a file dropped on its row sent to it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QPointF
from PySide6.QtWidgets import QStyleOptionViewItem

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


def test_a_localsend_device_is_listed_as_such_and_takes_a_dropped_file(
    qtbot: Any, tmp_path: Path, phone: Headless
) -> None:
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
    try:
        assert phone.node.localsend is not None
        port = phone.node.localsend.port

        async def add(node: Node) -> None:
            assert node.localsend is not None
            await node.localsend.add("127.0.0.1", port)

        bridge.call(add)
        qtbot.waitUntil(lambda: win.peers.rowCount() == 1, timeout=5000)
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
    finally:
        bridge.stop()


def _option(win: MainWindow) -> QStyleOptionViewItem:
    """The style option the list paints row 0 with."""
    option = QStyleOptionViewItem()
    win.peer_view.initViewItemOption(option)
    option.rect = win.peer_view.visualRect(win.peers.index(0))
    return option
