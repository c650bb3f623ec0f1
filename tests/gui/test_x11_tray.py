"""The tray on real X11: Xvfb, openbox and a system tray (wmdocker), all started here.

A smoke test of the whole app as a person uses it: `chatty` starts, Settings… is
opened and saved, the window is closed through the window manager (Alt+F4) and
Chatty stays in the tray, a file arrives from a peer meanwhile, a click on the tray
icon brings the window back, and the icon's menu quits (exit status 0).
"""

from __future__ import annotations

import ctypes
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from chatty_p2p.node import Node
from tests.gui import test_x11
from tests.gui.test_x11 import REPO, Display, _needs, _outcome, _stop, _wait
from tests.support.headless import Headless

pytestmark = pytest.mark.gui

display = test_x11.display
"""A fresh Xvfb with openbox (see test_x11)."""

PROBE = (
    "from PySide6.QtWidgets import QApplication, QSystemTrayIcon; QApplication([]); "
    "raise SystemExit(0 if QSystemTrayIcon.isSystemTrayAvailable() else 3)"
)


@pytest.fixture
def tray(display: Display) -> Iterator[Display]:
    """The display with a system tray (wmdocker, a Debian package scripts/test installs)."""
    if shutil.which("wmdocker") is None:
        _needs("a system tray: the package wmdocker is missing")
    host = subprocess.Popen(
        ["wmdocker"], env=display.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:

        def there() -> bool:
            assert host.poll() is None, f"wmdocker ended with status {host.returncode}"
            probe = [sys.executable, "-c", PROBE]
            return subprocess.run(probe, env=display.env, timeout=30).returncode == 0

        _wait(there, "Qt sees no system tray")
        yield display
    finally:
        _stop(host)


def _tray_host_centre(name: str) -> tuple[int, int]:
    """Where on the screen the middle of the tray host's window (``Docker``) is: the
    icon it holds, Chatty's."""
    x11 = ctypes.CDLL("libX11.so.6")
    window, uint, int_, ref = ctypes.c_ulong, ctypes.c_uint, ctypes.c_int, ctypes.byref
    x11.XOpenDisplay.restype = ctypes.c_void_p
    x11.XOpenDisplay.argtypes = [ctypes.c_char_p]
    x11.XDefaultRootWindow.restype = window
    x11.XDefaultRootWindow.argtypes = [ctypes.c_void_p]
    x11.XQueryTree.argtypes = [ctypes.c_void_p, window, *[ctypes.c_void_p] * 4]
    x11.XFetchName.argtypes = [ctypes.c_void_p, window, ctypes.POINTER(ctypes.c_char_p)]
    x11.XGetGeometry.argtypes = [ctypes.c_void_p, window, *[ctypes.c_void_p] * 7]
    x11.XTranslateCoordinates.argtypes = [
        ctypes.c_void_p,
        window,
        window,
        int_,
        int_,
        *[ctypes.c_void_p] * 3,
    ]
    x11.XFree.argtypes = [ctypes.c_void_p]
    x11.XCloseDisplay.argtypes = [ctypes.c_void_p]
    connection = x11.XOpenDisplay(name.encode())
    assert connection, f"cannot open {name}"
    try:
        root = x11.XDefaultRootWindow(connection)
        todo = [root]
        while todo:
            here = todo.pop()
            title = ctypes.c_char_p()
            if x11.XFetchName(connection, here, ref(title)) and title.value == b"Docker":
                size = [uint() for _ in range(4)]  # width, height, border, depth
                spot = [int_(), int_()]
                x11.XGetGeometry(connection, here, ref(window()), *map(ref, spot), *map(ref, size))
                x, y = int_(), int_()
                middle = (size[0].value // 2, size[1].value // 2)
                x11.XTranslateCoordinates(
                    connection, here, root, *middle, ref(x), ref(y), ref(window())
                )
                return x.value, y.value
            children, count = ctypes.POINTER(window)(), uint()
            if x11.XQueryTree(
                connection, here, ref(window()), ref(window()), ref(children), ref(count)
            ):
                todo += children[: count.value]
                if children:
                    x11.XFree(children)
        raise AssertionError("the tray host's window is not on the screen")
    finally:
        x11.XCloseDisplay(connection)


def chatty(*args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "chatty_p2p", *args],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=REPO,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_close_to_the_tray_receive_and_quit_from_its_menu_on_x11(
    tray: Display, tmp_path: Path
) -> None:
    desk = Headless(Node(tmp_path / "desk", name="desk", discovery=False))
    data = ["--data-dir", str(tmp_path / "data")]
    got = tmp_path / "got"
    log = tmp_path / "app.log"
    # The app's node takes the desk's files unasked: paired by fingerprint, auto-accept.
    chatty("download-dir", str(got), *data)
    chatty("pair", desk.node.device_id, "--fingerprint", desk.node.device_id, *data)
    chatty("auto-accept", "on", *data)
    with log.open("wb") as out:
        app = subprocess.Popen(
            [sys.executable, "-X", "faulthandler", "-m", "chatty_p2p", "--no-discovery", *data],
            env=tray.env,
            cwd=REPO,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    keys = tray.input

    def focused(check: Callable[[str], bool]) -> Callable[[], bool]:
        def test() -> bool:
            assert app.poll() is None, _outcome(app, log)
            return check(keys.focused_title())

        return test

    def window_shown() -> Callable[[], bool]:
        return focused(lambda title: title == "Chatty — tray desk")

    try:
        _wait(focused(lambda title: title.startswith("Chatty — ")), "no window", timeout=20)
        keys.key("c", "Alt_L")  # Chatty → Settings… (its last item)
        keys.key("Up")
        keys.key("Return")
        _wait(focused(lambda title: title == "Chatty settings"), "Settings… did not open")
        keys.key("a", "Control_L")
        keys.type("tray desk")
        keys.key("Return")  # Save
        _wait(window_shown(), "the saved name is not in the title")

        keys.key("F4", "Alt_L")  # the window manager closes the window
        _wait(focused(lambda title: title != "Chatty — tray desk"), "the window stayed")
        time.sleep(0.5)  # quitting, as before, took this long at most
        assert app.poll() is None, "closing the window quit Chatty:\n" + _outcome(app, log)

        me = json.loads(chatty("id", "--json", *data))  # the app's node answers
        desk.run(desk.node.add_peer("127.0.0.1", me["port"]))
        photo = tmp_path / "photo.jpg"
        photo.write_bytes(os.urandom(200_000))
        desk.run(desk.node.send_files(me["id"], [photo]))
        arrived = got / "photo.jpg"
        _wait(lambda: arrived.exists() and arrived.stat().st_size == 200_000, "no file")
        assert arrived.read_bytes() == photo.read_bytes()

        x, y = _tray_host_centre(tray.name)
        keys.click(x, y)  # the tray icon: the window comes back
        _wait(window_shown(), "a click on the tray icon did not show the window")
        keys.xtst.XTestFakeMotionEvent(keys.display, -1, x, y, 0)
        keys.xtst.XTestFakeButtonEvent(keys.display, 3, 1, 0)  # its menu
        keys.xtst.XTestFakeButtonEvent(keys.display, 3, 0, 0)
        keys.x11.XFlush(keys.display)
        time.sleep(0.5)
        keys.key("Up")  # Quit, the last item
        keys.key("Return")
        assert app.wait(20) == 0, _outcome(app, log)
    finally:
        if app.poll() is None:
            app.send_signal(signal.SIGTERM)
        _stop(app)
        desk.stop()
