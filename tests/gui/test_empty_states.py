"""Issue 16, item 7: what the window says when there is nothing to show or something
went wrong: the empty peer list says where it looks and this device's address; a
transfer's raw reason reads in words a user can act on."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtWidgets import QLabel, QPushButton

from chatty_p2p.gui.bridge import NodeBridge
from chatty_p2p.gui.window import MainWindow
from chatty_p2p.net import netif
from chatty_p2p.node import Node
from tests.gui.samples import peer


@pytest.fixture
def empty_window(qtbot: Any, tmp_path: Path) -> Iterator[MainWindow]:
    """The window of a node that has seen no peer yet, shown."""
    bridge = NodeBridge(lambda: Node(tmp_path / "laptop", name="laptop", discovery=False))
    win = MainWindow(bridge)
    qtbot.addWidget(win)
    bridge.start()
    bridge.wait_started()
    win.show()
    qtbot.waitExposed(win)
    yield win
    bridge.stop()


def visible_texts(win: MainWindow) -> list[str]:
    pane = win.peer_view.parentWidget()
    return [w.text() for w in pane.findChildren(QLabel) if w.isVisible()]


def test_the_empty_peer_list_says_where_it_looks_and_this_devices_address(
    qtbot: Any, empty_window: MainWindow
) -> None:
    win = empty_window
    qtbot.waitUntil(lambda: bool(win.me), timeout=5000)
    port = int(str(win.me["port"]))
    chosen = netif.chosen(None)
    address = next((a for i in chosen for a in i.addresses if ":" not in a), "")
    assert address, "no IPv4 address on any usable interface to look for"

    def says_it() -> bool:
        return any(
            "Looking for devices on" in t and "laptop" in t and f"{address}:{port}" in t
            for t in visible_texts(win)
        )

    qtbot.waitUntil(says_it, timeout=5000)
    pane = win.peer_view.parentWidget()
    hints = [b for b in pane.findChildren(QPushButton) if b.isVisible()]
    assert any(b.text() == "Can't see your peer?" for b in hints)

    # Once a device is there, the list speaks for itself.
    win.peers.reset([peer("desk", online=True)])
    assert not any("Looking for devices" in t for t in visible_texts(win))
    win.peers.reset([])
    assert any("Looking for devices on" in t for t in visible_texts(win))


def a_closed_port() -> int:
    """A loopback port nothing listens on (it was free a moment ago)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_add_peer_by_address_shows_progress_and_its_error_in_the_status_bar(
    qtbot: Any, made_up_window: MainWindow
) -> None:
    win = made_up_window
    pane = win.peer_pane
    added: list[int] = []  # rows put into the conversation meanwhile
    win.conversation.rowsInserted.connect(lambda _parent, first, last: added.append(last))
    bar_height = win.statusBar().height()
    assert win.statusBar().isVisible(), "the status bar is there from the start"
    port = a_closed_port()
    pane.add_peer(f"127.0.0.1:{port}")
    assert win.statusBar().currentMessage() == f"Connecting to 127.0.0.1:{port}…"
    assert not pane.add_button.isEnabled()
    qtbot.waitUntil(lambda: pane.add_button.isEnabled(), timeout=15000)
    said = win.statusBar().currentMessage()
    assert said.startswith(f"Could not add 127.0.0.1:{port}: ")
    assert said.rstrip() != f"Could not add 127.0.0.1:{port}:"
    # Nothing in the desk's conversation, which has nothing to do with it.
    assert added == []
    assert win.statusBar().height() == bar_height

    pane.add_peer("not an address")
    assert win.statusBar().currentMessage().startswith("Not an address: 'not an address'")
    assert added == []
