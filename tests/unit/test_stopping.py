"""Tasks are stopped for certain: one that lets a cancellation go (as Python 3.11's
``asyncio.wait_for`` can) is cancelled again; one that never ends is left after the
grace, said in the log, and the caller goes on."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from chatty_p2p.stopping import cancel_and_wait


async def test_a_task_that_swallows_a_cancellation_is_cancelled_again() -> None:
    swallowed = 0

    async def deaf() -> None:
        nonlocal swallowed
        while True:
            try:
                await asyncio.sleep(10)
            except asyncio.CancelledError:
                if swallowed:
                    raise
                swallowed += 1  # as a lost cancellation: the task runs on

    task = asyncio.create_task(deaf())
    await asyncio.sleep(0)
    async with asyncio.timeout(5):
        await cancel_and_wait([task])
    assert task.cancelled() and swallowed == 1


async def test_a_task_that_never_ends_is_left_after_the_grace(
    caplog: pytest.LogCaptureFixture,
) -> None:
    released = asyncio.Event()

    async def stubborn() -> None:
        while not released.is_set():
            with contextlib.suppress(asyncio.CancelledError):
                await released.wait()

    task = asyncio.create_task(stubborn(), name="stubborn")
    await asyncio.sleep(0)
    async with asyncio.timeout(5):
        await cancel_and_wait([task], grace=0.5)
    assert not task.done() and "left behind: stubborn" in caplog.text
    released.set()  # the test's own clean-up
    await task
