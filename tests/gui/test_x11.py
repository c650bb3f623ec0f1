"""The window on real X11: an Xvfb server and openbox, both started by the test.

The rest of the window's tests run offscreen, where some bugs never show: Chatty →
Settings… → Save crashed the app on X11 (a segfault) when a person tried it, and
passed offscreen.
Here the app runs in a subprocess on the ``xcb`` platform, so a crash is a failed test
with its signal and traceback, not the end of the test run, and its input is real:
keys and clicks sent through the X server (XTEST), as a person's are.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import pytest

from tests.gui.xinput import XInput, XInputUnavailable

pytestmark = pytest.mark.gui

REPO = Path(__file__).resolve().parents[2]
NEEDED = {"Xvfb": "xvfb", "openbox": "openbox"}
XCB_PACKAGES = (
    "libxcb-cursor0 libxcb-icccm4 libxcb-image0 libxcb-keysyms1 libxcb-randr0 "
    "libxcb-render-util0 libxcb-shape0 libxcb-xkb1 libxkbcommon-x11-0"
)
"""What Qt's xcb platform plugin loads beyond what Xvfb brings (Debian names)."""


@dataclass
class Display:
    name: str
    env: dict[str, str]
    """This process's environment, pointed at the display, for the app."""
    input: XInput


def _needs(what: str) -> NoReturn:
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI must test the window on X11, but {what}")
    pytest.skip(f"the X11 tests need {what}")


