"""A local control socket, so one-shot commands reach the running node.

Only one process may own a data dir (it holds ``node.lock``). When a daemon or
the window owns it, ``chatty say`` and friends talk to that process over
``control.sock`` (mode 0600, inside the 0700 data dir) instead of starting a
second node with the same identity. Lines of JSON each way::

    → {"id": 1, "op": "say", "args": {"peer": "desk", "text": "hi"}}
    ← {"id": 1, "ok": true, "result": {...}}      or  {"id": 1, "ok": false, "error": "..."}
    → {"id": 2, "op": "subscribe"}
    ← {"event": {...}}                            (one per node event, from then on)
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from pathlib import Path
from typing import Any

from chatty_p2p import api, errors
from chatty_p2p.errors import ChattyError
from chatty_p2p.node import Node

log = logging.getLogger(__name__)

SOCKET_NAME = "control.sock"
MAX_LINE = 1024 * 1024


class ControlServer:
    def __init__(self, node: Node) -> None:
        self._node = node
        self._server: asyncio.Server | None = None
        self._clients: set[asyncio.Task[None]] = set()
        self.path = node.data_dir / SOCKET_NAME

    async def start(self) -> None:
        # We hold the data-dir lock, so a socket file left here is from a dead process.
        self.path.unlink(missing_ok=True)
        self._server = await asyncio.start_unix_server(self._serve, self.path, limit=MAX_LINE)
        self.path.chmod(0o600)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._clients):
            task.cancel()
        self.path.unlink(missing_ok=True)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._clients.add(task)
        forwarder: asyncio.Task[None] | None = None
        try:
            while line := await reader.readline():
                try:
                    request = json.loads(line)
                    rid, op = request.get("id"), request["op"]
                    args = request.get("args") or {}
                except (ValueError, KeyError, AttributeError):
                    _write(writer, {"ok": False, "error": "malformed request"})
                    continue
                if op == "subscribe":
                    if forwarder is None:
                        forwarder = asyncio.create_task(self._forward(writer))
                    _write(writer, {"id": rid, "ok": True, "result": {}})
                    continue
                try:
                    result = await api.call(self._node, op, args)
                    _write(writer, {"id": rid, "ok": True, "result": result})
                except ChattyError as exc:
                    reply = {"ok": False, "error": str(exc), "kind": type(exc).__name__}
                    _write(writer, {"id": rid, **reply})
        except (ConnectionError, asyncio.IncompleteReadError, ValueError):
            pass
        finally:
            if forwarder is not None:
                forwarder.cancel()
            self._clients.discard(task)
            writer.close()

    async def _forward(self, writer: asyncio.StreamWriter) -> None:
        queue = self._node.subscribe()
        try:
            while True:
                event = await queue.get()
                _write(writer, {"event": event.to_dict()})
        finally:
            self._node.unsubscribe(queue)


def _write(writer: asyncio.StreamWriter, obj: dict[str, Any]) -> None:
    writer.write(json.dumps(obj, ensure_ascii=False).encode() + b"\n")


class ControlClient:
    """The CLI's handle on a node in another process."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer
        self._next = 0
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._events: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._pump = asyncio.create_task(self._read())

    @classmethod
    async def connect(cls, data_dir: Path, wait: float = 5.0) -> ControlClient:
        path = data_dir / SOCKET_NAME
        deadline = asyncio.get_running_loop().time() + wait
        while True:  # the owner may still be starting up
            try:
                reader, writer = await asyncio.open_unix_connection(path, limit=MAX_LINE)
                return cls(reader, writer)
            except OSError as exc:
                if asyncio.get_running_loop().time() > deadline:
                    raise ChattyError(
                        f"a Chatty process owns {data_dir} but does not answer on {path}"
                    ) from exc
                await asyncio.sleep(0.1)

    async def _read(self) -> None:
        try:
            while line := await self._reader.readline():
                message = json.loads(line)
                if "event" in message:
                    self._events.put_nowait(message["event"])
                elif (future := self._pending.pop(message.get("id"), None)) is not None:
                    future.set_result(message)
        finally:
            for future in self._pending.values():
                future.set_exception(ChattyError("the Chatty process went away"))

    async def call(self, op: str, **args: Any) -> dict[str, Any]:
        self._next += 1
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[self._next] = future
        _write(self._writer, {"id": self._next, "op": op, "args": args})
        reply = await future
        if not reply.get("ok"):
            kind = getattr(errors, str(reply.get("kind")), ChattyError)
            if not (isinstance(kind, type) and issubclass(kind, ChattyError)):
                kind = ChattyError
            raise kind(reply.get("error", "failed"))
        result: dict[str, Any] = reply["result"]
        return result

    async def get(self) -> dict[str, Any]:
        """The next event pushed by the node, once subscribed with ``call("subscribe")``."""
        return await self._events.get()

    async def close(self) -> None:
        self._pump.cancel()
        self._writer.close()
        with contextlib.suppress(Exception):
            await self._writer.wait_closed()
