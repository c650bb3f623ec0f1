"""The real window under QT_QPA_PLATFORM=offscreen, against a real headless node.

Both nodes talk real TLS over loopback (no mDNS: the window's node is started
with discovery off, so nothing leaves the machine). The headless node runs on
its own thread with its own event loop, like a second machine would.
"""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QTimer, QUrl
from PySide6.QtGui import (
    QAction,
    QDesktopServices,
    QDragEnterEvent,
    QDragMoveEvent,
    QDropEvent,
    QGuiApplication,
)
from PySide6.QtWidgets import QApplication, QFileDialog, QPushButton

from chatty_p2p.files.model import TransferInfo
from chatty_p2p.gui.bridge import NodeBridge
from chatty_p2p.gui.window import MainWindow
from chatty_p2p.node import EventType, Node
from chatty_p2p.store import StoredMessage
from tests.support.headless import Headless

pytestmark = pytest.mark.gui


@pytest.fixture
def desk(tmp_path: Path) -> Iterator[Headless]:
    node = Node(
        tmp_path / "desk",
        name="desk",
        discovery=False,
        download_dir=tmp_path / "desk-downloads",
        accept_from=["*"],
    )
    headless = Headless(node)
    yield headless
    headless.stop()


@pytest.fixture
def window(qtbot: Any, tmp_path: Path, desk: Headless) -> Iterator[MainWindow]:
    bridge = NodeBridge(
        lambda: Node(
            tmp_path / "laptop",
            name="laptop",
            discovery=False,
            download_dir=tmp_path / "laptop-downloads",
        )
    )
    win = MainWindow(bridge)
    qtbot.addWidget(win)
    bridge.start()
    bridge.wait_started()
    win.show()
    port = bridge.info["port"]
    desk.run(desk.node.add_peer("127.0.0.1", port))  # the desk dials; the window just sees it
    qtbot.waitUntil(lambda: win.peers.rowCount() == 1 and win.peers.peer(0).online, timeout=5000)
    laptop_id = bridge.info["id"]
    desk.call(lambda n: n.pair_by_fingerprint(laptop_id, laptop_id))  # desk takes files unasked
    yield win
    bridge.stop()


def select_desk(qtbot: Any, win: MainWindow) -> None:
    win.peer_view.setCurrentIndex(win.peers.index(0))
    qtbot.waitUntil(lambda: win.conversation.peer_id is not None, timeout=5000)


def test_enter_with_no_peer_chosen_keeps_the_text_and_says_why(qtbot: Any, tmp_path: Path) -> None:
    """A first start, no peer yet: what was typed stays in the box (the window used to
    erase it), and the status bar says why it did not go. Sending empties the box:
    see the test above."""
    bridge = NodeBridge(lambda: Node(tmp_path / "lone", name="lone", discovery=False))
    win = MainWindow(bridge)
    qtbot.addWidget(win)
    bridge.start()
    bridge.wait_started()
    try:
        qtbot.waitUntil(lambda: bool(win.me), timeout=5000)
        assert win.targets() == []
        qtbot.keyClicks(win.input, "a long message typed before choosing")
        qtbot.keyClick(win.input, Qt.Key.Key_Return)
        assert win.input.toPlainText() == "a long message typed before choosing"
        assert "Choose a peer first" in win.statusBar().currentMessage()
    finally:
        bridge.stop()


def rows(win: MainWindow) -> list[Any]:
    return [win.conversation.item(i) for i in range(win.conversation.rowCount())]


def test_peer_appears_and_messages_flow_both_ways(
    qtbot: Any, window: MainWindow, desk: Headless
) -> None:
    assert window.peers.peer(0).name == "desk"
    select_desk(qtbot, window)
    qtbot.keyClicks(window.input, "hello from the window")
    qtbot.keyClick(window.input, Qt.Key.Key_Return)
    qtbot.waitUntil(
        lambda: any(
            e.type is EventType.MESSAGE and e.message and e.message.body == "hello from the window"
            for e in desk.events
        ),
        timeout=5000,
    )
    assert window.input.toPlainText() == ""
    laptop_id = window.bridge.info["id"]
    desk.run(desk.node.send_text(laptop_id, "hello from the desk"))
    qtbot.waitUntil(
        lambda: any(
            isinstance(r, StoredMessage) and r.body == "hello from the desk" for r in rows(window)
        ),
        timeout=5000,
    )
    # Our own message shows its receipt once the desk has it.
    qtbot.waitUntil(
        lambda: any(
            isinstance(r, StoredMessage) and r.outgoing and r.status == "delivered"
            for r in rows(window)
        ),
        timeout=5000,
    )


