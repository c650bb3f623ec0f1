"""The trust commands of ``chatty``: pair, unpair, block, unblock, trusted-only,
auto-accept, auto-copy; and the settings beside them (localsend, dns-sd).

``chatty pair PEER`` shows the six-digit code and asks whether the other
screen shows the same; where nobody can answer a prompt (a script, a server
over ssh without a terminal) ``--code`` takes the code read off the other
screen instead, and ``--fingerprint`` vouches for a key read from ``chatty id``
on the other device, with no exchange at all.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
from pathlib import Path
from typing import Any

from chatty_p2p.cli.backend import Backend, Events, open_backend, resolve
from chatty_p2p.cli.output import answer, peer_label, print_json
from chatty_p2p.cli.terminal import read_terminal
from chatty_p2p.control import GAVE_UP
from chatty_p2p.errors import ChattyError
from chatty_p2p.events import PAIR_TTL, short_id


async def cmd_pair(args: argparse.Namespace) -> int:
    async with open_backend(args) as backend:
        if args.fingerprint:
            result = await backend.call(
                "pair_fingerprint", peer=args.peer, fingerprint=args.fingerprint
            )
            answer(
                args,
                result["peer"],
                f"{peer_label(result['peer'])} is now trusted (fingerprint checked)",
            )
            return 0
        events = await backend.subscribe()
        peer = await resolve(backend, args.peer, args.wait)
        if args.code is not None:
            await _check_running(backend, peer)
        # A hand-off: a script shows the code and confirms with `pair --code` later;
        # the node ends the pairing after PAIR_TTL if that never comes.
        hand_off = args.json and args.code is None
        ended = False
        try:
            # Through a daemon, ``held`` has it cancel the pairing should this command
            # die without a word (killed, its terminal closed); the `finally` below
            # cannot run then.
            held = {} if backend.local or hand_off else {"held": True}
            info = (await backend.call("pair", peer=peer["id"], **held))["pairing"]
            if hand_off:
                ended = True
                print_json(info)
                return 0
            info = await _pair(args, backend, events, peer, info)
            ended = True
        finally:
            # However this command stops (no terminal, Ctrl-C, the end of input, an
            # error), a pairing it leaves would wait on both sides for a yes that
            # cannot come: cancel it, and the peer is told why.
            if not ended:
                with contextlib.suppress(ChattyError):  # it ended already, or the node did
                    await backend.call("pair_reject", peer=peer["id"], reason=GAVE_UP)
    if args.json:
        print_json(info)
    if info["state"] == "paired":
        print(f"Paired: {peer_label(peer)} is now trusted.")
        return 0
    print(f"Not paired: {info['error']}", file=sys.stderr)
    return 1


async def _check_running(backend: Backend, peer: dict[str, Any]) -> None:
    """``--code`` confirms a pairing that is running: without one, ``pair`` would start
    a new one, whose code no code read before can match; the user would be told that
    someone may be in between, and the peer's few pairings a while be spent."""
    running = (await backend.call("pairings"))["pairings"]
    if not any(p["peer_id"] == peer["id"] for p in running):
        raise ChattyError(
            f"no pairing with {peer['name']} is running here, so no code can match yet: "
            f"run `chatty pair {short_id(peer['id'])}` (without --code) and compare the code "
            f"it shows with {peer['name']}'s screen"
        )


async def _pair(
    args: argparse.Namespace,
    backend: Backend,
    events: Events,
    peer: dict[str, Any],
    info: dict[str, Any],
) -> dict[str, Any]:
    """Show the code, take the user's yes (asked, or ``--code``) and wait for the peer's:
    the pairing's end, ``paired`` or ``failed``."""
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
            return {
                **info,
                "state": "failed",
                "error": "the codes differ. Someone may be in between; do not pair here.",
            }
    info = (await backend.call("pair_confirm", peer=peer["id"], code=args.code))["pairing"]
    if info["state"] != "paired":
        print(f"Waiting for {peer['name']} to confirm…", flush=True)
        info = await _outcome(events, peer)
    return info


async def _outcome(events: Events, peer: dict[str, Any]) -> dict[str, Any]:
    """The pairing's end (``paired`` or ``failed``). The node fails a pairing nobody
    finishes after ``PAIR_TTL``, so the bound here is for a node that went quiet."""
    try:
        async with asyncio.timeout(PAIR_TTL):
            while True:
                p = (await events.get()).pairing
                if p and p.peer_id == peer["id"] and p.state in ("paired", "failed"):
                    return p.to_dict()
    except TimeoutError:
        raise ChattyError(
            f"not paired with {peer['name']}: nobody confirmed the code within {PAIR_TTL:.0f} s"
        ) from None


