"""How a ``chatty`` command reaches a node, and the commands about peers and messages.

Every command reaches a node through a backend: the control socket of the
process that already owns the data dir (a daemon or the window), or else a
node started for the length of the command. :mod:`chatty_p2p.cli` imports
this module only once a command runs, and the node itself only when there is
no daemon to talk to.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import shlex
import signal
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from chatty_p2p import config
from chatty_p2p.cli import (
    answer,
    as_text,
    describe_event,
    format_message,
    here,
    peer_label,
    print_json,
    read_terminal,
    short_id,
)
from chatty_p2p.control import SOCKET_NAME, ControlClient
from chatty_p2p.errors import ChattyError, OutboxFull, UnknownPeer

if TYPE_CHECKING:
    from chatty_p2p.node import Node, NodeEvent

DISCOVERY_GRACE = 2.0
"""Seconds after a node starts during which discovery may still bring a peer that is
already on the network (``chatty peers`` listens 1.5 s); after that, a name or id
nobody has announced will not appear by waiting for it."""


# ----- backends ----------------------------------------------------------------


class Events(Protocol):
    async def get(self) -> dict[str, Any]: ...


class Backend(Protocol):
    local: bool

    async def call(self, op: str, **args: Any) -> dict[str, Any]: ...

    async def subscribe(self) -> Events: ...

    def discovery_left(self) -> float:
        """Seconds for which waiting may still let an unknown peer appear."""
        ...


@dataclass
class _NodeEvents:
    queue: asyncio.Queue[NodeEvent]

    async def get(self) -> dict[str, Any]:
        return (await self.queue.get()).to_dict()


class LocalBackend:
    """A node living only as long as this command."""

    local = True

    def __init__(self, node: Node, discovery: bool) -> None:
        self.node = node
        self._discovery = discovery

    async def call(self, op: str, **args: Any) -> dict[str, Any]:
        from chatty_p2p import api

        return await api.call(self.node, op, args)

    async def subscribe(self) -> Events:
        return _NodeEvents(self.node.subscribe())

    def discovery_left(self) -> float:
        return float("inf") if self._discovery else 0.0


class RemoteBackend:
    """The node of the daemon or window that owns the data dir."""

    local = False

    def __init__(self, client: ControlClient, started: float) -> None:
        self.client = client
        self._started = started

    async def call(self, op: str, **args: Any) -> dict[str, Any]:
        return await self.client.call(op, **args)

    async def subscribe(self) -> Events:
        await self.client.call("subscribe")
        return self.client

    def discovery_left(self) -> float:
        return max(0.0, self._started + DISCOVERY_GRACE - time.time())


@contextlib.asynccontextmanager
async def open_backend(args: argparse.Namespace, network: bool = True) -> AsyncIterator[Backend]:
    directory = config.data_dir(args.data_dir)
    if config.lock_is_held(directory):
        client = await ControlClient.connect(directory)
        # The owner makes its socket as it starts: the file's age is the node's.
        started = 0.0
        with contextlib.suppress(OSError):
            started = (directory / SOCKET_NAME).stat().st_mtime
        try:
            yield RemoteBackend(client, started)
        finally:
            await client.close()
        return
    from chatty_p2p.node import Node

    node = Node(
        directory,
        offline=not network,
        discovery=not args.no_discovery,
        interfaces=args.interface or None,
    )
    await node.start()
    try:
        yield LocalBackend(node, discovery=network and not args.no_discovery)
    finally:
        await node.stop()


async def resolve(backend: Backend, spec: str, wait: float) -> dict[str, Any]:
    """Resolve a peer, giving discovery up to ``wait`` seconds to find it, and no longer
    than it could still bring someone new (see ``Backend.discovery_left``)."""
    deadline = time.monotonic() + min(wait, backend.discovery_left())
    while True:
        try:
            peer: dict[str, Any] = (await backend.call("resolve", peer=spec))["peer"]
            return peer
        except UnknownPeer:
            if time.monotonic() >= deadline:
                raise
            await asyncio.sleep(0.1)


# ----- commands --------------------------------------------------------------------


async def cmd_daemon(args: argparse.Namespace) -> int:
    from chatty_p2p import __version__, api, clipboard
    from chatty_p2p.control import ControlServer
    from chatty_p2p.node import Node

    node = Node(
        config.data_dir(args.data_dir),
        name=args.name,
        port=args.port,
        discovery=not args.no_discovery,
        interfaces=args.interface or None,
        download_dir=Path(args.download_dir) if args.download_dir else None,
        accept_from=args.accept_from,
    )
    events = node.subscribe()  # before start: peers may connect while it runs
    await node.start()
    control = ControlServer(node)
    await control.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    info = node.describe()
    options = here(args)
    if args.json:
        print_json({"type": "ready", **info})
    else:
        print(
            f"Chatty {__version__}: {info['name']} ({short_id(info['id'])}) on port {info['port']}"
        )
        print(f"fingerprint {info['fingerprint']}", flush=True)

    def show(event: dict[str, Any]) -> None:
        if event["type"] == "clipboard":
            try:
                clipboard.write_text(event["text"])
            except ChattyError as exc:
                event = {**event, "type": "warning", "text": str(exc)}
        if event["type"] == "transfer-offered" and "peer" not in event:
            # Who offers, with its trust, so the line can say when it is unverified.
            with contextlib.suppress(ChattyError):
                event["peer"] = node.peer(event["transfer"]["peer_id"]).to_dict()
        if args.json:
            print_json(event)
        elif (line := describe_event(event, options)) is not None:
            print(line, flush=True)

    async def add(address: str) -> None:
        try:
            await api.call(node, "add", {"address": address})
        except ChattyError as exc:
            show({"type": "warning", "time": time.time(), "text": f"{address}: {exc}"})

    adders = [asyncio.create_task(add(a)) for a in args.peer]
    stopper = asyncio.create_task(stop.wait())
    try:
        while not stop.is_set():
            getter = asyncio.create_task(events.get())
            done, _ = await asyncio.wait({getter, stopper}, return_when=asyncio.FIRST_COMPLETED)
            if getter not in done:
                getter.cancel()
                break
            show(getter.result().to_dict())
    finally:
        for task in adders:
            task.cancel()
        await control.stop()
        await node.stop()
    if args.json:
        print_json({"type": "stopped", "time": time.time()})
    return 0


async def cmd_peers(args: argparse.Namespace) -> int:
    async with open_backend(args) as backend:
        if backend.local:
            await asyncio.sleep(args.wait)
        peers = (await backend.call("peers"))["peers"]
    if args.json:
        print_json(peers)
        return 0
    if not peers:
        print("No peers found. Is Chatty running on the other machine, on the same network?")
        print("If multicast is blocked there, add it by address: chatty add HOST:PORT")
        return 0
    width = max(len(p["name"]) for p in peers)
    for p in peers:
        where = ", ".join(p["addresses"][:2])
        trust = p["trust"] if p["trust"] != "blocked" else ""
        print(f"{p['name']:<{width}}  {short_id(p['id'])}  {p['state']:<8}  {trust:<10}  {where}")
    if any(p["trust"] == "unverified" for p in peers):
        print("Unverified peers may not be who they say; check one with: chatty pair NAME")
    return 0


async def _send(args: argparse.Namespace, text: str, kind: str) -> int:
    async with open_backend(args) as backend:
        events = await backend.subscribe()
        peer = await resolve(backend, args.peer, args.wait)
        result = await backend.call("say", peer=peer["id"], text=as_text(text), kind=kind)
        message, refused = await _await_delivery(events, result["message"], args.wait)
    delivered = message["status"] == "delivered"
    if args.json:
        out = {"peer": peer, "message": message, "delivered": delivered}
        print_json({**out, "refused": refused} if refused else out)
    elif refused:  # its disk is full, say: the daemon sends it again until it gets through
        print(f"not delivered yet: {refused}; it is sent again until it gets through")
    elif delivered:
        print(f"delivered to {peer_label(peer)}")
    elif message["status"] == "sent":  # it went out on a session: the peer is there
        later = "the next time Chatty runs here" if backend.local else "until one comes"
        print(
            f"sent to {peer_label(peer)}, but no receipt came within {args.wait:g} s: "
            f"it is sent again {later}"
        )
    elif backend.local:
        print(
            f"{peer_label(peer)} did not answer: the message is queued and goes out the "
            "next time Chatty runs here while that peer is online"
        )
    else:
        print(f"queued for {peer_label(peer)}: it is delivered as soon as that peer is back")
    return 0


async def _await_delivery(
    events: Events, message: dict[str, Any], wait: float
) -> tuple[dict[str, Any], str]:
    """The message as it stands once delivered, or when the wait ran out (its status
    then says how far it got), and the peer's reason if it could not keep it (a status
    event with a text)."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(wait):
            while message["status"] != "delivered":
                event = await events.get()
                msg = event.get("message") or {}
                if event["type"] == "message-status" and msg.get("id") == message["id"]:
                    message = msg
                    if event.get("text"):
                        return message, str(event["text"])
    return message, ""


