"""Chatty → Settings… → Save, as a person does it, in the real app.

``python -m tests.gui.settings_scenario --data-dir D --name NEW`` starts the window as
``chatty --no-discovery`` does (``chatty_p2p.gui.app.run``), opens the Chatty menu with
the mouse, picks Settings…, types a new device name, clicks Save, waits for the title
to show it, opens Settings again to see the name there, closes it with Escape and
quits. Every thread the app starts is watched by the thread guard.

It is run in a subprocess by ``test_x11.py``, on the platform the test chooses (real
X11 under Xvfb, or offscreen), so that a crash (Save segfaulted on X11) is a failed test
with its exit status, not the end of the test run. Exit status: 0 done; 2 a step failed;
3 a step timed out; 4 Qt was touched off the GUI thread; a negative one, the signal that
killed it.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import traceback
from collections.abc import Callable, Iterator

from PySide6.QtCore import QPoint, Qt, QTimer
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QDialogButtonBox, QLineEdit, QMenu, QWidget

from chatty_p2p.cli.parser import parse
from chatty_p2p.gui import app as gui_app
from chatty_p2p.gui.dialogs import SettingsDialog
from chatty_p2p.gui.window import MainWindow
from tests.gui.threadguard import ThreadGuard
from tests.gui.xinput import XInput

STEP_TIMEOUT_S = 20.0

Wait = Callable[[], bool]


def say(text: str) -> None:
    print(f"scenario: {text}", flush=True)


def shown(widget: QWidget | None) -> bool:
    """Mapped and exposed by the window system (not merely ``show()`` called)."""
    if widget is None or not widget.isVisible():
        return False
    handle = widget.windowHandle()
    return handle is not None and handle.isExposed()


def window() -> MainWindow | None:
    return next((w for w in QApplication.topLevelWidgets() if isinstance(w, MainWindow)), None)


def settings_dialog() -> SettingsDialog | None:
    modal = QApplication.activeModalWidget()
    return modal if isinstance(modal, SettingsDialog) and shown(modal) else None


def popup_menu() -> QMenu | None:
    popup = QApplication.activePopupWidget()
    return popup if isinstance(popup, QMenu) and shown(popup) else None


class Hands:
    """A person's mouse and keyboard: real X input (XTEST) on X11, so that clicks and
    keys reach the app through the X server and the window manager as a person's do;
    ``QTest``'s made-up events elsewhere (offscreen has no server to send them to)."""

    def __init__(self) -> None:
        self.x = XInput(os.environ["DISPLAY"]) if QApplication.platformName() == "xcb" else None

    def click(self, widget: QWidget, pos: QPoint | None = None) -> None:
        at = pos if pos is not None else widget.rect().center()
        if self.x is not None:
            spot = widget.mapToGlobal(at)
            self.x.click(spot.x(), spot.y())
        else:  # from the event loop: what the click starts may run a loop of its own
            QTimer.singleShot(
                0, lambda: QTest.mouseClick(widget, Qt.MouseButton.LeftButton, pos=at)
            )

    def type_over(self, field: QLineEdit, text: str) -> None:
        """Select all ``field`` holds (it has the focus: see ``steps``), type ``text``."""
        if self.x is not None:
            self.x.key("a", "Control_L")
            self.x.type(text)
        else:
            QTest.keyClick(field, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier)
            QTest.keyClicks(field, text)

    def escape(self, widget: QWidget) -> None:
        if self.x is not None:
            self.x.key("Escape")
        else:
            QTest.keyClick(widget, Qt.Key.Key_Escape)


def click_menu_item(hands: Hands, win: MainWindow, menu_title: str, item: str) -> Iterator[Wait]:
    """Click the menu bar's ``menu_title``, then ``item`` in the menu that opens."""
    bar = win.menuBar()
    action = next(a for a in bar.actions() if a.text() == menu_title)
    hands.click(bar, bar.actionGeometry(action).center())
    yield lambda: popup_menu() is not None
    menu = popup_menu()
    assert menu is not None
    entry = next(a for a in menu.actions() if a.text() == item)
    hands.click(menu, menu.actionGeometry(entry).center())


