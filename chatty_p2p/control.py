"""A local control socket, so one-shot commands reach the running node.

Only one process may own a data dir (it holds ``node.lock``). When a daemon or
the window owns it, ``chatty say`` and friends talk to that process over
``control.sock`` (mode 0600, inside the 0700 data dir) instead of starting a
second node with the same identity. Lines of JSON each way::

    → {"id": 1, "op": "say", "args": {"peer": "desk", "text": "hi"}}
    ← {"id": 1, "ok": true, "result": {...}}      or  {"id": 1, "ok": false, "error": "..."}
    → {"id": 2, "op": "subscribe"}
    ← {"event": {...}}                            (one per node event, from then on)

An event is ``NodeEvent.to_json()`` (:mod:`chatty_p2p.events`, its one codec); the
client reads it back with ``NodeEvent.from_json``, and an event it cannot read reaches
whoever waits for events as a ``MalformedEvent`` error, not a crash.

Lines are ASCII: JSON's ``\\u`` escapes carry any string, a file name that is
not UTF-8 (held as lone surrogates by Python) included, so such a path
arrives intact where the node reads it from disk.

Where asyncio has no Unix sockets (Windows; or ``CHATTY_PORTABLE=1``, see
:mod:`chatty_p2p.portable`), the socket is TCP on 127.0.0.1, on a port the system
picks. Any local process, another user's included, may connect to it, so the node
writes ``control.port`` (``{"port": N, "token": "<64 hex>"}``, created owner-only and
renamed into place whole) and a client's first line must be that token. Until it is,
a client gets ``AUTH_TIMEOUT`` seconds and ``len(token) + 1`` bytes, and at most
``MAX_UNPROVEN`` such clients are served at once: a process that cannot read the data
dir can neither talk to the node nor hold its resources. The reply to a right token
is ``{"ok": true}``; to a wrong one ``{"ok": false, "error": ...}``, then the node
hangs up. A client takes whichever of ``control.port`` and ``control.sock`` the owner
made, so a command and a daemon agree even if only one of them has the switch.

The client side is what ``chatty say`` runs through a daemon, so this module
imports the node only where the server needs it.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import os
import secrets
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from chatty_p2p import errors, portable
from chatty_p2p.errors import ChattyError, why_failed
from chatty_p2p.events import MalformedEvent, NodeEvent

if TYPE_CHECKING:
    from chatty_p2p.node import Node

log = logging.getLogger(__name__)

SOCKET_NAME = "control.sock"
PORT_FILE = "control.port"
"""Where the TCP control socket is, and its token (see the module)."""
MAX_LINE = 1024 * 1024
LOOPBACK = "127.0.0.1"
AUTH_TIMEOUT = 5.0
"""Seconds a TCP client has to send its token, and a client to hear it was taken."""
MAX_UNPROVEN = 16
"""TCP clients served at once before they sent a right token; more are hung up on."""
MAX_PORT_FILE = 4096
"""A longer ``control.port`` is not read: the node writes about 90 bytes."""

GAVE_UP = "`chatty pair` there ended before the codes were confirmed"
"""What the peer is told when a pairing ends because the command that showed its code
stopped first: ``chatty pair`` says it itself when it can, the server (see
``ControlServer._release``) when the command died without a word."""


class ControlServer:
    def __init__(self, node: Node) -> None:
        self._node = node
        self._server: asyncio.Server | None = None
        self._clients: set[asyncio.Task[None]] = set()
        self._token = secrets.token_hex(32)
        self._unproven = 0
        self.path = node.data_dir / SOCKET_NAME
        """The socket, or ``control.port`` naming it: made at start, gone at stop."""

    async def start(self) -> None:
        # We hold the data-dir lock, so what is left here is from a dead process.
        for stale in (SOCKET_NAME, PORT_FILE):
            (self._node.data_dir / stale).unlink(missing_ok=True)
        if sys.platform != "win32" and not portable.forced():
            self._server = await asyncio.start_unix_server(self._serve, self.path, limit=MAX_LINE)
            self.path.chmod(0o600)
            return
        self._server = await asyncio.start_server(self._serve_tcp, LOOPBACK, 0, limit=MAX_LINE)
        port = self._server.sockets[0].getsockname()[1]
        self.path = self._node.data_dir / PORT_FILE
        _write_port_file(self.path, json.dumps({"port": port, "token": self._token}))

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._clients):
            task.cancel()
        self.path.unlink(missing_ok=True)

    async def _serve_tcp(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """A TCP client, served as a Unix one once its first line is the token (see the
        module for what one that is not gets)."""
        if self._unproven >= MAX_UNPROVEN:
            writer.close()
            return
        self._unproven += 1
        task = asyncio.current_task()
        assert task is not None
        self._clients.add(task)  # for stop, while it is not yet in _serve
        try:
            expected = self._token.encode("ascii") + b"\n"
            async with asyncio.timeout(AUTH_TIMEOUT):
                proven = hmac.compare_digest(await reader.readexactly(len(expected)), expected)
        except (TimeoutError, asyncio.IncompleteReadError, ConnectionError):
            proven = False
        finally:
            self._unproven -= 1
            self._clients.discard(task)
        if not proven:
            with contextlib.suppress(ConnectionError):
                _write(writer, {"ok": False, "error": f"not the token in {self.path}"})
            writer.close()
            return
        _write(writer, {"ok": True})
        await self._serve(reader, writer)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._clients.add(task)
        forwarder: asyncio.Task[None] | None = None
        held: set[str] = set()
        """Peers whose pairing this client follows (``pair`` with ``held``): a pairing
        must not outlive the command that shows its code (see ``_release``)."""
        try:
            while line := await reader.readline():
                try:
                    request = json.loads(line)
                    rid, op = request.get("id"), request["op"]
                    args = request.get("args") or {}
                    if not isinstance(op, str) or not isinstance(args, dict):
                        raise ValueError
                except (ValueError, KeyError, AttributeError, TypeError):
                    _write(writer, {"ok": False, "error": "malformed request"})
                    continue
                if op == "subscribe":
                    if forwarder is None:
                        forwarder = asyncio.create_task(self._forward(writer))
                    _write(writer, {"id": rid, "ok": True, "result": {}})
                    continue
                holds = op == "pair" and args.pop("held", False) is True
                reply = await self._answer(op, args)
                if holds and reply["ok"]:
                    held.add(reply["result"]["peer"]["id"])
                _write(writer, {"id": rid, **reply})
        except ValueError:  # a line past MAX_LINE: say so, then hang up on that client
            with contextlib.suppress(ConnectionError):
                _write(writer, {"ok": False, "error": "request too long"})
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            if forwarder is not None:
                forwarder.cancel()
            self._release(held)
            self._clients.discard(task)
            writer.close()

    def _release(self, held: set[str]) -> None:
        """Cancel the pairings a client followed and left running: it was killed, or its
        terminal closed, before it could say so itself; the peer is told."""
        for peer_id in held:
            if self._node.pairings.info(peer_id) is not None:
                with contextlib.suppress(ChattyError):
                    self._node.reject_pairing(peer_id, GAVE_UP)

    async def _answer(self, op: str, args: dict[str, Any]) -> dict[str, Any]:
        """The reply to one request. A fault in the node while serving it is this
        client's error, logged here: the socket must outlive any one request."""
        # Lazy for start-up, not for a cycle: api brings the node, which the client side
        # (`chatty say` through a daemon) must not load.
        from chatty_p2p import api

        try:
            return {"ok": True, "result": await api.call(self._node, op, args)}
        except ChattyError as exc:
            return {"ok": False, "error": str(exc), "kind": type(exc).__name__}
        except Exception as exc:
            log.exception("control request %r failed", op)
            return {"ok": False, "error": f"{op} failed inside Chatty: {why_failed(exc)}"}

    async def _forward(self, writer: asyncio.StreamWriter) -> None:
        queue = self._node.subscribe()
        try:
            while True:
                event = await queue.get()
                _write(writer, {"event": event.to_json()})
        finally:
            self._node.unsubscribe(queue)