async def cmd_say(args: argparse.Namespace) -> int:
    return await _send(args, " ".join(args.text), "text")


async def cmd_link(args: argparse.Namespace) -> int:
    from chatty_p2p.links import is_safe_url

    if not is_safe_url(args.url):
        raise ChattyError(f"not a link: {args.url!r} (give a full URL such as https://example.org)")
    return await _send(args, args.url, "link")


async def cmd_clip(args: argparse.Namespace) -> int:
    from chatty_p2p import clipboard
    from chatty_p2p.links import is_safe_url

    text = clipboard.read_text()
    return await _send(args, text, "link" if is_safe_url(text.strip()) else "text")


async def cmd_history(args: argparse.Namespace) -> int:
    async with open_backend(args, network=False) as backend:
        result = await backend.call("history", peer=args.peer, limit=args.limit)
    if args.json:
        print_json(result["messages"])
        return 0
    for msg in result["messages"]:
        print(format_message(msg, result["peer"]))
    return 0


async def cmd_id(args: argparse.Namespace) -> int:
    async with open_backend(args, network=False) as backend:
        info = await backend.call("id")
    if args.json:
        print_json(info)
    else:
        print(f"name:        {info['name']}")
        print(f"device id:   {info['id']}")
        print(f"fingerprint: {info['fingerprint']}")
        print(f"data dir:    {info['data_dir']}")
    return 0