def open_settings(hands: Hands, win: MainWindow, opened: list[SettingsDialog]) -> Iterator[Wait]:
    """Chatty → Settings…, by the menu, until the dialog is up; it is put in ``opened``."""
    yield from click_menu_item(hands, win, "&Chatty", "Settings…")
    yield lambda: settings_dialog() is not None
    dialog = settings_dialog()
    assert dialog is not None
    opened.append(dialog)


def steps(new_name: str) -> Iterator[Wait]:
    yield lambda: (w := window()) is not None and shown(w) and bool(w.me)
    win = window()
    assert win is not None
    hands = Hands()
    say(f"window up as {win.me['name']!r} on {QApplication.platformName()}")

    opened: list[SettingsDialog] = []
    yield from open_settings(hands, win, opened)
    dialog = opened.pop()
    say(f"settings open, name {dialog.name.text()!r}")
    # Keys go to the window that has the focus: the dialog is made active by the window
    # manager a moment after it is shown (later on a busy machine), and a click before
    # that landed on the main window (a CI run, two suites side by side).
    yield lambda: dialog.isActiveWindow()
    hands.click(dialog.name)
    yield lambda: dialog.name.hasFocus()
    hands.type_over(dialog.name, new_name)
    yield lambda: dialog.name.text() == new_name
    buttons = dialog.findChild(QDialogButtonBox)
    assert buttons is not None
    hands.click(buttons.button(QDialogButtonBox.StandardButton.Save))
    say("clicked Save")

    yield lambda: win.windowTitle() == f"Chatty — {new_name}"
    say(f"title is {win.windowTitle()!r}")

    yield from open_settings(hands, win, opened)
    again = opened.pop()
    say(f"settings again, name {again.name.text()!r}")
    assert again.name.text() == new_name
    yield lambda: again.isActiveWindow()
    hands.escape(again)
    yield lambda: settings_dialog() is None
    say("settings closed")


class Driver:
    """Advances ``steps`` whenever the condition it waits for holds, from a timer on
    the GUI thread (which keeps firing inside a dialog's ``exec``)."""

    def __init__(self, script: Iterator[Wait]) -> None:
        self.script = script
        self.waiting: Wait = lambda: True
        self.since = time.monotonic()
        self.busy = False  # a step that spins the event loop does not tick again in it
        self.timer = QTimer()
        self.timer.timeout.connect(self.tick)
        self.timer.start(20)

    def tick(self) -> None:
        app = QApplication.instance()
        assert app is not None
        if self.busy:
            return
        if not self.waiting():
            if time.monotonic() - self.since > STEP_TIMEOUT_S:
                say("a step timed out")
                os._exit(3)  # from inside a dialog's exec too, and whatever holds the node
            return
        self.busy = True
        try:
            self.waiting = next(self.script)
            self.since = time.monotonic()
        except StopIteration:
            self.timer.stop()
            say("done")
            app.quit()
        except BaseException:
            traceback.print_exc()
            say("a step failed")
            os._exit(2)
        finally:
            self.busy = False


def main() -> int:
    options = argparse.ArgumentParser()
    options.add_argument("--data-dir", required=True)
    options.add_argument("--name", required=True)
    options.add_argument(
        "--unguarded", action="store_true", help="without the thread guard: as a user runs it"
    )
    ours = options.parse_args()
    guard = ThreadGuard()
    if not ours.unguarded:
        guard.install()
    app = QApplication(sys.argv[:1])
    driver = Driver(steps(ours.name))
    status = gui_app.run(parse(["--data-dir", ours.data_dir, "--no-discovery"]))
    driver.timer.stop()
    guard.uninstall()
    say(f"platform {app.platformName()}, exit status {status}")
    if guard.violations:
        print(guard.report(), file=sys.stderr, flush=True)
        return 4
    return status


if __name__ == "__main__":
    sys.exit(main())
