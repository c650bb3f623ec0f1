"""Stopping asyncio tasks for certain, on Python 3.11 too.

On 3.11, ``asyncio.wait_for`` can lose a cancellation that arrives just as what it
awaits finishes (bpo-42130; 3.12 rebuilt it on ``asyncio.timeout``). A library that
uses it (dnspython does, for every query) may then let a cancelled task run on, and
``task.cancel(); await task`` waits for ever: seen as a node that would not stop
while its wide-area browse looked every 0.2 s. Here a task is cancelled again until
it ends, and never waited for longer than ``grace`` seconds in all.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from typing import Any

log = logging.getLogger(__name__)

RECANCEL_EVERY = 0.2


async def cancel_and_wait(tasks: Iterable[asyncio.Task[Any]], grace: float = 5.0) -> None:
    """Cancel ``tasks`` and wait until each has ended (its error, if any, taken: it was
    logged where it matters), cancelling again those that go on."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + grace
    pending = set(tasks)
    while pending:
        for task in pending:
            task.cancel()
        left = deadline - loop.time()
        if left <= 0:
            names = ", ".join(sorted(t.get_name() for t in pending))
            log.warning("tasks that did not end when cancelled, left behind: %s", names)
            return
        done, pending = await asyncio.wait(pending, timeout=min(RECANCEL_EVERY, left))
        for task in done:
            if not task.cancelled():
                task.exception()  # taken, so asyncio does not report it as never retrieved