def _write(writer: asyncio.StreamWriter, obj: dict[str, Any]) -> None:
    writer.write(json.dumps(obj).encode("ascii") + b"\n")


def _write_port_file(path: Path, text: str) -> None:
    """``text`` in ``path``, readable by its owner alone from the first byte (0600; on
    Windows, whose modes mean only read-only or not, by the data dir's ACL, which
    under the user's profile lets in that user and the system alone), and whole: a
    client reading it meanwhile finds no file or this one, never half of it. The
    partial's name is fixed: only the holder of the data dir's lock writes it, and one
    left by a crash is replaced at the next start."""
    partial = path.with_name(f".{path.name}.partial")
    partial.unlink(missing_ok=True)
    fd = portable.open_nofollow(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(text)
    os.replace(partial, path)


def endpoint(data_dir: Path) -> Path:
    """What the owner of ``data_dir`` made to be reached at: ``control.port`` if it is
    there, else the socket. It is made as the owner starts, so its age is the node's."""
    port_file = data_dir / PORT_FILE
    return port_file if port_file.exists() else data_dir / SOCKET_NAME


async def _open(data_dir: Path) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A connection to the owner of ``data_dir``, on the TCP socket (token sent and
    taken) if it made ``control.port``, else on its Unix socket. OSError if there is
    no answer yet: the caller tries again."""
    port_file = data_dir / PORT_FILE
    if sys.platform == "win32" or port_file.exists():
        return await _open_tcp(port_file)
    return await asyncio.open_unix_connection(data_dir / SOCKET_NAME, limit=MAX_LINE)


async def _open_tcp(port_file: Path) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    with port_file.open("rb") as handle:
        raw = handle.read(MAX_PORT_FILE)
    try:
        found = json.loads(raw)
        port, token = found["port"], found["token"]
        if not isinstance(port, int) or not isinstance(token, str) or not token.isascii():
            raise TypeError
    except (ValueError, KeyError, TypeError) as exc:
        raise ConnectionError(f"{port_file} is not what a Chatty node writes") from exc
    reader, writer = await asyncio.open_connection(LOOPBACK, port, limit=MAX_LINE)
    try:
        writer.write(token.encode("ascii") + b"\n")
        async with asyncio.timeout(AUTH_TIMEOUT):
            answer = await reader.readline()
        try:
            taken = json.loads(answer).get("ok") is True
        except (ValueError, AttributeError):
            taken = False
        if not taken:
            raise ConnectionRefusedError(f"the node at port {port} refused the token")
    except BaseException:
        writer.close()
        raise
    return reader, writer


def _decode(data: object) -> NodeEvent | MalformedEvent:
    try:
        return NodeEvent.from_json(data)
    except MalformedEvent as exc:
        log.warning("refused an event from the control socket: %s", exc)
        return exc


class ControlClient:
    """The CLI's handle on a node in another process."""

    def __init__(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, data_dir: Path
    ) -> None:
        self._reader = reader
        self._writer = writer
        self._next = 0
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._events: asyncio.Queue[NodeEvent | MalformedEvent | None] = asyncio.Queue()
        self._gone = ChattyError(
            f"the Chatty daemon (or window) that owns {data_dir} stopped; start it again "
            "and run this command again"
        )
        self._closed = False
        self._pump = asyncio.create_task(self._read())

    @classmethod
    async def connect(cls, data_dir: Path, wait: float = 5.0) -> ControlClient:
        deadline = asyncio.get_running_loop().time() + wait
        while True:  # the owner may still be starting up
            try:
                reader, writer = await _open(data_dir)
                return cls(reader, writer, data_dir)
            except OSError as exc:
                if asyncio.get_running_loop().time() > deadline:
                    raise ChattyError(
                        f"a Chatty process owns {data_dir} but does not answer on "
                        f"{endpoint(data_dir)} ({exc})"
                    ) from exc
                await asyncio.sleep(0.1)

    async def _read(self) -> None:
        """Hand replies and events over until the owner hangs up; then every waiting
        call and event reader learns it stopped, rather than waiting for ever."""
        try:
            while line := await self._reader.readline():
                message = json.loads(line)
                if not isinstance(message, dict):
                    continue
                if "event" in message:
                    self._events.put_nowait(_decode(message["event"]))
                elif (future := self._pending.pop(message.get("id", -1), None)) is not None:
                    future.set_result(message)
        except (ConnectionError, ValueError):
            pass
        finally:
            self._closed = True
            for future in self._pending.values():
                if not future.done():
                    future.set_exception(self._gone)
            self._pending.clear()
            self._events.put_nowait(None)

    async def call(self, op: str, **args: Any) -> dict[str, Any]:
        if self._closed:
            raise self._gone
        self._next += 1
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[self._next] = future
        _write(self._writer, {"id": self._next, "op": op, "args": args})
        reply = await future
        if not reply.get("ok"):
            raise rebuilt(str(reply.get("kind")), str(reply.get("error", "failed")))
        result: dict[str, Any] = reply["result"]
        return result

    async def get(self) -> NodeEvent:
        """The next event pushed by the node, once subscribed with ``call("subscribe")``.
        One that cannot be read raises ``MalformedEvent`` (the next call goes on)."""
        event = await self._events.get()
        if event is None:
            self._events.put_nowait(None)  # and for whoever asks next
            raise self._gone
        if isinstance(event, MalformedEvent):
            raise event
        return event

    async def close(self) -> None:
        self._pump.cancel()
        self._writer.close()
        with contextlib.suppress(Exception):
            await self._writer.wait_closed()


def rebuilt(kind: str, message: str) -> ChattyError:
    """The node's error, named by its class, as this side raises it: that class if it
    is one of ``errors``' and takes the message alone, else the nearest class above it
    that does (``DialFailed`` carries a host and a reason besides: it comes back as a
    ``PeerError`` with the same words), never a ``TypeError`` in the face."""
    found = getattr(errors, kind, ChattyError)
    if not (isinstance(found, type) and issubclass(found, ChattyError)):
        found = ChattyError
    for cls in found.__mro__:
        if issubclass(cls, ChattyError):
            try:
                return cls(message)
            except TypeError:
                continue
    return ChattyError(message)