async def _ask(events: Events, peer: dict[str, Any], question: str) -> str:
    """The user's answer to ``question``, unless the pairing ends first: the other side
    said no, went offline, or nobody answered in time. Then the question is moot and
    waiting on the terminal would hang: say why and stop. The end of input is no
    answer either (not a "no": nothing says the codes differ)."""
    typed: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    print(question, end="", flush=True)
    read_terminal(lambda line: None if typed.done() else typed.set_result(line))
    ended = asyncio.create_task(_outcome(events, peer))
    either: set[asyncio.Future[Any]] = {typed, ended}
    try:
        await asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED)
    finally:
        ended.cancel()
    if typed.done() and typed.result():
        return typed.result()
    print()
    if typed.done():
        raise ChattyError(f"not paired with {peer['name']}: no answer (the input ended)")
    raise ChattyError(f"not paired with {peer['name']}: {ended.result()['error']}")


async def cmd_trust_change(args: argparse.Namespace) -> int:
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
        "only paired peers may connect",
        "unverified peers may connect too (their offers still ask)",
    ),
    "auto-copy": (
        "auto_copy",
        "text from paired peers goes straight to the clipboard",
        "received text does not touch the clipboard",
    ),
    "auto-accept": (
        "auto_accept",
        "offers from trusted peers are accepted without asking",
        "every offer waits for your answer",
    ),
}


async def cmd_setting(args: argparse.Namespace) -> int:
    """``chatty auto-accept on``; with no state, what it is now."""
    op, said_on, said_off = SETTINGS[args.command]
    async with open_backend(args, network=False) as backend:
        if args.state is None:
            result = await backend.call(op)
        else:
            result = await backend.call(op, on=args.state == "on")
    if args.json:
        print_json(result)
        return 0
    on = next(iter(result.values()))
    now = "" if args.state is None else "now "
    print(f"{args.command} is {now}{'on' if on else 'off'}: {said_on if on else said_off}")
    return 0


async def cmd_localsend(args: argparse.Namespace) -> int:
    """``chatty localsend on --pin 1234``; with nothing, how it is now."""
    change: dict[str, object] = {}
    if args.state is not None:
        change["on"] = args.state == "on"
    if args.pin is not None or args.no_pin:
        change["pin"] = "" if args.no_pin else args.pin
    async with open_backend(args, network=False) as backend:
        result = await backend.call("localsend", **change)
    if args.json:
        print_json(result)
        return 0
    if result["localsend"]:
        asks = "a PIN is asked for" if result["pin"] else "no PIN is asked for"
        print(f"LocalSend is on: its devices see this one and exchange files ({asks})")
    else:
        print("LocalSend is off: its devices are not listed, and port 53317 stays free")
    return 0


DNS_SD_WAIT = 15.0
"""Seconds ``chatty dns-sd DOMAIN`` waits for the domain's DNS server to answer."""


async def cmd_dns_sd(args: argparse.Namespace) -> int:
    """``chatty dns-sd sd.example --tsig-key FILE``; ``off``; with nothing, how it is
    now. With Chatty running, a new domain is used at once, and this waits (a while)
    for its server's answer, to say whether registering worked."""
    change: dict[str, object] = {}
    if args.domain is not None:
        domain = "" if args.domain == "off" else args.domain
        key = args.tsig_key if domain and args.tsig_key else ""
        change = {
            "domain": domain,
            "key_file": str(Path(key).expanduser().resolve()) if key else "",
        }
    async with open_backend(args, network=False) as backend:
        result = await backend.call("dns_sd", **change)
        deadline = asyncio.get_running_loop().time() + DNS_SD_WAIT
        while change.get("domain") and _registering(result):
            if asyncio.get_running_loop().time() > deadline:
                break
            await asyncio.sleep(0.2)
            result = await backend.call("dns_sd")
    if args.json:
        print_json(result)
    else:
        _print_dns_sd(result)
    return 1 if any(d["state"] == "failed" for d in result["domains"]) else 0


def _registering(result: dict[str, Any]) -> bool:
    return any(d["state"] == "registering" for d in result["domains"])


def _print_dns_sd(result: dict[str, Any]) -> None:
    if not result["domain"]:
        print("Wide-area DNS-SD is off: peers are found on this network (mDNS) and by address")
    else:
        signed = f"signed with {result['key_file']}" if result["key_file"] else "unsigned"
        print(f"DNS-SD domain {result['domain']} (updates {signed})")
    for status in result["domains"]:
        print("  " + _domain_line(status))
    if result["domain"] and not result["domains"]:
        print("  used while Chatty runs (chatty daemon, or the window)")


def _domain_line(status: dict[str, str]) -> str:
    domain, state = status["domain"], status["state"]
    if state == "registered":
        return f"{domain}: registered at {status['server']}; Chattys that browse it find this one"
    if state == "failed":
        return f"{domain}: not registered: {status['reason']}"
    if state == "browsing":
        return f"{domain}: browsed (this network's DNS names it)"
    return f"{domain}: registering (its DNS server has not answered yet)"
