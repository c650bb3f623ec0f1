"""Save PNG screenshots of the window's main states into docs/screenshots/.

    python scripts/screenshots.py

Starts the window (offscreen) and two headless nodes on loopback, with no mDNS:
the peer list's device cards with one peer online and one gone, the pairing code, a
conversation with a link and a finished file card, an incoming offer, the Transfers
panel (a finished two-file batch expanded to its files, and one still sending), and
the tray icon's menu. The peer list, the conversation, the Transfers panel and the
tray menu are saved light and dark (``-dark``), as a dark system palette shows them.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from PySide6.QtCore import QPoint  # noqa: E402
from PySide6.QtWidgets import QApplication, QWidget  # noqa: E402

from chatty_p2p.files.model import TransferInfo  # noqa: E402
from chatty_p2p.gui.bridge import NodeBridge  # noqa: E402
from chatty_p2p.gui.tray import Tray  # noqa: E402
from chatty_p2p.gui.window import MainWindow  # noqa: E402
from chatty_p2p.node import Node  # noqa: E402
from tests.gui.samples import dark_palette  # noqa: E402
from tests.support.headless import Headless  # noqa: E402

OUT = ROOT / "docs" / "screenshots"


def wait(app: QApplication, done: Callable[[], bool], timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            raise SystemExit("timed out waiting for the window")
        app.processEvents()
        time.sleep(0.02)


def light_and_dark(app: QApplication, name: str, grab: Callable[[], QWidget]) -> None:
    """Save ``grab()``'s widget as ``name``.png, then again as ``name``-dark.png with
    the dark palette a system's switch to dark hands over; the light one is put back."""
    light = app.palette()
    for suffix, palette in (("", light), ("-dark", dark_palette())):
        app.setPalette(palette)
        app.processEvents()
        grab().grab().save(str(OUT / f"{name}{suffix}.png"))
    app.setPalette(light)
    app.processEvents()


