"""The trust commands of ``chatty``: pair, unpair, block, unblock, trusted-only, auto-accept.

``chatty pair PEER`` shows the six-digit code and asks whether the other
screen shows the same; where nobody can answer a prompt (a script, a server
over ssh without a terminal) ``--code`` takes the code read off the other
screen instead, and ``--fingerprint`` vouches for a key read from ``chatty id``
on the other device, with no exchange at all.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

from chatty_p2p.errors import ChattyError

if TYPE_CHECKING:
    from chatty_p2p.cli_node import Events


def describe_pairing(event: dict[str, Any], options: str = "") -> str:
    """One line for a pairing event in the daemon's log and the chat; ``options``
    (``--data-dir …``) go into the command it tells the user to run."""
    from chatty_p2p.cli import short_id

    p = event["pairing"]
    name, short = p["peer_name"], short_id(p["peer_id"])
    match p["state"]:
        case "compare" if not p["initiator"]:
            digits = p["code"].replace(" ", "")
            return (
                f"{name} asks to pair; code {p['code']}. If {name} shows the same code, "
                f"run: chatty pair {short} --code {digits}{options}"
            )
        case "compare":
            return f"pairing with {name}: code {p['code']}"
        case "waiting-peer":
            return f"pairing with {name}: waiting for {name} to confirm the code"
        case "paired":
            return f"paired with {name}: it is now trusted"
        case "failed":
            return f"pairing with {name} failed: {p['error']}"
    return f"pairing with {name}: {p['state']}"


async def cmd_pair(args: argparse.Namespace) -> int:
    from chatty_p2p.cli import peer_label, print_json
    from chatty_p2p.cli_node import open_backend, resolve

    async with open_backend(args) as backend:
        if args.fingerprint:
            result = await backend.call(
                "pair_fingerprint", peer=args.peer, fingerprint=args.fingerprint
            )
            if args.json:
                print_json(result["peer"])
            else:
                print(f"{peer_label(result['peer'])} is now trusted (fingerprint checked)")
            return 0
        events = await backend.subscribe()
        peer = await resolve(backend, args.peer, args.wait)
        info = (await backend.call("pair", peer=peer["id"]))["pairing"]
        if args.json and args.code is None:
            print_json(info)
            return 0
        print(f"Pairing with {peer_label(peer)}.")
        print(f"Code: {info['code']}  (the same code must show on {peer['name']})", flush=True)
        if args.code is None and not sys.stdin.isatty():
            raise ChattyError(
                "no terminal to ask whether the codes match: pass --code with the code "
                f"shown on {peer['name']}"
            )
        if args.code is None:
            answer = await _ask(events, peer, "Does it show the same code? [y/N] ")
            if answer.strip().lower() not in ("y", "yes"):
                await backend.call("pair_reject", peer=peer["id"])
                print("Not paired: the codes differ. Someone may be in between; do not pair here.")
                return 1
        info = (await backend.call("pair_confirm", peer=peer["id"], code=args.code))["pairing"]
        if info["state"] != "paired":
            print(f"Waiting for {peer['name']} to confirm…", flush=True)
            info = await _outcome(events, peer["id"], info)
    if args.json:
        print_json(info)
    if info["state"] == "paired":
        print(f"Paired: {peer_label(peer)} is now trusted.")
        return 0
    print(f"Not paired: {info['error'] or 'no answer'}", file=sys.stderr)
    return 1


async def _outcome(events: Events, peer_id: str, info: dict[str, Any]) -> dict[str, Any]:
    """The pairing's end (``paired`` or ``failed``); ``info`` if none came in time
    (the node fails a pairing nobody finishes after ``PAIR_TTL``, so this is a bound
    only for a node that went quiet)."""
    import asyncio

    from chatty_p2p.trust import PAIR_TTL

    try:
        async with asyncio.timeout(PAIR_TTL):
            while True:
                event = await events.get()
                p = event.get("pairing")
                if p and p["peer_id"] == peer_id and p["state"] in ("paired", "failed"):
                    return dict(p)
    except TimeoutError:
        return info


async def _ask(events: Events, peer: dict[str, Any], question: str) -> str:
    """The user's answer to ``question``, unless the pairing ends first: the other side
    said no, went offline, or nobody answered in time. Then the question is moot and
    waiting on the terminal would hang: say why and stop."""
    import asyncio

    from chatty_p2p.cli import read_terminal

    typed: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    print(question, end="", flush=True)
    read_terminal(lambda line: None if typed.done() else typed.set_result(line))
    ended = asyncio.create_task(_outcome(events, peer["id"], {}))
    either: set[asyncio.Future[Any]] = {typed, ended}
    try:
        await asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED)
    finally:
        ended.cancel()
    if typed.done():
        return typed.result()
    print()
    why = (ended.result() or {}).get("error") or "nobody confirmed the code in time"
    raise ChattyError(f"not paired with {peer['name']}: {why}")


async def cmd_trust_change(args: argparse.Namespace) -> int:
    from chatty_p2p.cli import peer_label, print_json
    from chatty_p2p.cli_node import open_backend

    async with open_backend(args, network=False) as backend:
        if args.command == "unpair":
            peer = (await backend.call("unpair", peer=args.peer))["peer"]
            said = f"{peer_label(peer)} is no longer trusted (unverified)"
        else:
            blocked = args.command == "block"
            peer = (await backend.call("block", peer=args.peer, blocked=blocked))["peer"]
            said = f"{peer_label(peer)} is {'blocked' if blocked else 'no longer blocked'}"
    print_json(peer) if args.json else print(said)
    return 0


SETTINGS = {
    # command: (operation, what it means on, what it means off)
    "trusted-only": (
        "trusted_only",
        "only paired peers may connect now",
        "unverified peers may connect again (their offers still ask)",
    ),
    "auto-copy": (
        "auto_copy",
        "text from paired peers now goes straight to the clipboard",
        "received text no longer touches the clipboard",
    ),
    "auto-accept": (
        "auto_accept",
        "offers from trusted peers are now accepted without asking",
        "every offer now waits for your answer",
    ),
}


async def cmd_setting(args: argparse.Namespace) -> int:
    from chatty_p2p.cli import print_json
    from chatty_p2p.cli_node import open_backend

    on = args.state == "on"
    op, said_on, said_off = SETTINGS[args.command]
    async with open_backend(args, network=False) as backend:
        result = await backend.call(op, on=on)
    print_json(result) if args.json else print(said_on if on else said_off)
    return 0


def register(add: Any) -> None:
    """Add the trust commands to the parser; ``add(name, help)`` makes a subparser."""
    p = add("pair", "compare a code with a peer and trust it")
    p.add_argument(
        "peer", metavar="PEER", help="name or id prefix (with --fingerprint: or a whole new id)"
    )
    p.add_argument(
        "--code", metavar="DIGITS", help="the code shown on the other device (no prompt)"
    )
    p.add_argument(
        "--fingerprint",
        metavar="HEX",
        help="trust the key whose fingerprint 'chatty id' shows there (16+ hex digits)",
    )
    p.add_argument("--wait", type=float, default=5.0, help="seconds to wait for the peer")
    p.set_defaults(func=cmd_pair)
    for name, help_text in (
        ("unpair", "stop trusting a peer"),
        ("block", "refuse every connection from a peer"),
        ("unblock", "let a blocked peer connect again"),
    ):
        p = add(name, help_text)
        p.add_argument("peer", metavar="PEER", help="name or id prefix")
        p.set_defaults(func=cmd_trust_change)
    for name, help_text in (
        ("trusted-only", "accept connections only from paired peers (default off)"),
        ("auto-accept", "accept offers from trusted peers without asking (default off)"),
        ("auto-copy", "copy text from trusted peers to the clipboard (default off)"),
    ):
        p = add(name, help_text)
        p.add_argument("state", choices=["on", "off"])
        p.set_defaults(func=cmd_setting)