async def cmd_name(args: argparse.Namespace) -> int:
    """``chatty name NEW NAME``; with no name, the one it has (as the settings do)."""
    async with open_backend(args, network=False) as backend:
        if args.name:
            result = await backend.call("name", name=as_text(" ".join(args.name)))
        else:
            result = {"name": (await backend.call("id"))["name"]}
    if args.json:
        print_json(result)
    else:
        now = "now " if args.name else ""
        print(f"this device is {now}called {result['name']!r}")
    return 0


async def cmd_add(args: argparse.Namespace) -> int:
    async with open_backend(args) as backend:
        peer = (await backend.call("add", address=args.address))["peer"]
    answer(args, peer, f"added {peer_label(peer)} at {args.address}")
    return 0


async def cmd_forget(args: argparse.Namespace) -> int:
    async with open_backend(args, network=False) as backend:
        peer = (await backend.call("forget", peer=args.peer))["peer"]
    answer(args, peer, f"forgot {peer_label(peer)}: its key is no longer remembered")
    return 0


# ----- chat ------------------------------------------------------------------------

CHAT_HELP = """\
/help            this list
/nick NAME       rename this device
/peers           list peers
/link URL        send a link
/send PATH...    send files or folders
/accept [ID]     accept a file offer (the only one waiting, or by id)
/decline [ID]    decline a file offer (the only one waiting, or by id)
/history [N]     show the last N messages (default 20)
/quit            leave (Ctrl-D works too)
Anything else is sent as a message."""


async def cmd_chat(args: argparse.Namespace) -> int:
    async with open_backend(args) as backend:
        events = await backend.subscribe()
        peer = await resolve(backend, args.peer, args.wait)
        print(f"Chatting with {peer_label(peer)} ({peer['state']}). /help lists commands.")
        await _show_history(backend, peer, 20)
        lines: asyncio.Queue[str] = asyncio.Queue()
        read_terminal(lines.put_nowait)
        printer = asyncio.create_task(_print_chat_events(events, peer, here(args)))
        try:
            while True:
                reader = asyncio.create_task(lines.get())
                await asyncio.wait({reader, printer}, return_when=asyncio.FIRST_COMPLETED)
                if printer.done():  # the daemon behind us stopped: say so and end
                    reader.cancel()
                    printer.result()
                line = reader.result()
                if line == "" or not await _chat_line(backend, peer, line.rstrip("\n")):
                    break
        finally:
            printer.cancel()
    return 0


async def _show_history(backend: Backend, peer: dict[str, Any], limit: int) -> None:
    result = await backend.call("history", peer=peer["id"], limit=limit)
    for msg in result["messages"]:
        print(format_message(msg, peer))


