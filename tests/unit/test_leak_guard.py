"""The leak guard of conftest.py can fail a test: a leaked thread, a pending task, a task
destroyed while pending; and a named allowance lets a known leak through."""

from __future__ import annotations

import textwrap

import pytest

import tests.conftest as guard

pytest_plugins = ["pytester"]

CONFTEST = """
from tests.conftest import _task_leak_guard, _thread_leak_guard, pytest_configure
"""


@pytest.fixture
def inner(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makeconftest(CONFTEST)
    pytester.makeini(
        "[pytest]\nasyncio_mode = auto\nasyncio_default_fixture_loop_scope = function\n"
    )
    return pytester


def run(pytester: pytest.Pytester, source: str) -> pytest.RunResult:
    pytester.makepyfile(test_inner=textwrap.dedent(source))
    return pytester.runpytest_inprocess("-p", "no:cacheprovider", "-p", "no:randomly")


def test_a_leaked_thread_fails_the_test(
    inner: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(guard, "LEAK_GRACE_S", 0.2)
    result = run(
        inner,
        """
        import threading

        release = threading.Event()

        def test_leaks():
            threading.Thread(target=release.wait, name="left-behind", daemon=True).start()

        def test_after():
            release.set()
        """,
    )
    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*test_leaks left behind:*",
            "*thread 'left-behind'*target=threading.Event.wait*",
            "*started at: *test_inner.py*in test_leaks*",
        ]
    )


def test_a_thread_that_ends_within_the_grace_is_no_leak(inner: pytest.Pytester) -> None:
    result = run(
        inner,
        """
        import threading, time

        def test_finishing():
            threading.Thread(target=time.sleep, args=(0.3,), name="finishing").start()
        """,
    )
    result.assert_outcomes(passed=1)


def test_a_pending_task_fails_the_test(inner: pytest.Pytester) -> None:
    result = run(
        inner,
        """
        import asyncio

        async def forever():
            await asyncio.Event().wait()

        async def test_leaks_a_task():
            asyncio.create_task(forever(), name="orphan")
            await asyncio.sleep(0)
        """,
    )
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(
        ["*test_leaks_a_task left tasks pending on its loop:*", "*task 'orphan' coro=forever*"]
    )


@pytest.mark.leaks(tasks=["forever"], reason="the inner test's, destroyed on purpose")
def test_a_task_destroyed_while_pending_fails_the_test(inner: pytest.Pytester) -> None:
    result = run(
        inner,
        """
        import asyncio, gc

        async def forever():
            await asyncio.get_running_loop().create_future()

        def test_drops_a_task():
            loop = asyncio.new_event_loop()
            loop.create_task(forever())
            loop.run_until_complete(asyncio.sleep(0))
            loop.close()
            del loop
            gc.collect()
        """,
    )
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["*destroyed while pending: Task was destroyed*forever*"])


def test_a_named_allowance_lets_a_known_leak_through(inner: pytest.Pytester) -> None:
    result = run(
        inner,
        """
        import asyncio, threading
        import pytest

        release = threading.Event()

        async def forever():
            await asyncio.Event().wait()

        @pytest.mark.leaks("known-*", tasks=["forever"], reason="bug #1: not joined at stop")
        async def test_known():
            threading.Thread(target=release.wait, name="known-1", daemon=True).start()
            asyncio.create_task(forever())
            await asyncio.sleep(0)

        @pytest.mark.leaks("known-*")
        def test_a_reason_is_required():
            pass

        def test_after():
            release.set()
        """,
    )
    result.assert_outcomes(passed=3, errors=1)
    result.stdout.fnmatch_lines(["*test_a_reason_is_required*needs a reason=*"])


def test_the_check_follows_the_runner_closing_the_loop(
    inner: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The default executor's threads are joined by the runner, before the thread check:
    no grace needed for them."""
    monkeypatch.setattr(guard, "LEAK_GRACE_S", 0.0)
    result = run(
        inner,
        """
        import asyncio, threading, time

        async def test_uses_the_executor():
            await asyncio.to_thread(time.sleep, 0.01)
            assert any(t.name.startswith("asyncio_") for t in threading.enumerate())
        """,
    )
    result.assert_outcomes(passed=1)
