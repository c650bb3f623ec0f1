"""The window's tests: every one runs under the thread guard (``threadguard``)."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from chatty_p2p.gui.bridge import NodeBridge
from chatty_p2p.gui.window import MainWindow
from chatty_p2p.node import Node
from tests.gui.samples import card, message, peer
from tests.gui.threadguard import ThreadGuard


@pytest.fixture(autouse=True)
def gui_thread_guard() -> Iterator[ThreadGuard]:
    """Fails the test if any thread it started called into a widget, a dialog, a model
    or a pixmap. Autouse, so it is set up before the window's fixtures start the node's
    thread and checked after they stopped it."""
    guard = ThreadGuard()
    guard.install()
    try:
        yield guard
    finally:
        guard.uninstall()
        # The test's windows, bridges and node threads are gone (the window fixtures end
        # inside this one): their garbage is collected now, rather than by a collection
        # that starts in the middle of the next test's Qt event processing, which
        # crashed (SIGSEGV in the collector) about one run in four on X11.
        gc.collect()
    if guard.violations:
        pytest.fail(guard.report(), pytrace=False)


@pytest.fixture
def made_up_window(qtbot: Any, tmp_path: Path) -> Iterator[MainWindow]:
    """The window of a node with no peers, shown with two peers (the desk chosen),
    two messages and a card put straight into its models, as the node's events would
    put them there: for tests of how the window looks, with no second node to wait for."""
    bridge = NodeBridge(lambda: Node(tmp_path / "laptop", name="laptop", discovery=False))
    win = MainWindow(bridge)
    qtbot.addWidget(win)
    bridge.start()
    bridge.wait_started()
    seen: list[object] = []
    bridge.call(lambda n: None, seen.append)  # answered after the window's first call
    qtbot.waitUntil(lambda: bool(seen) and bool(win.me), timeout=5000)
    desk = peer("desk", online=True, trust="trusted")
    win.peers.reset([desk, peer("phone", online=False)])
    win.current = desk.id
    win.header.show_peer(peer("desk", online=True))
    messages = [message(1, False, "Are the holiday photos ready?"), message(2, True, "Yes")]
    win.conversation.load(desk.id, messages, [card(1.0, "done")])
    win.resize(980, 640)
    win.show()
    qtbot.waitExposed(win)
    yield win
    bridge.stop()