def test_shift_enter_adds_a_line_and_slash_help_answers(qtbot: Any, window: MainWindow) -> None:
    select_desk(qtbot, window)
    qtbot.keyClicks(window.input, "first line")
    qtbot.keyClick(window.input, Qt.Key.Key_Return, Qt.KeyboardModifier.ShiftModifier)
    assert window.input.toPlainText() == "first line\n"
    window.input.clear()
    qtbot.keyClicks(window.input, "/help")
    qtbot.keyClick(window.input, Qt.Key.Key_Return)
    texts = [getattr(r, "text", "") for r in rows(window)]
    assert any(t.startswith("/send PATH") for t in texts)


def test_link_is_a_clickable_anchor(
    qtbot: Any, window: MainWindow, desk: Headless, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened: list[str] = []
    monkeypatch.setattr(QDesktopServices, "openUrl", lambda url: opened.append(url.toString()))
    select_desk(qtbot, window)
    desk.run(desk.node.send_text(window.bridge.info["id"], "see https://example.org/page now"))
    qtbot.waitUntil(lambda: window.conversation.rowCount() == 1, timeout=5000)
    index = window.conversation.index(0)
    rect = window.view.visualRect(index)
    spot = next(
        (
            QPoint(x, y)
            for y in range(rect.top(), rect.bottom(), 3)
            for x in range(rect.left(), rect.right(), 3)
            if (hit := window.view.hit(QPoint(x, y))) and hit[0] == "link"
        ),
        None,
    )
    assert spot is not None, "no anchor under any point of the bubble"
    qtbot.mouseClick(window.view.viewport(), Qt.MouseButton.LeftButton, pos=spot)
    assert opened == ["https://example.org/page"]


def drop_files(target: Any, paths: list[Path], point: QPointF | None = None) -> None:
    """What a file manager's drag does to a widget: enter, move, drop."""
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    point = point or QPointF(10, 10)
    buttons, keys = Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier
    action = Qt.DropAction.CopyAction
    enter = QDragEnterEvent(point.toPoint(), action, mime, buttons, keys)
    QApplication.sendEvent(target, enter)
    assert enter.isAccepted()
    QApplication.sendEvent(target, QDragMoveEvent(point.toPoint(), action, mime, buttons, keys))
    drop = QDropEvent(point, action, mime, buttons, keys)
    QApplication.sendEvent(target, drop)
    assert drop.isAccepted()


def test_dropped_file_arrives_verified_and_its_card_reaches_100(
    qtbot: Any, window: MainWindow, desk: Headless, tmp_path: Path
) -> None:
    select_desk(qtbot, window)
    photo = tmp_path / "photo.jpg"
    photo.write_bytes(os.urandom(3 * 1024 * 1024))
    drop_files(window.view.viewport(), [photo])

    def card() -> TransferInfo | None:
        return next((r for r in rows(window) if isinstance(r, TransferInfo)), None)

    qtbot.waitUntil(lambda: (c := card()) is not None and c.state == "done", timeout=15000)
    done = card()
    assert done is not None and done.done_bytes == done.size == photo.stat().st_size
    assert (tmp_path / "desk-downloads" / "photo.jpg").read_bytes() == photo.read_bytes()
    window.view.grab()  # the card paints in its final state


def test_declining_an_offer_leaves_nothing(
    qtbot: Any, window: MainWindow, desk: Headless, tmp_path: Path
) -> None:
    select_desk(qtbot, window)
    unwanted = tmp_path / "unwanted.bin"
    unwanted.write_bytes(b"x" * 1000)
    sent = desk.run(desk.node.send_files(window.bridge.info["id"], [unwanted]))
    qtbot.waitUntil(lambda: sent.id in window.transfers.offers, timeout=5000)
    dialog = window.transfers.offers[sent.id]
    assert "desk" in dialog.windowTitle()
    qtbot.mouseClick(dialog.decline_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(
        lambda: any(
            e.transfer and e.transfer.id == sent.id and e.transfer.state == "declined"
            for e in desk.events
        ),
        timeout=5000,
    )
    downloads = tmp_path / "laptop-downloads"
    assert not downloads.exists() or not any(downloads.rglob("*"))


def test_window_keeps_ticking_during_a_large_transfer(
    qtbot: Any, window: MainWindow, desk: Headless, tmp_path: Path
) -> None:
    select_desk(qtbot, window)
    big = tmp_path / "big.bin"
    with big.open("wb") as f:
        block = os.urandom(1 << 20)
        for _ in range(300):
            f.write(block)
    ticks: list[float] = []
    timer = QTimer()
    timer.timeout.connect(lambda: ticks.append(time.monotonic()))
    timer.start(20)
    sent = desk.run(desk.node.send_files(window.bridge.info["id"], [big]))
    qtbot.waitUntil(lambda: sent.id in window.transfers.offers, timeout=5000)
    qtbot.mouseClick(window.transfers.offers[sent.id].accept_button, Qt.MouseButton.LeftButton)

    def card_done() -> bool:
        return any(isinstance(r, TransferInfo) and r.state == "done" for r in rows(window))

    started = len(ticks)
    qtbot.waitUntil(card_done, timeout=60000)
    timer.stop()
    during = ticks[started:]
    gaps = [b - a for a, b in itertools.pairwise(during)]
    assert len(during) > 10 and max(gaps) < 1.0  # the GUI thread never stalled
    assert (tmp_path / "laptop-downloads" / "big.bin").stat().st_size == big.stat().st_size


def test_send_to_several_and_drop_onto_a_peer(
    qtbot: Any, window: MainWindow, desk: Headless, tmp_path: Path
) -> None:
    sofa = Headless(
        Node(tmp_path / "sofa", name="sofa", discovery=False, download_dir=tmp_path / "sofa-dl")
    )
    try:
        sofa.run(sofa.node.add_peer("127.0.0.1", window.bridge.info["port"]))
        qtbot.waitUntil(lambda: window.peers.rowCount() == 2, timeout=5000)
        window.peer_view.selectAll()
        qtbot.keyClicks(window.input, "dinner is ready")
        qtbot.keyClick(window.input, Qt.Key.Key_Return)
        for node in (desk, sofa):
            qtbot.waitUntil(
                lambda n=node: any(
                    e.type is EventType.MESSAGE
                    and e.message
                    and e.message.body == "dinner is ready"
                    for e in n.events
                ),
                timeout=5000,
            )
        # A file dropped on one peer's row goes to that peer only, whatever is selected.
        recipe = tmp_path / "recipe.txt"
        recipe.write_text("two eggs\n")
        row = window.peers.row_of(desk.node.device_id)
        assert row is not None
        spot = window.peer_view.visualRect(window.peers.index(row)).center()
        drop_files(window.peer_view.viewport(), [recipe], QPointF(spot))
        qtbot.waitUntil(
            lambda: (tmp_path / "desk-downloads" / "recipe.txt").exists(), timeout=10000
        )
        assert not any(e.type is EventType.TRANSFER_OFFERED for e in sofa.events)
    finally:
        sofa.stop()


def test_chatty_without_a_command_opens_the_window_and_serves_the_cli(tmp_path: Path) -> None:
    """The real entry point: `chatty` starts the window, whose node answers `chatty id`
    through the control socket; SIGTERM closes it cleanly."""
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    data = ["--data-dir", str(tmp_path / "gui"), "--no-discovery"]
    app = subprocess.Popen([sys.executable, "-m", "chatty_p2p", *data], env=env)
    try:
        deadline = time.monotonic() + 20
        while True:
            probe = subprocess.run(
                [sys.executable, "-m", "chatty_p2p", "id", "--json", *data],
                capture_output=True,
                text=True,
                timeout=30,
            )
            info = json.loads(probe.stdout) if probe.returncode == 0 else {}
            if info.get("port"):  # only a running node has a port: the window's
                break
            assert time.monotonic() < deadline, probe.stderr
            time.sleep(0.2)
        app.send_signal(signal.SIGTERM)
        assert app.wait(20) == 0
    finally:
        app.kill()


def pairing_events(desk: Headless, state: str) -> list[Any]:
    return [
        e.pairing
        for e in list(desk.events)
        if e.type is EventType.PAIRING and e.pairing is not None and e.pairing.state == state
    ]


def test_unverified_peer_is_marked_and_pairing_from_the_window(
    qtbot: Any, window: MainWindow, desk: Headless
) -> None:
    select_desk(qtbot, window)
    assert "not paired" in window.header.title.text() and window.header.pair_button.isVisible()
    short = desk.node.device_id[:8]  # in the tooltip, as in the peer list; not in the line
    assert short not in window.header.title.text() and short in window.header.title.toolTip()
    qtbot.mouseClick(window.header.pair_button, Qt.MouseButton.LeftButton)
    desk_id = desk.node.device_id
    qtbot.waitUntil(lambda: desk_id in window.pairings.dialogs, timeout=5000)
    dialog = window.pairings.dialogs[desk_id]
    qtbot.waitUntil(lambda: bool(pairing_events(desk, "compare")), timeout=5000)
    code = pairing_events(desk, "compare")[0].code
    assert dialog.code.text() == code  # the same code on both screens
    qtbot.mouseClick(dialog.match_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "Now confirm" in dialog.status.text(), timeout=5000)
    desk.call(lambda n: n.confirm_pairing(window.bridge.info["id"], code))
    qtbot.waitUntil(lambda: "Paired" in dialog.status.text(), timeout=5000)
    qtbot.waitUntil(lambda: window.peers.peer(0).trust == "trusted", timeout=5000)
    title = window.header.title.text()
    assert "paired" in title and "not paired" not in title
    assert not window.header.pair_button.isVisible()


def test_an_incoming_pairing_request_opens_the_code_and_can_be_refused(
    qtbot: Any, window: MainWindow, desk: Headless
) -> None:
    laptop_id = window.bridge.info["id"]
    started = desk.run(desk.node.pair(laptop_id))
    desk_id = desk.node.device_id
    qtbot.waitUntil(lambda: desk_id in window.pairings.dialogs, timeout=5000)
    dialog = window.pairings.dialogs[desk_id]
    assert dialog.code.text() == started.code and dialog.isVisible()
    qtbot.mouseClick(dialog.differ_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: bool(pairing_events(desk, "failed")), timeout=5000)
    assert "the codes differ" in pairing_events(desk, "failed")[0].error
    assert desk.call(lambda n: n.peer(laptop_id).trust) == "trusted"  # as the fixture set
    assert window.peers.peer(0).trust == "unverified"


def test_offer_from_an_unverified_peer_says_so(
    qtbot: Any, window: MainWindow, desk: Headless, tmp_path: Path
) -> None:
    note = tmp_path / "note.txt"
    note.write_text("hi")
    sent = desk.run(desk.node.send_files(window.bridge.info["id"], [note]))
    qtbot.waitUntil(lambda: sent.id in window.transfers.offers, timeout=5000)
    dialog = window.transfers.offers[sent.id]
    assert "Unverified device" in dialog.warning.text()
    qtbot.mouseClick(dialog.decline_button, Qt.MouseButton.LeftButton)
    assert not (tmp_path / "laptop-downloads" / "note.txt").exists()


def test_clipboard_text_goes_out_in_one_action(
    qtbot: Any, window: MainWindow, desk: Headless
) -> None:
    select_desk(qtbot, window)
    QGuiApplication.clipboard().setText("copied on the laptop")
    clip = next(a for a in window.findChildren(QAction) if a.text() == "Clipboard text")
    clip.trigger()
    qtbot.waitUntil(
        lambda: any(
            e.type is EventType.MESSAGE and e.message and e.message.body == "copied on the laptop"
            for e in desk.events
        ),
        timeout=5000,
    )


def test_text_from_a_paired_peer_lands_on_the_clipboard_only_when_asked(
    qtbot: Any, window: MainWindow, desk: Headless
) -> None:
    laptop_id = window.bridge.info["id"]
    clipboard = QGuiApplication.clipboard()
    clipboard.setText("before")
    copied: list[str] = []  # every change, so a copy overwritten later still shows
    clipboard.dataChanged.connect(lambda: copied.append(clipboard.text()))
    # Unverified desk, setting off: the clipboard is left alone.
    desk.run(desk.node.send_text(laptop_id, "not for the clipboard"))
    qtbot.waitUntil(lambda: window.peers.peer(0).online, timeout=5000)
    select_desk(qtbot, window)
    qtbot.waitUntil(
        lambda: any(getattr(r, "body", "") == "not for the clipboard" for r in rows(window)),
        timeout=5000,
    )
    assert clipboard.text() == "before"
    # Setting on, desk still unverified: still left alone.
    window.bridge.call(lambda n: n.set_auto_copy_trusted(True))
    desk.run(desk.node.send_text(laptop_id, "still not"))
    qtbot.waitUntil(
        lambda: any(getattr(r, "body", "") == "still not" for r in rows(window)), timeout=5000
    )
    assert clipboard.text() == "before"
    # The user pairs with the desk (checked its fingerprint): now its text is copied.
    desk_id = desk.node.device_id
    window.bridge.call(lambda n: n.pair_by_fingerprint(desk_id, desk_id))
    qtbot.waitUntil(lambda: window.peers.peer(0).trust == "trusted", timeout=5000)
    desk.run(desk.node.send_text(laptop_id, "paste me"))
    qtbot.waitUntil(lambda: clipboard.text() == "paste me", timeout=5000)
    assert copied == ["paste me"]


def test_share_with_a_browser_shows_the_address_and_asks_before_an_upload(
    qtbot: Any, window: MainWindow, tmp_path: Path
) -> None:
    report = tmp_path / "report.pdf"
    report.write_bytes(os.urandom(300_000))
    window.menu.share_with_browser([report], host="127.0.0.1")  # loopback only, in a test
    dialog = window.menu.share_dialog
    assert dialog is not None
    qtbot.waitUntil(lambda: dialog.share is not None, timeout=5000)
    assert not dialog.qr.pixmap().isNull()
    url = dialog.share.urls()[0]  # type: ignore[union-attr]
    assert url in dialog.address.text() and url.startswith("http://127.0.0.1:")
    # What a phone's browser does: the page, then the file.
    with urllib.request.urlopen(url, timeout=10) as page:
        assert "report.pdf" in page.read().decode()
    with urllib.request.urlopen(url + "f/0", timeout=10) as download:
        assert download.read() == report.read_bytes()
    # An upload waits for the person at the window.
    data = os.urandom(200_000)
    answers: list[tuple[int, str]] = []

    def phone_uploads() -> None:
        request = urllib.request.Request(
            url + "offer", data=json.dumps({"name": "photo.jpg", "size": len(data)}).encode()
        )
        with urllib.request.urlopen(request, timeout=30) as reply:
            offer = json.loads(reply.read())
        put = urllib.request.Request(url + f"upload/{offer['id']}", data=data, method="PUT")
        with urllib.request.urlopen(put, timeout=30) as done:
            answers.append((done.status, offer["state"]))

    phone = threading.Thread(target=phone_uploads)
    phone.start()
    qtbot.waitUntil(lambda: bool(dialog.offer_buttons), timeout=5000)
    accept, _ = next(iter(dialog.offer_buttons.values()))
    qtbot.mouseClick(accept, Qt.MouseButton.LeftButton)
    phone.join(30)
    assert answers == [(200, "accepted")]
    landed = tmp_path / "laptop-downloads" / "photo.jpg"
    qtbot.waitUntil(landed.exists, timeout=5000)
    assert landed.read_bytes() == data
    qtbot.waitUntil(
        lambda: any(
            "received photo.jpg" in dialog.log.item(i).text() for i in range(dialog.log.count())
        ),
        timeout=5000,
    )
    # Closing the dialog ends the share: the address answers no more.
    dialog.reject()
    qtbot.waitUntil(lambda: _refused(url), timeout=5000)


def _refused(url: str) -> bool:
    """Whether the address is dead. A connection made while the share is stopping
    may go unanswered for a moment (seen once in about ten runs, cause not found):
    that counts as "not yet", and the next try must be refused."""
    try:
        urllib.request.urlopen(url, timeout=1).close()
    except (urllib.error.URLError, ConnectionError):
        return True
    except TimeoutError:
        return False
    return False


def test_why_cant_i_see_my_peer_shows_the_doctors_findings(qtbot: Any, tmp_path: Path) -> None:
    # The doctor listens for mDNS on the node's interfaces: loopback only, in a test.
    bridge = NodeBridge(
        lambda: Node(tmp_path / "solo", name="solo", discovery=False, interfaces=["lo"])
    )
    win = MainWindow(bridge)
    qtbot.addWidget(win)
    bridge.start()
    bridge.wait_started()
    try:
        why = next(b for b in win.findChildren(QPushButton) if b.text() == "Can't see your peer?")
        qtbot.mouseClick(why, Qt.MouseButton.LeftButton)
        dialog = win.menu.doctor
        assert dialog is not None and "listening" in dialog.view.toPlainText()
        qtbot.waitUntil(lambda: dialog.report is not None, timeout=15000)
        text = dialog.view.toPlainText()
        assert "This Chatty" in text and "Network interfaces" in text
        assert f"port {bridge.info['port']}" in text
        assert dialog.again.isEnabled()
    finally:
        bridge.stop()


def test_the_share_menu_item_opens_a_share_of_the_picked_file(
    qtbot: Any, window: MainWindow, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The menu path a person takes; only the OS file picker is stood in for."""
    picked = tmp_path / "holiday.jpg"
    picked.write_bytes(b"jpeg")
    monkeypatch.setattr(QFileDialog, "getOpenFileNames", lambda *a: ([str(picked)], ""))
    item = next(a for a in window.findChildren(QAction) if a.text() == "Share with a browser…")
    item.trigger()
    dialog = window.menu.share_dialog
    assert dialog is not None
    qtbot.waitUntil(lambda: dialog.share is not None, timeout=5000)
    assert "holiday.jpg" in dialog.address.text()
    dialog.reject()


def test_settings_are_read_from_the_dialog_on_the_gui_thread_and_applied(
    qtbot: Any, window: MainWindow, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Chatty → Settings… → Save crashed the app: the dialog's widgets were read on the
    node's thread. Record the thread that reads them, and that the rename lands."""
    from chatty_p2p.gui import dialogs

    readers: list[threading.Thread] = []
    real = dialogs.SettingsDialog.result_settings

    def recording(self: dialogs.SettingsDialog) -> dialogs.Settings:
        readers.append(threading.current_thread())
        return real(self)

    def save(self: dialogs.SettingsDialog) -> int:
        self.name.setText("renamed laptop")  # what the user typed, then Save
        return 1

    monkeypatch.setattr(dialogs.SettingsDialog, "result_settings", recording)
    monkeypatch.setattr(dialogs.SettingsDialog, "exec", save)
    window.menu.settings_dialog()
    qtbot.waitUntil(
        lambda: window.bridge.node is not None and window.bridge.node.name == "renamed laptop"
    )
    assert readers == [threading.main_thread()]


def test_settings_dialog_shows_what_the_node_holds_and_saves_it_there(
    qtbot: Any, window: MainWindow, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The dialog is filled from the node's settings and Save writes them back, all
    through the node. A folder chosen while running is the one shown next time,
    though ``--download-dir`` named another at start."""
    from chatty_p2p.gui import dialogs

    chosen = tmp_path / "chosen"
    chosen.mkdir()
    shown: list[dialogs.Settings] = []

    def save(self: dialogs.SettingsDialog) -> int:
        shown.append(self.result_settings())  # the widgets as the dialog opened
        self.folder.setText(str(chosen))
        self.auto_accept.setChecked(True)
        self.minimised.setChecked(True)
        return 1

    def look(self: dialogs.SettingsDialog) -> int:
        shown.append(self.result_settings())
        return 0  # Cancel

    assert window.bridge.info["start_minimised"] is False
    monkeypatch.setattr(dialogs.SettingsDialog, "exec", save)
    window.menu.settings_dialog()
    qtbot.waitUntil(lambda: len(shown) == 1)
    monkeypatch.setattr(dialogs.SettingsDialog, "exec", look)
    window.menu.settings_dialog()  # queued on the node's loop after the save
    qtbot.waitUntil(lambda: len(shown) == 2)
    before, after = shown
    assert before.download_dir == str(tmp_path / "laptop-downloads")
    assert not before.auto_accept_trusted and not before.start_minimised
    assert after.download_dir == str(chosen)
    assert after.auto_accept_trusted and after.start_minimised
    assert after.name == "laptop" and not after.trusted_only and not after.auto_copy_trusted


def test_the_settings_switch_for_log_in_writes_and_removes_the_autostart_entry(
    qtbot: Any, window: MainWindow, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ticked and saved: an XDG autostart entry that starts Chatty in the tray; the
    dialog shows it ticked next time; unticked and saved: the entry is gone."""
    from chatty_p2p.gui import dialogs

    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    entry = tmp_path / "config" / "autostart" / "chatty.desktop"
    seen: list[bool] = []

    def tick(self: dialogs.SettingsDialog) -> int:
        seen.append(self.autostart.isChecked())
        self.autostart.setChecked(not self.autostart.isChecked())
        return 1

    monkeypatch.setattr(dialogs.SettingsDialog, "exec", tick)
    window.menu.settings_dialog()
    qtbot.waitUntil(entry.exists)
    assert "--minimized" in entry.read_text()
    window.menu.settings_dialog()
    qtbot.waitUntil(lambda: not entry.exists())
    assert seen == [False, True]


def test_the_dns_sd_domain_and_key_are_set_in_settings_and_a_bad_key_is_said(
    qtbot: Any, window: MainWindow, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A desktop user, who starts Chatty from the menu and cannot pass --dns-sd-domain,
    sets the domain and its TSIG key file in Settings; the node keeps both. A key file
    that holds no key is said in the status bar, and the setting stays as it was."""
    from chatty_p2p.gui import dialogs

    good = tmp_path / "chatty.key"
    good.write_text('key "chatty" {\n\talgorithm hmac-sha256;\n\tsecret "c2VjcmV0c2VjcmV0";\n};\n')
    bad = tmp_path / "notes.txt"
    bad.write_text("the key is on the server\n")
    typed = [("sd.example", str(good)), ("other.example", str(bad))]
    shown: list[tuple[str, str]] = []

    def fill(self: dialogs.SettingsDialog) -> int:
        shown.append((self.dns_sd_domain.text(), self.dns_sd_key.text()))
        if not typed:
            return 0  # only looked
        domain, key = typed.pop(0)
        self.dns_sd_domain.setText(domain)
        self.dns_sd_key.setText(key)
        return 1

    monkeypatch.setattr(dialogs.SettingsDialog, "exec", fill)
    window.menu.settings_dialog()
    qtbot.waitUntil(lambda: len(shown) == 1)
    window.menu.settings_dialog()  # its reading is queued on the node's loop after the save
    qtbot.waitUntil(lambda: "holds no key clause" in window.statusBar().currentMessage())
    assert str(bad) in window.statusBar().currentMessage()
    window.menu.settings_dialog()
    qtbot.waitUntil(lambda: len(shown) == 3)
    assert shown == [("", ""), ("sd.example", str(good)), ("sd.example", str(good))]