def main() -> None:
    app = QApplication(sys.argv[:1])
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        bridge = NodeBridge(
            lambda: Node(
                tmp / "laptop",
                name="laptop",
                discovery=False,
                download_dir=tmp / "dl",
                interfaces=["lo"],  # the doctor's mDNS look stays on this machine
            )
        )
        window = MainWindow(bridge)
        window.resize(1000, 640)
        bridge.start()
        bridge.wait_started()
        window.show()
        port, me = bridge.info["port"], bridge.info["id"]
        desk = Headless(Node(tmp / "desk", name="desktop", discovery=False, accept_from=["*"]))
        phone = Headless(Node(tmp / "phone", name="phone", discovery=False))
        for node in (desk, phone):
            node.run(node.node.add_peer("127.0.0.1", port))
        desk.call(lambda n: n.pair_by_fingerprint(me, me))  # the desk takes the album unasked
        wait(app, lambda: window.peers.rowCount() == 2)
        phone.stop()  # gone: greyed out in the list
        peers = window.peers
        wait(app, lambda: [peers.peer(i).online for i in range(2)] == [True, False])
        desk.run(desk.node.send_text(me, "Are the holiday photos ready?"))
        wait(app, lambda: window.conversation.rowCount() >= 1)
        light_and_dark(app, "peers", lambda: window)

        window.peer_view.setCurrentIndex(window.peers.index(0))
        wait(app, lambda: window.conversation.rowCount() >= 1)
        desk_id = desk.node.device_id
        window.pairings.pair(desk_id)
        wait(
            app,
            lambda: (
                desk_id in window.pairings.dialogs
                and bool(window.pairings.dialogs[desk_id].code.text())
            ),
        )
        pairing = window.pairings.dialogs[desk_id]
        app.processEvents()
        pairing.grab().save(str(OUT / "pair.png"))
        desk.call(lambda n: n.confirm_pairing(me, pairing.code.text()))
        pairing.match_button.click()
        wait(app, lambda: window.peers.peer(0).trust == "trusted")
        pairing.close()
        window.input.setPlainText("Yes! Sending them now.")
        window.input.submitted.emit(window.input.toPlainText())
        window.input.clear()
        photos = tmp / "holiday-photos"
        photos.mkdir()
        for i in range(12):
            (photos / f"IMG_{i:04}.jpg").write_bytes(os.urandom(400_000))
        window.send_paths([photos])
        desk.run(desk.node.send_text(me, "Thanks! The album is at https://example.org/album/2026"))

        def finished() -> bool:
            rows = [window.conversation.item(i) for i in range(window.conversation.rowCount())]
            cards = [r for r in rows if isinstance(r, TransferInfo)]
            return bool(cards) and cards[-1].state == "done" and len(rows) >= 4

        wait(app, finished)
        window.view.scrollToBottom()
        app.processEvents()
        light_and_dark(app, "conversation", lambda: window)

        video = tmp / "trip-video.mp4"
        video.write_bytes(os.urandom(2_000_000))
        sent = desk.run(desk.node.send_files(me, [video]))
        wait(app, lambda: sent.id in window.transfers.offers)
        dialog = window.transfers.offers[sent.id]
        app.processEvents()
        dialog.grab().save(str(OUT / "offer.png"))
        dialog.reject()

        window.menu.share_with_browser([video, photos], host="127.0.0.1")
        share = window.menu.share_dialog
        assert share is not None
        wait(app, lambda: share.share is not None)
        app.processEvents()
        share.grab().save(str(OUT / "share.png"))
        share.reject()
        window.menu.doctor_dialog()
        doctor = window.menu.doctor
        assert doctor is not None
        wait(app, lambda: doctor.report is not None)
        app.processEvents()
        doctor.grab().save(str(OUT / "doctor.png"))
        doctor.close()

        # The Transfers panel: a finished batch of two files, and one still sending.
        report, notes = tmp / "report.pdf", tmp / "notes.txt"
        report.write_bytes(os.urandom(300_000))
        notes.write_text("Notes from the trip\n" * 200)
        batch = desk_id, [report, notes]
        pair_sent = bridge_run(app, window, lambda n: n.send_files(*batch))
        wait(app, lambda: panel_state(window, pair_sent) == "done")
        big = tmp / "backup.tar"
        with big.open("wb") as f:
            f.truncate(8_000_000_000)  # sparse: read as zeros, never written to this disk
        big_sent = bridge_run(app, window, lambda n: n.send_files(desk_id, [big]))
        wait(app, lambda: panel_fraction(window, big_sent) > 0.3)
        panel = window.transfers_panel
        window.resize(1000, 760)
        window.toggle_transfers()
        panel.tree.expandItem(panel.items[panel_key(window, pair_sent)])
        wait(app, lambda: panel_key(window, pair_sent) in panel.files)
        for column in (0, 3):  # as a user drags the header: the panel's widths clip these
            panel.tree.resizeColumnToContents(column)
        panel.tree.setCurrentItem(panel.items[panel_key(window, big_sent)])  # its Cancel
        app.processEvents()
        light_and_dark(app, "transfers", lambda: window)
        window.bridge.call(lambda n: n.cancel(big_sent), lambda _: None)
        wait(app, lambda: panel_state(window, big_sent) == "cancelled")

        # The tray icon's menu (offscreen has no tray to hang it on: shown on its own).
        tray = window.tray or Tray(bridge, window.peers, window)

        def tray_menu() -> QWidget:
            tray.menu.popup(QPoint(40, 40))
            wait(app, tray.menu.isVisible)
            app.processEvents()
            return tray.menu

        light_and_dark(app, "tray-menu", tray_menu)
        tray.menu.hide()
        desk.stop()
        bridge.stop()
    print(f"saved {', '.join(sorted(p.name for p in OUT.glob('*.png')))} in {OUT}")


def bridge_run(
    app: QApplication, window: MainWindow, send: Callable[[Node], Awaitable[TransferInfo]]
) -> str:
    """Run ``send`` (a coroutine function) on the window's node; the transfer's id."""
    got: list[TransferInfo] = []
    window.bridge.call(send, got.append)
    wait(app, lambda: bool(got))
    return got[0].id


def panel_key(window: MainWindow, transfer_id: str) -> tuple[str, str, bool]:
    return next(k for k in window.transfers_panel.infos if k[1] == transfer_id)


def panel_state(window: MainWindow, transfer_id: str) -> str:
    infos = window.transfers_panel.infos
    return next((str(t.state) for k, t in infos.items() if k[1] == transfer_id), "")


def panel_fraction(window: MainWindow, transfer_id: str) -> float:
    infos = window.transfers_panel.infos
    found = [t for k, t in infos.items() if k[1] == transfer_id and t.size]
    return found[0].done_bytes / found[0].size if found else 0.0


if __name__ == "__main__":
    main()
