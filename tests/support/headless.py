"""A node on a thread of its own, driven from a test or a script that is not async
(the window's tests, the screenshots)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any

from chatty_p2p.node import Node, NodeEvent


class Headless:
    """A node on a thread of its own; ``run`` executes a coroutine there and waits."""

    def __init__(self, node: Node) -> None:
        self.node = node
        self.events: list[NodeEvent] = []
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        try:
            self.run(self._start())
        except BaseException:  # no node: end the loop's thread before saying why
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)
            self.loop.close()
            raise

    async def _start(self) -> None:
        await self.node.start()
        queue = self.node.subscribe()

        async def collect() -> None:
            while True:
                self.events.append(await queue.get())

        self._collector = asyncio.get_running_loop().create_task(collect())

    def run(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(30)

    def call(self, fn: Callable[[Node], Any]) -> Any:
        async def wrapped() -> Any:
            return fn(self.node)

        return self.run(wrapped())

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self._collector.cancel)
        self.run(self.node.stop())
        self.run(self.loop.shutdown_default_executor())  # its worker threads end here
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()
