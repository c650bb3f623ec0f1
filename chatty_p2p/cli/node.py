"""The commands of ``chatty`` about the node, its peers and their messages: daemon,
peers, say, link, clip, history, id, name, add, forget.

Each reaches a node through :mod:`chatty_p2p.cli.backend` (the daemon's, or one of
its own), except ``daemon``, which is the node other commands reach.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from chatty_p2p import __version__, config
from chatty_p2p.cli.backend import Events, open_backend, resolve
from chatty_p2p.cli.events import describe_event
from chatty_p2p.cli.output import answer, format_message, here, peer_label, print_json
from chatty_p2p.cli.terminal import as_text, stop_signalled
from chatty_p2p.control import ControlServer
from chatty_p2p.errors import ChattyError
from chatty_p2p.events import (
    CopyToClipboard,
    MessageStatus,
    NodeEvent,
    NodeWarning,
    TransferOffered,
    short_id,
)
from chatty_p2p.links import is_safe_url

if TYPE_CHECKING:
    from chatty_p2p.node import Node


async def cmd_daemon(args: argparse.Namespace) -> int:
    # Lazy for start-up, not for a cycle: api, like the node and pyperclip (imported where
    # they are used), is what `chatty say` and the other commands here never load (see
    # backend).
    from chatty_p2p import api

    node = _daemon_node(args)
    show = _event_printer(node, args)
    events = node.subscribe()  # before start: peers may connect while it runs
    await node.start()
    control = ControlServer(node)
    await control.start()
    stop = stop_signalled()
    _print_ready(node.describe(), args)

    async def add(address: str) -> None:
        try:
            await api.call(node, "add", {"address": address})
        except ChattyError as exc:
            show(NodeWarning(text=f"{address}: {exc}"))

    adders = [asyncio.create_task(add(a)) for a in args.peer]
    try:
        await _show_until(stop, events, show)
    finally:
        for task in adders:
            task.cancel()
        await control.stop()
        await node.stop()
    if args.json:
        print_json({"type": "stopped", "time": time.time()})
    return 0


def _daemon_node(args: argparse.Namespace) -> Node:
    """The node of ``chatty daemon``, made from its options; imported here, so the
    other commands in this module never load it."""
    from chatty_p2p.node import Node

    domains, key = config.wide_area(args.dns_sd_domain, args.tsig_key)
    return Node(
        config.data_dir(args.data_dir),
        name=args.name,
        port=args.port,
        discovery=not args.no_discovery,
        interfaces=args.interface or None,
        download_dir=Path(args.download_dir) if args.download_dir else None,
        accept_from=args.accept_from,
        localsend=not args.no_localsend,
        dns_sd_domains=domains,
        tsig_key=key,
    )


def _print_ready(info: dict[str, Any], args: argparse.Namespace) -> None:
    """The first line says the daemon is up: a script waits for it (``ready`` in JSON),
    and a person needs the port and fingerprint to pair or add it."""
    if args.json:
        print_json({"type": "ready", **info})
    else:
        print(
            f"Chatty {__version__}: {info['name']} ({short_id(info['id'])}) on port {info['port']}"
        )
        print(f"fingerprint {info['fingerprint']}", flush=True)


def _event_printer(node: Node, args: argparse.Namespace) -> Callable[[NodeEvent], None]:
    """How the daemon shows an event; it also acts on the two that need this machine:
    a text to copy to its clipboard (a failure is shown as a warning instead), and an
    offer whose peer the line needs to say whether it is verified."""
    # Lazy for start-up, not for a cycle: pyperclip, which only the daemon and
    # `chatty clip` use.
    from chatty_p2p import clipboard

    options = here(args)

    def show(event: NodeEvent) -> None:
        if isinstance(event, CopyToClipboard):
            try:
                clipboard.write_text(event.text)
            except ChattyError as exc:
                event = NodeWarning(peer=event.peer, text=str(exc), time=event.time)
        if isinstance(event, TransferOffered) and event.peer is None:
            # Who offers, with its trust, so the line can say when it is unverified.
            with contextlib.suppress(ChattyError):
                event = dataclasses.replace(event, peer=node.peer(event.transfer.peer_id))
        if args.json:
            print_json(event.to_json())
        elif (line := describe_event(event, options)) is not None:
            print(line, flush=True)

    return show


async def _show_until(
    stop: asyncio.Event, events: asyncio.Queue[NodeEvent], show: Callable[[NodeEvent], None]
) -> None:
    """Every event in order until ``stop`` is set: the wait for the next event is dropped
    then, so a stop is never held up by a quiet node."""
    stopper = asyncio.create_task(stop.wait())
    while not stop.is_set():
        getter = asyncio.create_task(events.get())
        done, _ = await asyncio.wait({getter, stopper}, return_when=asyncio.FIRST_COMPLETED)
        if getter not in done:
            getter.cancel()
            break
        show(getter.result())


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
        if p.get("via") == "localsend":
            trust = "LocalSend"  # never verified, never paired: no trust to show
        print(f"{p['name']:<{width}}  {short_id(p['id'])}  {p['state']:<8}  {trust:<10}  {where}")
    if any(p["trust"] == "unverified" and p.get("via") != "localsend" for p in peers):
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
                if isinstance(event, MessageStatus) and event.message.id == message["id"]:
                    message = event.message.to_dict()
                    if event.text:
                        return message, event.text
    return message, ""


async def cmd_say(args: argparse.Namespace) -> int:
    return await _send(args, " ".join(args.text), "text")


async def cmd_link(args: argparse.Namespace) -> int:
    if not is_safe_url(args.url):
        raise ChattyError(f"not a link: {args.url!r} (give a full URL such as https://example.org)")
    return await _send(args, args.url, "link")


async def cmd_clip(args: argparse.Namespace) -> int:
    # Lazy for start-up, not for a cycle: pyperclip, which only this command and the
    # daemon use.
    from chatty_p2p import clipboard

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