def _wait(done: Callable[[], bool], what: str, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, f"{what}: not within {timeout} s"
        time.sleep(0.05)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


@pytest.fixture
def display(tmp_path: Path) -> Iterator[Display]:
    """A fresh X server (no TCP listener) with a window manager, for this test only."""
    missing = [package for tool, package in NEEDED.items() if shutil.which(tool) is None]
    if missing:
        _needs(f"these packages are missing: {' '.join(missing)}")
    read, write = os.pipe()
    server = subprocess.Popen(
        ["Xvfb", "-displayfd", str(write), "-nolisten", "tcp", "-screen", "0", "1280x800x24"],
        pass_fds=[write],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    os.close(write)
    manager: subprocess.Popen[bytes] | None = None
    try:
        with os.fdopen(read) as announced:
            number = announced.readline().strip()  # written once the server accepts clients
        assert number, "Xvfb did not start"
        name = f":{number}"
        runtime = tmp_path / "xdg-runtime"
        runtime.mkdir(mode=0o700)
        env = {
            **{k: v for k, v in os.environ.items() if k not in ("WAYLAND_DISPLAY",)},
            "DISPLAY": name,
            "QT_QPA_PLATFORM": "xcb",
            "XDG_RUNTIME_DIR": str(runtime),
        }
        ready = tmp_path / "openbox-ready"
        manager = subprocess.Popen(
            ["openbox", "--startup", f"touch {ready}"],
            env={**env, "XDG_CACHE_HOME": str(tmp_path / "openbox-cache")},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        _wait(ready.exists, "openbox did not start")
        if (why := _xcb_unusable(env)) is not None:
            _needs(f"Qt's xcb platform does not start ({why}); Debian: {XCB_PACKAGES}")
        try:
            hands = XInput(name)
        except XInputUnavailable as exc:
            _needs(f"real input cannot be sent: {exc} (libxtst6)")
        try:
            yield Display(name, env, hands)
        finally:
            hands.close()
    finally:
        if manager is not None:
            _stop(manager)
        _stop(server)


def _xcb_unusable(env: dict[str, str]) -> str | None:
    """Why a Qt application cannot start on the xcb platform here; None if it can."""
    probe = subprocess.run(
        [sys.executable, "-c", "from PySide6.QtGui import QGuiApplication; QGuiApplication([])"],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    if probe.returncode == 0:
        return None
    lines = [line for line in probe.stderr.splitlines() if line.strip()]
    return lines[0] if lines else f"exit status {probe.returncode}"


def _crash_first(output: str, size: int = 6000) -> str:
    """The end of ``output``, or, after a crash, its report from the start (the
    faulting thread's stack comes first)."""
    at = output.find("Fatal Python error")
    return output[at : at + size] if at >= 0 else output[-size:]


def _outcome(process: subprocess.Popen[bytes], log: Path) -> str:
    code = process.poll()
    text = _crash_first(log.read_text(errors="replace"))
    if code is not None and code < 0:
        return f"the app was killed by {signal.Signals(-code).name}:\n{text}"
    return f"exit status {code}:\n{text}"


def test_settings_save_with_the_keyboard_on_x11_keeps_the_app_and_the_name(
    display: Display, tmp_path: Path
) -> None:
    """What the person who reported the crash did: `chatty`, then Alt+C, Settings…,
    a new name, Enter. The app must live on, show the name, and quit cleanly."""
    data = tmp_path / "data"
    log = tmp_path / "app.log"
    command = [sys.executable, "-X", "faulthandler", "-m", "chatty_p2p", "--no-discovery"]
    with log.open("wb") as out:
        app = subprocess.Popen(
            [*command, "--data-dir", str(data)],
            env=display.env,
            cwd=REPO,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        keys = display.input

        def focused(title: str) -> Callable[[], bool]:
            def check() -> bool:
                assert app.poll() is None, _outcome(app, log)
                return keys.focused_title() == title

            return check

        def window_named() -> bool:
            assert app.poll() is None, _outcome(app, log)
            return keys.focused_title().startswith("Chatty — ")

        _wait(window_named, "the window did not get the focus", timeout=20)
        keys.key("c", "Alt_L")  # the Chatty menu
        keys.key("Up")  # its last item: Settings…
        keys.key("Return")
        _wait(focused("Chatty settings"), "Settings… did not open its dialog")
        keys.key("a", "Control_L")
        keys.type("desk by the window")
        keys.key("Return")  # Save
        _wait(focused("Chatty — desk by the window"), "the new name is not in the title")
        time.sleep(0.5)  # the crash came as the dialog closed; give it time to show
        assert app.poll() is None, _outcome(app, log)
        app.send_signal(signal.SIGTERM)
        assert app.wait(20) == 0, _outcome(app, log)
    finally:
        _stop(app)
    probe = subprocess.run(
        [sys.executable, "-m", "chatty_p2p", "id", "--json", "--data-dir", str(data)],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=REPO,
    )
    assert json.loads(probe.stdout)["name"] == "desk by the window"


@pytest.mark.parametrize("platform", ["xcb", "offscreen"])
def test_settings_scenario_under_the_thread_guard(
    request: pytest.FixtureRequest, tmp_path: Path, platform: str
) -> None:
    """The same path with the mouse, the app watched by the thread guard: reading the
    dialog on the node's thread crashed only now and then, the guard catches it every
    time (exit status 4 and where it happened)."""
    env = {k: v for k, v in os.environ.items() if k != "DISPLAY"}
    if platform == "xcb":
        env = request.getfixturevalue("display").env
    data = tmp_path / "data"
    scenario = [sys.executable, "-X", "faulthandler", "-m", "tests.gui.settings_scenario"]
    done = subprocess.run(
        [*scenario, "--data-dir", str(data), "--name", "sofa laptop"],
        env={**env, "QT_QPA_PLATFORM": platform},
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=90,
    )
    output = _crash_first(done.stdout + done.stderr)
    if done.returncode < 0:
        pytest.fail(f"killed by {signal.Signals(-done.returncode).name}:\n{output}")
    assert done.returncode == 0, output
    assert f"platform {platform}" in done.stdout


def test_cards_and_the_bridge_on_x11(display: Display) -> None:
    """The card, thread, layout and choosing tests again, on the xcb platform: painted
    by the style a person's X11 session uses, measured in its pixels (the sideways
    scroll bar under 200 messages showed only here)."""
    files = [
        "tests/gui/test_cards.py",
        "tests/gui/test_threads.py",
        "tests/gui/test_layout.py",
        "tests/gui/test_choosing.py",
    ]
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *files],
        env=display.env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, _crash_first(done.stdout + done.stderr)
    assert " passed" in done.stdout and "skipped" not in done.stdout, done.stdout[-2000:]
