"""The window's only door to the core: a node on its own thread, talked to by signals.

Why a thread and not qasync: the node's loop also runs SQLite commits and TLS
handshakes; on a thread of its own, none of that can ever stall a repaint. The
window never touches the node directly. It asks with ``call(fn, done)``: ``fn``
runs on the node's loop, and ``done`` gets the result back on the GUI thread
through a queued signal. Node events arrive the same way, as ``node_event``.

``fn`` runs on the node's thread, where no widget, dialog or model may be touched:
reading a dialog's fields there crashed the app (Settings → Save, a segfault on
X11). So ``call`` refuses an ``fn`` that would take a ``QObject`` along (in its
closure, its defaults, a bound method's ``self``, a ``functools.partial``'s
arguments): the caller reads what it needs first, on the GUI thread, and passes
plain values.
"""

from __future__ import annotations

import asyncio
import concurrent.futures

# Imported here, on the GUI thread, though only the node's thread uses them: its first
# ``asyncio.to_thread`` (soon after start) and its first host name lookup ("Add peer by
# address…": the IDNA codec) would import them there while the window runs, and a
# module imported on another thread while Qt delivers events crashed the process now
# and then (a segfault in about one run in fifteen of the card and bridge tests on X11;
# none in a hundred with these imports here).
import concurrent.futures.thread
import contextlib
import encodings.idna  # noqa: F401  (see above)
import functools
import inspect
import threading
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, TypeVar, overload

from PySide6.QtCore import QObject, Qt, Signal, Slot

from chatty_p2p.control import ControlServer
from chatty_p2p.errors import ChattyError
from chatty_p2p.node import Node

T = TypeVar("T")

_DEPTH = 4
"""How deep ``qobjects_reached`` looks: a lambda in a partial in a closure is three."""


def qobjects_reached(value: object, depth: int = 0) -> Iterator[QObject]:
    """The ``QObject``s that calling ``value`` on another thread would take along:
    ``value`` itself, or what its closure cells, default arguments, bound ``self``
    or ``functools.partial`` arguments hold (and so on, ``_DEPTH`` deep, through
    functions and plain containers). A signal's ``emit`` is not one: emitting from any
    thread is how the node's thread talks to the window. Globals are not looked at."""
    if isinstance(value, QObject):
        yield value
        return
    if depth >= _DEPTH:
        return
    inner: list[object] = []
    if isinstance(value, functools.partial):
        inner = [value.func, *value.args, *value.keywords.values()]
    elif inspect.ismethod(value) or inspect.isbuiltin(value):
        inner = [value.__self__]
        if inspect.ismethod(value):
            inner.append(value.__func__)
    elif inspect.isfunction(value):
        for cell in value.__closure__ or ():
            with contextlib.suppress(ValueError):  # a cell not yet filled
                inner.append(cell.cell_contents)
        inner += [*(value.__defaults__ or ()), *(value.__kwdefaults__ or {}).values()]
    elif isinstance(value, list | tuple | set | frozenset):
        inner = list(value)
    elif isinstance(value, dict):
        inner = list(value.values())
    for item in inner:
        yield from qobjects_reached(item, depth + 1)


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
        # Queued even when ``call``'s future is already done and its callback runs on
        # the GUI thread: ``done`` never runs inside ``call``, always from the loop.
        self._finished.connect(self._deliver, Qt.ConnectionType.QueuedConnection)

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
        awaited if it is a coroutine, so mypy checks each caller's pair.

        Raises ``TypeError`` if ``fn`` would take a ``QObject`` to the node's thread
        (see ``qobjects_reached``); ``done`` and ``error`` run on the GUI thread and may
        use any."""
        reached = {type(o).__name__ for o in qobjects_reached(fn)}
        if reached:
            raise TypeError(
                f"bridge.call: {getattr(fn, '__qualname__', fn)!s} would reach "
                f"{', '.join(sorted(reached))} from the node's thread; read what it needs "
                "on the GUI thread and pass the plain values"
            )

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
