"""The window's only door to the core: a node on its own thread, talked to by signals.

Why a thread and not qasync: the node's loop also runs SQLite commits and TLS
handshakes; on a thread of its own, none of that can ever stall a repaint. The
window never touches the node directly. It asks with ``call(fn, done)``: ``fn``
runs on the node's loop, and ``done`` gets the result back on the GUI thread
through a queued signal. Node events arrive the same way, as ``node_event``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import inspect
import threading
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, overload

from PySide6.QtCore import QObject, Signal, Slot

from chatty_p2p.control import ControlServer
from chatty_p2p.errors import ChattyError
from chatty_p2p.node import Node

T = TypeVar("T")


class NodeBridge(QObject):
    node_event = Signal(object)
    """A ``NodeEvent``, delivered on the GUI thread. (Not ``event``: that would hide
    ``QObject.event``, through which queued signals themselves are delivered.)"""
    ready = Signal(dict)
    """``Node.describe()`` once the node listens."""
    failed = Signal(str)
    """A call without its own error handler failed; the text is for the user."""
    _finished = Signal(object, object, object, object)

    def __init__(
        self,
        make_node: Callable[[], Node],
        control: Callable[[Node], ControlServer] | None = None,
    ) -> None:
        """``control`` makes the control socket server, so that ``chatty`` commands
        reach this process's node while the window runs."""
        super().__init__()
        self._make_node = make_node
        self._make_control = control
        self.info: dict[str, Any] = {}
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name="chatty-node", daemon=True)
        self._stopped = threading.Event()
        self._started = concurrent.futures.Future[None]()
        self.node: Node | None = None
        self._finished.connect(self._deliver)

    def start(self) -> None:
        self._thread.start()

    def wait_started(self, timeout: float = 10) -> None:
        self._started.result(timeout)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(self._serve())
        finally:
            # The loop's worker threads (``asyncio.to_thread``) end with it; left
            # open, they would outlive the window, one thread for every one it used.
            self._loop.run_until_complete(self._loop.shutdown_default_executor())
            self._loop.close()

    async def _serve(self) -> None:
        try:
            node = self._make_node()
            await node.start()
        except Exception as exc:
            self._started.set_exception(exc)
            self.failed.emit(f"Chatty could not start: {exc}")
            return
        self.node = node
        events = node.subscribe()
        server = self._make_control(node) if self._make_control else None
        if server is not None:
            await server.start()
        self.info = {
            **node.describe(),
            "start_minimised": node.start_minimised,
        }
        self._stop_event = asyncio.Event()
        self._started.set_result(None)
        self.ready.emit(self.info)
        stopper = asyncio.create_task(self._stop_event.wait())
        while True:
            getter = asyncio.create_task(events.get())
            done, _ = await asyncio.wait({getter, stopper}, return_when=asyncio.FIRST_COMPLETED)
            if getter not in done:
                getter.cancel()
                break
            self.node_event.emit(getter.result())
        if server is not None:
            await server.stop()
        await node.stop()

    @overload
    def call(
        self,
        fn: Callable[[Node], Awaitable[T]],
        done: Callable[[T], None] | None = None,
        error: Callable[[str], None] | None = None,
    ) -> None: ...

    @overload
    def call(
        self,
        fn: Callable[[Node], T],
        done: Callable[[T], None] | None = None,
        error: Callable[[str], None] | None = None,
    ) -> None: ...

    def call(
        self,
        fn: Callable[[Node], Any],
        done: Callable[[Any], None] | None = None,
        error: Callable[[str], None] | None = None,
    ) -> None:
        """Run ``fn(node)`` (plain or a coroutine) on the node's loop; hand the result
        to ``done`` and a failure's message to ``error`` (default: ``failed``), on the
        GUI thread. The overloads tie ``done``'s argument to what ``fn`` returns,
        awaited if it is a coroutine, so mypy checks each caller's pair."""

        async def run() -> Any:
            assert self.node is not None
            result = fn(self.node)
            return await result if inspect.isawaitable(result) else result

        if self._loop.is_closed():  # the window is closing: nothing runs any more
            self._finished.emit(done, error, None, ChattyError("Chatty has stopped"))
            return
        future = asyncio.run_coroutine_threadsafe(run(), self._loop)

        def finished(f: concurrent.futures.Future[Any]) -> None:
            exc = f.exception()
            self._finished.emit(done, error, None if exc else f.result(), exc)

        future.add_done_callback(finished)

    @Slot(object, object, object, object)
    def _deliver(
        self,
        done: Callable[[Any], None] | None,
        error: Callable[[str], None] | None,
        result: object,
        exc: BaseException | None,
    ) -> None:
        """On the GUI thread. The signal carries plain objects, so the pairing of
        ``done`` with ``result`` was checked where ``call`` was called."""
        if exc is None:
            if done is not None:
                done(result)
        elif error is not None:
            error(str(exc))
        else:
            self.failed.emit(str(exc))

    def stop(self, timeout: float = 15) -> None:
        """Leave politely (mDNS goodbye, BYE on every session) and end the thread."""
        if not self._thread.is_alive():
            return
        if self.node is not None:
            self._loop.call_soon_threadsafe(self._stop_event.set)
        self._thread.join(timeout)
