"""The ``chatty`` command: a thin face over the node.

Every command reaches a node through a backend: the control socket of the
process that already owns the data dir (a daemon or the window), or else a
node started for the length of the command. Errors a user can act on are
printed as one plain line and exit 1; nothing here prints a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import shlex
import signal
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TextIO

from chatty_p2p import (
    __version__,
    api,
    cli_doctor,
    cli_files,
    cli_share,
    cli_trust,
    clipboard,
    config,
)
from chatty_p2p.control import ControlClient, ControlServer
from chatty_p2p.errors import ChattyError, UnknownPeer
from chatty_p2p.files import human_size
from chatty_p2p.identity import short_id
from chatty_p2p.links import find_links, is_safe_url
from chatty_p2p.node import Node, NodeEvent, lock_is_held

log = logging.getLogger("chatty")


# ----- backends ----------------------------------------------------------------


class Events(Protocol):
    async def get(self) -> dict[str, Any]: ...


class Backend(Protocol):
    local: bool

    async def call(self, op: str, **args: Any) -> dict[str, Any]: ...

    async def subscribe(self) -> Events: ...


@dataclass
class _NodeEvents:
    queue: asyncio.Queue[NodeEvent]

    async def get(self) -> dict[str, Any]:
        return (await self.queue.get()).to_dict()


class LocalBackend:
    """A node living only as long as this command."""

    local = True

    def __init__(self, node: Node) -> None:
        self.node = node

    async def call(self, op: str, **args: Any) -> dict[str, Any]:
        return await api.call(self.node, op, args)

    async def subscribe(self) -> Events:
        return _NodeEvents(self.node.subscribe())


class RemoteBackend:
    """The node of the daemon or window that owns the data dir."""

    local = False

    def __init__(self, client: ControlClient) -> None:
        self.client = client

    async def call(self, op: str, **args: Any) -> dict[str, Any]:
        return await self.client.call(op, **args)

    async def subscribe(self) -> Events:
        await self.client.call("subscribe")
        return self.client


@contextlib.asynccontextmanager
async def open_backend(args: argparse.Namespace, network: bool = True) -> AsyncIterator[Backend]:
    directory = config.data_dir(args.data_dir)
    if lock_is_held(directory):
        client = await ControlClient.connect(directory)
        try:
            yield RemoteBackend(client)
        finally:
            await client.close()
        return
    node = Node(
        directory,
        offline=not network,
        discovery=not args.no_discovery,
        interfaces=args.interface or None,
    )
    await node.start()
    try:
        yield LocalBackend(node)
    finally:
        await node.stop()


async def resolve(backend: Backend, spec: str, wait: float) -> dict[str, Any]:
    """Resolve a peer, giving discovery up to ``wait`` seconds to find it."""
    deadline = time.monotonic() + wait
    while True:
        try:
            peer: dict[str, Any] = (await backend.call("resolve", peer=spec))["peer"]
            return peer
        except UnknownPeer:
            if time.monotonic() >= deadline:
                raise
            await asyncio.sleep(0.1)


# ----- output --------------------------------------------------------------------


def clock(ts: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(ts))


def peer_label(peer: dict[str, Any]) -> str:
    return f"{peer['name']} ({short_id(peer['id'])})"


def describe_event(event: dict[str, Any]) -> str | None:
    """One line for an event; None for those a person need not see (progress ticks)."""
    kind = event["type"]
    if "transfer" in event:
        line = cli_files.describe_transfer(event)
        return None if line is None else f"[{clock(event['time'])}] {line}"
    if "pairing" in event:
        return f"[{clock(event['time'])}] {cli_trust.describe_pairing(event)}"
    peer = event.get("peer")
    who = peer_label(peer) if peer else ""
    msg = event.get("message")
    stamp = clock(event.get("time", time.time()))
    if kind == "message" and msg:
        arrow = f"to {who}" if msg["outgoing"] else who
        tag = " [link]" if msg["kind"] == "link" else ""
        return f"[{stamp}] {arrow}{tag}: {msg['body']}"
    if kind == "message-status" and msg:
        return f"[{stamp}] message {msg['id'][:8]} to {who}: {msg['status']}"
    if kind == "peer-offline":
        return f"[{stamp}] {who} is offline ({event.get('text', '')})"
    if kind == "clipboard":
        return f"[{stamp}] copied {who}'s text to the clipboard"
    if kind in ("warning", "name-changed"):
        return f"[{stamp}] {kind}: {event.get('text', '')}"
    label = kind.removeprefix("peer-")
    return f"[{stamp}] {who} {label}"


def print_json(obj: Any, out: TextIO = sys.stdout) -> None:
    out.write(json.dumps(obj, ensure_ascii=False) + "\n")
    out.flush()


# ----- commands --------------------------------------------------------------------


async def cmd_daemon(args: argparse.Namespace) -> int:
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
        if args.json:
            print_json(event)
        elif (line := describe_event(event)) is not None:
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
        result = await backend.call("say", peer=peer["id"], text=text, kind=kind)
        message_id = result["message"]["id"]
        delivered = await _await_delivery(events, message_id, args.wait)
    if args.json:
        print_json({"peer": peer, "message": result["message"], "delivered": delivered})
    elif delivered:
        print(f"delivered to {peer_label(peer)}")
    elif backend.local:
        print(
            f"{peer_label(peer)} did not answer: the message is queued and goes out the "
            "next time Chatty runs here while that peer is online"
        )
    else:
        print(f"queued for {peer_label(peer)}: it is delivered as soon as that peer is back")
    return 0


async def _await_delivery(events: Events, message_id: str, wait: float) -> bool:
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(wait):
            while True:
                event = await events.get()
                msg = event.get("message") or {}
                if (
                    event["type"] == "message-status"
                    and msg.get("id") == message_id
                    and msg["status"] == "delivered"
                ):
                    return True
    return False


async def cmd_say(args: argparse.Namespace) -> int:
    return await _send(args, " ".join(args.text), "text")


async def cmd_link(args: argparse.Namespace) -> int:
    if not is_safe_url(args.url):
        raise ChattyError(f"not a link: {args.url!r} (give a full URL such as https://example.org)")
    return await _send(args, args.url, "link")


async def cmd_clip(args: argparse.Namespace) -> int:
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


def format_message(msg: dict[str, Any], peer: dict[str, Any]) -> str:
    who = "me" if msg["outgoing"] else peer["name"]
    status = f"  [{msg['status']}]" if msg["outgoing"] else ""
    return f"[{clock(msg['ts'])}] {who}: {msg['body']}{status}"


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
    async with open_backend(args, network=False) as backend:
        result = await backend.call("name", name=args.name)
    print(f"this device is now called {result['name']!r}")
    return 0


async def cmd_add(args: argparse.Namespace) -> int:
    async with open_backend(args) as backend:
        peer = (await backend.call("add", address=args.address))["peer"]
    print(f"added {peer_label(peer)} at {args.address}")
    return 0


async def cmd_forget(args: argparse.Namespace) -> int:
    async with open_backend(args, network=False) as backend:
        peer = (await backend.call("forget", peer=args.peer))["peer"]
    print(f"forgot {peer_label(peer)}: its key is no longer remembered")
    return 0


CHAT_HELP = """\
/help            this list
/nick NAME       rename this device
/peers           list peers
/link URL        send a link
/send PATH...    send files or folders
/history [N]     show the last N messages (default 20)
/quit            leave (Ctrl-D works too)
Anything else is sent as a message."""


async def cmd_chat(args: argparse.Namespace) -> int:
    async with open_backend(args) as backend:
        events = await backend.subscribe()
        peer = await resolve(backend, args.peer, args.wait)
        print(f"Chatting with {peer_label(peer)} ({peer['state']}). /help lists commands.")
        await _show_history(backend, peer, 20)
        printer = asyncio.create_task(_print_chat_events(events, peer["id"]))
        try:
            while (line := await asyncio.to_thread(sys.stdin.readline)) != "":
                if not await _chat_line(backend, peer, line.rstrip("\n")):
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
    if not line.strip():
        return True
    command, _, rest = line.partition(" ") if line.startswith("/") else ("", "", line)
    try:
        match command:
            case "":
                await backend.call("say", peer=peer["id"], text=rest)
            case "/quit" | "/exit":
                return False
            case "/help":
                print(CHAT_HELP)
            case "/nick":
                print(f"you are now {(await backend.call('name', name=rest))['name']!r}")
            case "/peers":
                for p in (await backend.call("peers"))["peers"]:
                    print(f"  {peer_label(p)}  {p['state']}")
            case "/link":
                await backend.call("say", peer=peer["id"], text=rest.strip(), kind="link")
            case "/send":
                paths = [str(Path(p).expanduser().absolute()) for p in shlex.split(rest)]
                t = (await backend.call("send", peer=peer["id"], paths=paths))["transfer"]
                print(f"offered {', '.join(t['names'][:3])} ({human_size(t['size'])})")
            case "/history":
                await _show_history(backend, peer, int(rest) if rest.strip().isdigit() else 20)
            case _:
                print(f"unknown command {command}; /help lists them")
    except ChattyError as exc:
        print(f"error: {exc}")
    return True


async def _print_chat_events(events: Events, peer_id: str) -> None:
    while True:
        event = await events.get()
        peer = event.get("peer") or {}
        transfer = event.get("transfer") or {}
        if peer_id not in (peer.get("id"), transfer.get("peer_id")) and event["type"] != "warning":
            continue
        msg = event.get("message")
        if event["type"] == "message" and msg and not msg["outgoing"]:
            links = find_links(msg["body"])
            suffix = "".join(f"\n    link: {url}" for _, _, url in links if url != msg["body"])
            print(format_message(msg, peer) + suffix, flush=True)
        elif event["type"] == "message-status" and msg and msg["status"] == "delivered":
            continue
        elif event["type"] != "message" and (line := describe_event(event)) is not None:
            print(line, flush=True)


# ----- parser ------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--data-dir",
        help="where identity, history and settings live "
        "(default: $CHATTY_HOME or the user data folder)",
    )
    common.add_argument("--json", action="store_true", help="machine-readable output")
    common.add_argument(
        "--interface",
        action="append",
        default=[],
        metavar="NAME_OR_IP",
        help="advertise and browse only on this interface, by name or address (repeatable; "
        "default: every LAN and VPN interface)",
    )
    common.add_argument(
        "--no-discovery", action="store_true", help="do not use mDNS (peers only by address)"
    )
    common.add_argument("-v", "--verbose", action="count", default=0, help="log more")

    parser = argparse.ArgumentParser(
        prog="chatty",
        description="Peer-to-peer LAN chat and file sharing. With no command, opens the window.",
        parents=[common],
    )
    parser.add_argument("--version", action="version", version=f"chatty {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    def add(name: str, help_text: str) -> argparse.ArgumentParser:
        return sub.add_parser(name, help=help_text, description=help_text, parents=[common])

    p = add("daemon", "run a headless node and print its events")
    p.add_argument("--name", help="display name (default: the host name)")
    p.add_argument("--port", type=int, default=0, help="TCP port (default: any free port)")
    p.add_argument(
        "--peer",
        action="append",
        default=[],
        metavar="HOST:PORT",
        help="also connect to this address (networks without multicast)",
    )
    p.add_argument(
        "--download-dir", metavar="FOLDER", help="where received files go (this run only)"
    )
    p.add_argument(
        "--accept-from",
        action="append",
        default=[],
        metavar="PEER",
        help="accept file offers unasked from this paired peer (name or id prefix; "
        "* for every paired peer); unverified peers are always asked",
    )
    p.set_defaults(func=cmd_daemon)

    p = add("peers", "list peers on the network")
    p.add_argument("--wait", type=float, default=1.5, help="seconds to listen (default 1.5)")
    p.set_defaults(func=cmd_peers)

    for name, help_text, func in (
        ("say", "send a text message", cmd_say),
        ("link", "send a link", cmd_link),
        ("clip", "send the clipboard's text", cmd_clip),
    ):
        p = add(name, help_text)
        p.add_argument("peer", metavar="PEER", help="name, id prefix or host:port")
        if name == "say":
            p.add_argument("text", nargs="+", metavar="TEXT")
        elif name == "link":
            p.add_argument("url", metavar="URL")
        p.add_argument(
            "--wait",
            type=float,
            default=5.0,
            help="seconds to wait for the peer and its receipt (default 5)",
        )
        p.set_defaults(func=func)

    p = add("chat", "interactive chat with slash commands")
    p.add_argument("peer", metavar="PEER", help="name, id prefix or host:port")
    p.add_argument("--wait", type=float, default=5.0, help="seconds to wait for the peer")
    p.set_defaults(func=cmd_chat)

    p = add("history", "show the messages exchanged with a peer")
    p.add_argument("peer", metavar="PEER", help="name or id prefix")
    p.add_argument("--limit", type=int, default=50)
    p.set_defaults(func=cmd_history)

    add("id", "show this device's name and fingerprint").set_defaults(func=cmd_id)

    p = add("name", "rename this device")
    p.add_argument("name", metavar="NAME")
    p.set_defaults(func=cmd_name)

    p = add("add", "connect to a peer by address and remember it")
    p.add_argument("address", metavar="HOST:PORT")
    p.set_defaults(func=cmd_add)

    p = add("forget", "forget a peer: its key, trust and address (history stays)")
    p.add_argument("peer", metavar="PEER", help="name or id prefix")
    p.set_defaults(func=cmd_forget)
    cli_files.register(add)
    cli_doctor.register(add)
    cli_share.register(add)
    cli_trust.register(add)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    level = [logging.WARNING, logging.INFO, logging.DEBUG][min(args.verbose, 2)]
    logging.basicConfig(level=level, format="%(asctime)s %(name)s: %(message)s", stream=sys.stderr)
    if args.verbose < 2:
        # zeroconf reports every unroutable address family (say, IPv6 without a route) with a
        # traceback on each send; that is noise for a user, and `chatty -vv` shows it.
        logging.getLogger("zeroconf").setLevel(logging.CRITICAL)
    if args.command is None:
        try:
            from chatty_p2p.gui.app import run
        except ImportError as exc:  # PySide6 or the system's Qt libraries missing
            print(f"chatty: the window cannot start ({exc}); `chatty daemon` runs without it")
            return 1
        return run(args)
    try:
        result: int = asyncio.run(args.func(args))
        return result
    except ChattyError as exc:
        print(f"chatty: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
