"""The Transfers panel (issue 16, fifth point) against a real headless node on loopback:
every transfer with its files, the name a file was really saved under, Cancel and Retry
acting on the node, a long path elided rather than clipped, and Ctrl+T."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QTreeWidgetItem

from chatty_p2p.files.model import TransferInfo
from chatty_p2p.gui.bridge import NodeBridge
from chatty_p2p.gui.transfers_panel import TransfersPanel
from chatty_p2p.gui.window import MainWindow
from chatty_p2p.node import Node
from tests.support.headless import Headless

pytestmark = pytest.mark.gui


@pytest.fixture
def desk(tmp_path: Path) -> Iterator[Headless]:
    """A peer that asks its user before taking files (no one answers here)."""
    node = Node(
        tmp_path / "desk", name="desk", discovery=False, download_dir=tmp_path / "desk-downloads"
    )
    headless = Headless(node)
    yield headless
    headless.stop()


@pytest.fixture
def window(qtbot: Any, tmp_path: Path, desk: Headless) -> Iterator[MainWindow]:
    downloads = tmp_path / "laptop-downloads"
    downloads.mkdir()
    (downloads / "report.pdf").write_bytes(b"%PDF an older report")  # the name is taken
    bridge = NodeBridge(
        lambda: Node(tmp_path / "laptop", name="laptop", discovery=False, download_dir=downloads)
    )
    win = MainWindow(bridge)
    qtbot.addWidget(win)
    bridge.start()
    bridge.wait_started()
    win.show()
    desk.run(desk.node.add_peer("127.0.0.1", bridge.info["port"]))
    qtbot.waitUntil(lambda: win.peers.rowCount() == 1 and win.peers.peer(0).online, timeout=5000)
    laptop_id = bridge.info["id"]
    desk.call(lambda n: n.pair_by_fingerprint(laptop_id, laptop_id))
    yield win
    bridge.stop()


def row_of(panel: TransfersPanel, transfer_id: str) -> QTreeWidgetItem | None:
    return next((item for key, item in panel.items.items() if key[1] == transfer_id), None)


def info(panel: TransfersPanel, transfer_id: str) -> TransferInfo | None:
    return next((t for key, t in panel.infos.items() if key[1] == transfer_id), None)


def state_of(panel: TransfersPanel, transfer_id: str) -> str:
    item = row_of(panel, transfer_id)
    return "" if item is None else item.text(2)


def click(qtbot: Any, panel: TransfersPanel, label: str) -> None:
    button = panel.buttons[label]
    assert button.isVisible() and button.isEnabled(), f"{label} is not offered"
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)


def open_with_ctrl_t(qtbot: Any, win: MainWindow) -> TransfersPanel:
    win.activateWindow()
    qtbot.waitUntil(win.isActiveWindow)
    win.input.setFocus()
    assert not win.transfers_panel.isVisible()
    focused = QApplication.focusWidget()
    assert focused is not None
    qtbot.keyClick(focused, Qt.Key.Key_T, Qt.KeyboardModifier.ControlModifier)
    panel = win.transfers_panel
    qtbot.waitUntil(panel.isVisible)
    assert panel.tree.hasFocus()  # the keyboard goes on in the list
    return panel


def test_a_batch_shows_its_files_and_the_name_a_taken_one_was_saved_under(
    qtbot: Any, window: MainWindow, desk: Headless, tmp_path: Path
) -> None:
    panel = open_with_ctrl_t(qtbot, window)
    (tmp_path / "src").mkdir()
    report, notes = tmp_path / "src" / "report.pdf", tmp_path / "src" / "notes.txt"
    report.write_bytes(b"%PDF the new report")
    notes.write_text("notes\n")
    sent = desk.run(desk.node.send_files(window.bridge.info["id"], [report, notes]))
    qtbot.waitUntil(lambda: "waiting for your answer" in state_of(panel, sent.id), timeout=5000)
    item = row_of(panel, sent.id)
    assert item is not None and item.text(1) == "from desk"
    panel.tree.setCurrentItem(item)
    click(qtbot, panel, "Accept")
    qtbot.waitUntil(lambda: state_of(panel, sent.id) == "done", timeout=10000)
    qtbot.waitUntil(lambda: item.childCount() == 2 and "saved" in item.child(0).text(2))
    first, second = item.child(0), item.child(1)
    assert first.text(0) == "report (1).pdf"
    assert first.text(2) == "saved, renamed: report.pdf was taken"
    assert (second.text(0), second.text(2)) == ("notes.txt", "saved")
    item.setExpanded(True)
    metrics = panel.tree.fontMetrics()

    def cut() -> list[str]:
        """Words of the other columns wider than their column, on the rows shown."""
        return [
            row.text(column)
            for row in (item, first, second)
            for column in range(1, panel.tree.columnCount())
            if metrics.horizontalAdvance(row.text(column)) > panel.tree.columnWidth(column)
        ]

    qtbot.waitUntil(lambda: not cut(), timeout=2000)  # every word shown whole
    downloads = tmp_path / "laptop-downloads"
    assert (downloads / "report (1).pdf").read_bytes() == report.read_bytes()
    assert sent.id not in window.transfers.offers  # the offer's dialog went with the answer
    panel.tree.setCurrentItem(first)
    assert panel.where.toolTip() == str(downloads / "report (1).pdf")
    shown = {label for label, button in panel.buttons.items() if button.isVisibleTo(panel)}
    assert shown == {"Open", "Show in folder"}


def test_cancel_and_retry_act_on_the_node(
    qtbot: Any, window: MainWindow, desk: Headless, tmp_path: Path
) -> None:
    panel = window.transfers_panel
    window.show_transfers()
    laptop_id, desk_id = window.bridge.info["id"], window.peers.peer(0).id
    note = tmp_path / "note.txt"
    note.write_text("for the desk\n")
    # Cancel: an offer the desk has not answered.
    window.send_paths([note], [desk_id])
    qtbot.waitUntil(lambda: len(panel.infos) == 1, timeout=5000)
    offered = next(iter(panel.infos.values()))
    assert "waiting for desk to accept" in state_of(panel, offered.id)
    panel.tree.setCurrentItem(row_of(panel, offered.id))
    click(qtbot, panel, "Cancel")
    qtbot.waitUntil(lambda: state_of(panel, offered.id).startswith("cancelled"), timeout=5000)
    assert not panel.buttons["Cancel"].isVisibleTo(panel)
    # Retry: the desk's download folder is a file, so the transfer pauses; once the
    # folder is back, Retry resumes it.
    (tmp_path / "desk-downloads").write_text("a file took the folder's name")
    desk.call(lambda n: n.set_auto_accept_trusted(True))
    window.send_paths([note], [desk_id])
    qtbot.waitUntil(lambda: len(panel.infos) == 2, timeout=5000)
    paused_id = next(k[1] for k in panel.infos if k[1] != offered.id)
    qtbot.waitUntil(lambda: state_of(panel, paused_id).startswith("paused"), timeout=10000)
    assert "a file is in the way" in state_of(panel, paused_id)
    (tmp_path / "desk-downloads").unlink()
    (tmp_path / "desk-downloads").mkdir()
    panel.tree.setCurrentItem(row_of(panel, paused_id))
    click(qtbot, panel, "Retry")
    qtbot.waitUntil(lambda: state_of(panel, paused_id) == "done", timeout=10000)
    assert (tmp_path / "desk-downloads" / "note.txt").read_text() == "for the desk\n"
    states = [t.state for t in desk.call(lambda n: n.transfers())]
    assert sorted(states) == ["cancelled", "done"], (states, laptop_id)
    assert panel.tree.topLevelItem(0) is row_of(panel, paused_id)  # newest first


def test_a_long_saved_path_is_elided_in_the_middle_not_clipped(
    qtbot: Any, window: MainWindow, tmp_path: Path
) -> None:
    panel = window.transfers_panel
    window.show_transfers()
    window.resize(640, 600)
    deep = "/home/someone/" + "/".join(["a folder with a long name"] * 8) + "/report (1).pdf"
    panel.where.set_full_text(deep)
    qtbot.waitUntil(lambda: panel.where.width() > 50)
    label = panel.where
    painted = label.text()
    assert "…" in painted and painted.endswith("report (1).pdf") and painted.startswith("/home")
    assert label.fontMetrics().horizontalAdvance(painted) <= label.contentsRect().width()
    assert label.toolTip() == deep
    assert label.geometry().right() <= label.parentWidget().contentsRect().right()
    for button in panel.buttons.values():  # the path has a line of its own
        if button.isVisibleTo(panel):
            assert not button.geometry().intersects(label.geometry())