async def _chat_line(backend: Backend, peer: dict[str, Any], line: str) -> bool:
    """Handle one typed line; ``False`` ends the chat."""
    from chatty_p2p.files.model import human_size

    if not line.strip():
        return True
    command, _, rest = line.partition(" ") if line.startswith("/") else ("", "", line)
    text = as_text(rest)  # /send keeps ``rest``: a path must still name its file
    try:
        match command:
            case "":
                await _say_when_room(backend, peer, text)
            case "/quit" | "/exit":
                return False
            case "/help":
                print(CHAT_HELP)
            case "/nick":
                print(f"you are now {(await backend.call('name', name=text))['name']!r}")
            case "/peers":
                for p in (await backend.call("peers"))["peers"]:
                    print(f"  {peer_label(p)}  {p['state']}")
            case "/link":
                await _say_when_room(backend, peer, text.strip(), kind="link")
            case "/send":
                paths = [str(Path(p).expanduser().absolute()) for p in shlex.split(rest)]
                t = (await backend.call("send", peer=peer["id"], paths=paths))["transfer"]
                print(f"offered {', '.join(t['names'][:3])} ({human_size(t['size'])})")
            case "/accept" | "/decline":
                action = command.removeprefix("/")
                spec = rest.strip() or await _only_offer(backend, peer)
                t = (await backend.call(action, transfer=spec))["transfer"]
                print(f"transfer {t['id'][:8]} from {t['peer_name']}: {t['state']}")
            case "/history":
                await _show_history(backend, peer, int(rest) if rest.strip().isdigit() else 20)
            case _:
                print(f"unknown command {command}; /help lists them")
    except OutboxFull as exc:
        if not sys.stdin.isatty():  # piped lines would be dropped one by one: stop here
            raise OutboxFull(f"{exc}; the rest of the input is not sent") from None
        print(f"error: {exc}")
    except ChattyError as exc:
        print(f"error: {exc}")
    return True


ROOM_WAIT = 30.0
"""Seconds chat holds a line while the outbox of an online peer is full: it empties as
receipts come, so a pasted or piped flood slows down to the peer's pace instead of
losing lines."""


async def _say_when_room(
    backend: Backend, peer: dict[str, Any], text: str, kind: str = "text"
) -> None:
    """Send a line, waiting (up to ``ROOM_WAIT``) for room in a full outbox while the
    peer is online; for an offline peer there is no room to wait for."""
    deadline = time.monotonic() + ROOM_WAIT
    while True:
        try:
            await backend.call("say", peer=peer["id"], text=text, kind=kind)
            return
        except OutboxFull:
            now = (await backend.call("resolve", peer=peer["id"]))["peer"]
            if not now["online"] or time.monotonic() >= deadline:
                raise
            await asyncio.sleep(0.1)


async def _only_offer(backend: Backend, peer: dict[str, Any]) -> str:
    """The id of the one offer from this peer waiting for an answer."""
    waiting = [
        t
        for t in (await backend.call("transfers"))["transfers"]
        if t["peer_id"] == peer["id"] and not t["outgoing"] and t["state"] == "offered"
    ]
    if len(waiting) == 1:
        return str(waiting[0]["id"])
    if not waiting:
        raise ChattyError(f"no offer from {peer['name']} is waiting for an answer")
    ids = ", ".join(f"{t['id'][:8]} ({', '.join(t['names'][:2])})" for t in waiting)
    first = waiting[0]["id"][:8]
    raise ChattyError(f"several offers are waiting: {ids}; name one, as in /accept {first}")


async def _print_chat_events(events: Events, peer: dict[str, Any], options: str) -> None:
    from chatty_p2p.links import find_links

    while True:
        event = await events.get()
        about = event.get("peer") or {}
        transfer = event.get("transfer") or {}
        ours = peer["id"] in (about.get("id"), transfer.get("peer_id"))
        if not ours and event["type"] != "warning":
            continue
        msg = event.get("message")
        if event["type"] == "message" and msg and not msg["outgoing"]:
            links = find_links(msg["body"])
            suffix = "".join(f"\n    link: {url}" for _, _, url in links if url != msg["body"])
            print(format_message(msg, about) + suffix, flush=True)
        elif event["type"] == "message-status" and msg and msg["status"] == "delivered":
            continue
        elif event["type"] == "transfer-offered":
            line = describe_event({"peer": peer, **event}, options)
            print(f"{line}; or here: /accept or /decline", flush=True)
        elif event["type"] != "message" and (line := describe_event(event, options)) is not None:
            print(line, flush=True)
