"""The window's tests: every one runs under the thread guard (``threadguard``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

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
    if guard.violations:
        pytest.fail(guard.report(), pytrace=False)
