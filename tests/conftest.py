"""Shared fixtures. Network-lab tests skip off CI without root, and fail on CI."""

from __future__ import annotations

import asyncio
import atexit
import fnmatch
import logging
import os
import re
import shutil
import signal
import sys
import sysconfig
import tempfile
import threading
import time
import weakref
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

from chatty_p2p.node import Node
from tests.support.netlab import Lab, lab_unavailable_reason

# Commands the tests start inherit this process's signal dispositions. Run under
# `nohup` (or a shell that ignores hang-ups), SIGHUP would be ignored in every one of
# them, and a test that hangs up on a command (`chatty pair` losing its terminal) would
# wait for an exit that never comes: the tests run with the default, as a user's do.
# Likewise SIGINT, which a shell ignores in a job it starts in the background (`&`):
# the Ctrl+C tests would then time out.
signal.signal(signal.SIGHUP, signal.SIG_DFL)
signal.signal(signal.SIGINT, signal.default_int_handler)

# The window is tested for real, but never on a screen: a bare `pytest` works too.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# Nor on the user's desktop: notifications go to the session bus a test starts itself
# (tests/gui/test_notifications.py), never to the one of the shell that ran pytest.
os.environ.pop("DBUS_SESSION_BUS_ADDRESS", None)
# Nor in the user's Downloads: a node given no download folder (and every command a test
# starts) lands files in a folder of this run's, removed at its end. Files piled up in
# ~/Downloads/Chatty, and two runs side by side (scripts/test's two) removed each
# other's folder there mid-transfer ("cannot write in ~/Downloads/Chatty").
os.environ["XDG_DOWNLOAD_DIR"] = tempfile.mkdtemp(prefix="chatty-test-downloads-")
atexit.register(shutil.rmtree, os.environ["XDG_DOWNLOAD_DIR"], ignore_errors=True)

