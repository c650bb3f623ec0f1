"""``chatty chat PEER``: an interactive chat on the terminal, with slash commands.

Lines typed are sent as messages; a line that starts with ``/`` is a command
(:mod:`chatty_p2p.slash` reads it, this module acts on it). The peer's messages,
offers and pairings are printed as they come.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import sys
import time
from typing import Any

from chatty_p2p import slash
from chatty_p2p.cli.backend import Backend, Events, open_backend, resolve
from chatty_p2p.cli.events import describe_event
from chatty_p2p.cli.output import format_message, here, peer_label
from chatty_p2p.cli.terminal import as_text, read_terminal
from chatty_p2p.errors import ChattyError, OutboxFull
from chatty_p2p.events import (
    MessageStatus,
    NewMessage,
    NodeWarning,
    Peer,
    TransferOffered,
    human_size,
)
from chatty_p2p.links import find_links

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
    if not line.strip():
        return True
    command, rest = slash.split(line)
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
                paths = [str(p.absolute()) for p in slash.paths(rest)]
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
    while True:
        event = await events.get()
        about = event.peer
        ours = peer["id"] in (
            about.id if about is not None else None,
            event.transfer.peer_id if event.transfer is not None else None,
        )
        if not ours and not isinstance(event, NodeWarning):
            continue
        if isinstance(event, NewMessage) and not event.message.outgoing:
            msg = event.message
            links = find_links(msg.body)
            suffix = "".join(f"\n    link: {url}" for _, _, url in links if url != msg.body)
            print(format_message(msg.to_dict(), event.peer.to_dict()) + suffix, flush=True)
        elif isinstance(event, MessageStatus) and event.message.status == "delivered":
            continue
        elif isinstance(event, TransferOffered):
            sender = event.peer or Peer.from_json(peer)
            line = describe_event(dataclasses.replace(event, peer=sender), options)
            print(f"{line}; or here: /accept or /decline", flush=True)
        elif (
            not isinstance(event, NewMessage)
            and (line := describe_event(event, options)) is not None
        ):
            print(line, flush=True)
