"""The GUI thread's rule, kept two ways: ``NodeBridge.call`` refuses work for the
node's thread that would take a widget along, and the thread guard (``threadguard``,
on for every window test) fails a test in which another thread touched one."""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QLineEdit

from chatty_p2p.gui.bridge import NodeBridge
from chatty_p2p.gui.dialogs import Settings, SettingsDialog
from chatty_p2p.node import Node
from tests.gui.threadguard import ThreadGuard

pytestmark = pytest.mark.gui

SETTINGS = Settings("laptop", "/tmp/downloads", False, False, False, False)


@pytest.fixture
def bridge(qtbot: Any, tmp_path: Path) -> Iterator[NodeBridge]:
    started = NodeBridge(lambda: Node(tmp_path / "node", name="laptop", discovery=False))
    started.start()
    started.wait_started()
    yield started
    started.stop()


def refused(bridge: NodeBridge, fn: Any) -> str:
    with pytest.raises(TypeError) as caught:
        bridge.call(fn)
    return str(caught.value)


def test_a_call_that_would_read_a_dialog_on_the_node_thread_is_refused(
    qtbot: Any, bridge: NodeBridge
) -> None:
    """The Settings crash's own shape, and the other ways a widget rides along."""
    dialog = SettingsDialog(SETTINGS)
    qtbot.addWidget(dialog)
    field = QLineEdit("typed")
    qtbot.addWidget(field)

    def apply(node: Node, chosen: Settings) -> None: ...

    message = refused(bridge, lambda n: apply(n, dialog.result_settings()))
    assert "SettingsDialog" in message and "GUI thread" in message
    assert "QLineEdit" in refused(bridge, dialog.name.text)  # a Qt method itself
    assert "SettingsDialog" in refused(bridge, dialog.result_settings)  # a bound method
    assert "QLineEdit" in refused(bridge, functools.partial(lambda n, f: f.text(), f=field))
    assert "QLineEdit" in refused(bridge, lambda n, f=field: f.text())  # a default
    fields = {"name": field}
    assert "QLineEdit" in refused(bridge, lambda n: fields["name"].text())  # in a container

    def outer() -> Any:
        return lambda n: field.text()

    assert "QLineEdit" in refused(bridge, lambda n: outer()(n))  # a closure's closure


def test_plain_values_and_signals_may_go(qtbot: Any, bridge: NodeBridge) -> None:
    """What the window does instead: read on the GUI thread, pass the values; the node's
    side talks back by emitting a signal, which is safe from any thread."""

    class Relay(QObject):
        said = Signal(str)

    relay = Relay()
    heard: list[str] = []
    relay.said.connect(heard.append)
    field = QLineEdit("sofa")
    qtbot.addWidget(field)
    name = field.text()
    say = relay.said.emit
    results: list[object] = []
    bridge.call(lambda n: say(f"{n.name} -> {name}"), results.append)
    qtbot.waitUntil(lambda: len(results) == 1 and heard == ["laptop -> sofa"], timeout=5000)


def test_done_runs_from_the_event_loop_not_inside_call(qtbot: Any, bridge: NodeBridge) -> None:
    """A result ready before ``call`` returned was handed over inside ``call`` itself
    (Settings' ``exec`` then ran nested in the menu's click); now it always waits for
    the event loop. Once the node has stopped, every answer is ready at once."""
    bridge.stop()
    answers: list[str] = []
    bridge.call(lambda n: n.name, answers.append, answers.append)
    assert answers == []  # not yet: ``call`` has returned first
    qtbot.waitUntil(lambda: answers == ["Chatty has stopped"], timeout=5000)


def test_the_guard_sees_a_widget_touched_from_another_thread(
    qtbot: Any, gui_thread_guard: ThreadGuard
) -> None:
    """The guard this directory runs every test under, doing its job: a thread that reads
    a line edit is reported with the method and the place; one that emits a signal
    is not."""

    class Relay(QObject):
        said = Signal(str)

    relay = Relay()
    field = QLineEdit("typed")
    qtbot.addWidget(field)

    def reader() -> None:
        field.text()

    def emitter() -> None:
        relay.said.emit("hello")

    for work in (emitter, reader):
        thread = threading.Thread(target=work, name=work.__name__)
        thread.start()
        thread.join(5)
    assert len(gui_thread_guard.violations) == 1, gui_thread_guard.violations
    seen = gui_thread_guard.violations[0]
    assert "QLineEdit.text() on thread 'reader'" in seen
    assert "tests/gui/test_threads.py" in seen and "in reader" in seen
    gui_thread_guard.violations.clear()  # seen: this test must not fail for it