# Property tests and fuzz targets: a few hundred cases in every run, many more on demand
# (pytest tests/unit/test_fuzz.py --hypothesis-profile=fuzz).
settings.register_profile("ci", max_examples=300, deadline=None)
settings.register_profile(
    "fuzz",
    max_examples=100_000,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
settings.load_profile("ci")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """A long fuzz run is not a hung test: lift the per-test timeout for it."""
    if config.getoption("hypothesis_profile", None) == "fuzz":
        for item in items:
            item.add_marker(pytest.mark.timeout(0))
    for item in items:
        for allowance in LEAK_ALLOWANCES:
            if fnmatch.fnmatchcase(item.nodeid, allowance.nodeid):
                item.add_marker(
                    pytest.mark.leaks(
                        *allowance.threads, tasks=allowance.tasks, reason=allowance.reason
                    )
                )


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[Lab]:
    reason = lab_unavailable_reason()
    if reason is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI must run the network lab, but: {reason}")
        pytest.skip(reason)
    tmp_path.chmod(0o755)
    built = Lab(tmp_path)
    try:
        yield built
    finally:
        built.close()


@pytest.fixture
async def nodes(tmp_path: Path) -> AsyncIterator[tuple[Node, Node]]:
    """Two started nodes on loopback, alpha and bravo, without mDNS; not yet connected."""
    a = Node(tmp_path / "a", name="alpha", discovery=False)
    b = Node(tmp_path / "b", name="bravo", discovery=False)
    await a.start()
    try:
        await b.start()
    except BaseException:
        await a.stop()
        raise
    try:
        yield a, b
    finally:  # bravo stops even if alpha's stop fails: no node outlives its test
        try:
            await a.stop()
        finally:
            await b.stop()


# ---------------------------------------------------------------------------------------
# Leak guard: no test may leave a thread or an asyncio task behind.
#
# Threads: ``threading.enumerate()`` is taken when a test's function-scoped set-up starts
# (module- and session-scoped fixtures are already up then, so their threads are part of
# the baseline) and again when its teardown ends. A thread that is new and still alive
# after a grace period (each is joined, all within LEAK_GRACE_S) fails the test with its
# name, target, where it was started and where it is now. Not counted, by design:
#   * the main thread (pytest's own; plugins in use here start no threads: pytest-timeout
#     uses SIGALRM, pytest-qt's session QApplication starts no Python thread);
#   * ``threading._DummyThread``: a thread Python did not start (Qt's, a C library's)
#     that called into Python once; it cannot be joined and is never removed;
#   * threads of a loop's default executor ("asyncio_N") need no special case: the
#     test's runner shuts the executor down before the check, and an executor left to a
#     loop that was merely closed ends within the grace period once idle; one still
#     busy after it is a leak and is reported like any other thread.
# Tasks: for a pytest-asyncio test, the tasks still pending on the test's loop once the
# test and its async fixtures are done (after a grace of LEAK_TASK_GRACE_S, in which the
# loop runs so cancelled or finishing tasks can end) fail the test: the runner would
# otherwise cancel them silently. Anywhere (any loop, any thread), asyncio's "Task was
# destroyed but it is pending!" logged during a test fails it too.
#
# A known product leak is allowed by name, never wholesale:
#   @pytest.mark.leaks("chatty-lane-*", tasks=["Connection._ping_forever"], reason="...")
# in the test file, or an entry in LEAK_ALLOWANCES below for files others own. Patterns
# are fnmatch globs against the thread's name or its target's qualified name, and the
# task's coroutine's qualified name. An allowed leak is not waited for (no grace cost).
# CHATTY_LEAK_GUARD=0 turns the guard off (to time the suite without it);
# CHATTY_LEAK_GRACE_S=0 shows the threads still ending when the teardown is done.
# ---------------------------------------------------------------------------------------

LEAK_GRACE_S = float(os.environ.get("CHATTY_LEAK_GRACE_S", "3"))
LEAK_TASK_GRACE_S = 1.0
_REPO = str(Path(__file__).resolve().parent.parent) + os.sep


@dataclass(frozen=True)
class LeakAllowance:
    """A known leak of the product, allowed for the tests matching ``nodeid`` (a glob)
    until the product bug named in ``reason`` is fixed."""

    nodeid: str
    threads: tuple[str, ...] = ()
    tasks: tuple[str, ...] = ()
    reason: str = ""


LEAK_ALLOWANCES: list[LeakAllowance] = []


_LIBRARIES = tuple(
    {sysconfig.get_path(p) + os.sep for p in ("stdlib", "platstdlib", "purelib", "platlib")}
)


def _short(file: str) -> str:
    return file[len(_REPO) :] if file.startswith(_REPO) else file


def _repo_frames(frame: FrameType | None, limit: int = 6) -> list[str]:
    """The innermost ``limit`` frames of ``frame``'s stack that are our code (chatty_p2p/,
    tests/: not the standard library's, not an installed package's), as 'path:line in
    function', innermost first."""
    where: list[str] = []
    while frame is not None and len(where) < limit:
        file = frame.f_code.co_filename
        if not file.startswith(_LIBRARIES) and not file.startswith("<"):
            where.append(f"{_short(file)}:{frame.f_lineno} in {frame.f_code.co_name}")
        frame = frame.f_back
    return where


_thread_start = threading.Thread.start
_started_at: weakref.WeakKeyDictionary[threading.Thread, list[str]] = weakref.WeakKeyDictionary()


def _recording_start(self: threading.Thread) -> None:
    """``Thread.start``, remembering where it was called from for the leak report."""
    _started_at[self] = _repo_frames(sys._getframe(1))
    _thread_start(self)


threading.Thread.start = _recording_start  # type: ignore[method-assign]


def _qualname(fn: object) -> str:
    fn = getattr(fn, "__func__", fn)
    module = getattr(fn, "__module__", None) or "?"
    return f"{module}.{getattr(fn, '__qualname__', repr(fn))}"


def _describe_thread(thread: threading.Thread) -> str:
    target = getattr(thread, "_target", None)
    lines = [
        f"thread {thread.name!r} (daemon={thread.daemon}, "
        f"target={_qualname(target) if target else type(thread).__qualname__})"
    ]
    started = _started_at.get(thread)
    if started:
        lines.append("    started at: " + " <- ".join(started))
    frame = sys._current_frames().get(thread.ident or -1)
    now = _repo_frames(frame)
    if frame is not None:
        inner = f"{frame.f_code.co_filename}:{frame.f_lineno} in {frame.f_code.co_name}"
        lines.append("    now at: " + " <- ".join(now or [inner]))
    return "\n".join(lines)


def _coro_name(task: asyncio.Task[Any]) -> str:
    coro = task.get_coro()
    return getattr(coro, "__qualname__", None) or type(coro).__qualname__


def _describe_task(task: asyncio.Task[Any]) -> str:
    """The task's coroutine and the chain of coroutines it is suspended in."""
    chain: list[str] = []
    coro: Any = task.get_coro()
    while coro is not None and len(chain) < 8:
        frame = getattr(coro, "cr_frame", None) or getattr(coro, "gi_frame", None)
        name = getattr(coro, "__qualname__", type(coro).__qualname__)
        if frame is not None:
            chain.append(f"{name} at {_short(frame.f_code.co_filename)}:{frame.f_lineno}")
        else:
            chain.append(repr(coro)[:120])
        coro = getattr(coro, "cr_await", None) or getattr(coro, "gi_yieldfrom", None)
    return f"task {task.get_name()!r} coro={_coro_name(task)}: " + " -> ".join(chain)


def _allowed(item: pytest.Item) -> tuple[list[str], list[str]]:
    threads: list[str] = []
    tasks: list[str] = []
    for marker in item.iter_markers("leaks"):
        if not marker.kwargs.get("reason"):
            pytest.fail(f"@pytest.mark.leaks on {item.nodeid} needs a reason= naming the bug")
        threads.extend(marker.args)
        tasks.extend(marker.kwargs.get("tasks", ()))
    return threads, tasks


def _matches(patterns: list[str], *names: str) -> bool:
    return any(fnmatch.fnmatchcase(n, p) for p in patterns for n in names if n)


class _DestroyedPending(logging.Handler):
    """Collects asyncio's 'Task was destroyed but it is pending!' reports."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.reports: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if "Task was destroyed but it is pending" in message:
            self.reports.append(message.replace("\n", " "))


@pytest.fixture(autouse=True)
def _thread_leak_guard(request: pytest.FixtureRequest) -> Iterator[None]:
    """Fails the test if it leaves a thread alive (or an asyncio task destroyed while
    pending). First of the function-scoped fixtures, so its check follows every other
    teardown, the asyncio runner's included."""
    if os.environ.get("CHATTY_LEAK_GUARD") == "0":  # to time the suite without it
        yield
        return
    before = set(threading.enumerate())
    destroyed = _DestroyedPending()
    asyncio_log = logging.getLogger("asyncio")
    asyncio_log.addHandler(destroyed)
    try:
        yield
    finally:
        asyncio_log.removeHandler(destroyed)
    allowed_threads, allowed_tasks = _allowed(request.node)
    suspects = [
        t
        for t in threading.enumerate()
        if t not in before
        and t is not threading.main_thread()
        and not isinstance(t, threading._DummyThread)
        and not _matches(allowed_threads, t.name, _qualname(getattr(t, "_target", None)))
    ]
    deadline = time.monotonic() + LEAK_GRACE_S
    for thread in suspects:
        thread.join(max(0.0, deadline - time.monotonic()))
    leaked = [t for t in suspects if t.is_alive()]
    reports = [
        r
        for r in destroyed.reports
        if not _matches(allowed_tasks, *re.findall(r"coro=<([\w.<>]+)\(", r))
    ]
    problems = [_describe_thread(t) for t in leaked]
    problems += [f"destroyed while pending: {r}" for r in reports]
    if problems:
        pytest.fail(
            f"{request.node.nodeid} left behind:\n  " + "\n  ".join(problems), pytrace=False
        )


@pytest.fixture(autouse=True)
def _task_leak_guard(request: pytest.FixtureRequest, _thread_leak_guard: None) -> Iterator[None]:
    """For a pytest-asyncio test: fails it if tasks are still pending on its loop once
    the test and its async fixtures are done, before the runner would cancel them."""
    runner_name = "_function_scoped_runner"
    if runner_name not in request.fixturenames or os.environ.get("CHATTY_LEAK_GUARD") == "0":
        yield
        return
    loop = request.getfixturevalue(runner_name).get_loop()
    yield
    if loop.is_closed() or loop.is_running():
        return
    pending = {t for t in asyncio.all_tasks(loop) if not t.done()}
    if pending:  # finishing ones (cancelled, or about to return) get a moment to end
        loop.run_until_complete(asyncio.wait(pending, timeout=LEAK_TASK_GRACE_S))
    _, allowed_tasks = _allowed(request.node)
    leaked = [t for t in pending if not t.done() and not _matches(allowed_tasks, _coro_name(t))]
    if leaked:
        pytest.fail(
            f"{request.node.nodeid} left tasks pending on its loop:\n  "
            + "\n  ".join(_describe_task(t) for t in leaked),
            pytrace=False,
        )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "leaks(*thread_globs, tasks=(), reason): a known product leak this test may leave "
        "behind (threads by name or target, tasks by coroutine); reason names the bug",
    )


@pytest.fixture
async def pair(tmp_path: Path) -> AsyncIterator[tuple[Node, Node]]:
    a = Node(tmp_path / "a", name="alpha", discovery=False, download_dir=tmp_path / "a-dl")
    b = Node(tmp_path / "b", name="bravo", discovery=False, download_dir=tmp_path / "b-dl")
    await a.start()
    await b.start()
    await a.add_peer("127.0.0.1", b.port)
    yield a, b
    await a.stop()
    await b.stop()
