"""The file commands of ``chatty``: send, transfers, accept, decline, cancel, resume.

Like the rest of the CLI they talk to a backend (the daemon's node or one of
their own). A command that moves bytes (``send``, or ``accept`` without a
daemon) stays until the transfer ends and shows a progress bar; its last line
says what happened: verified and where, or why not.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from chatty_p2p.files import human_size, items

if TYPE_CHECKING:
    from chatty_p2p.cli import Events

ENDED = ("done", "failed", "declined", "cancelled", "expired")


def describe_transfer(event: dict[str, Any]) -> str | None:
    """One line for a transfer event in the daemon's log; None for progress ticks."""
    t = event["transfer"]
    short = t["id"][:8]
    what = f"{', '.join(t['names'][:3])} ({items(t['count'])}, {human_size(t['size'])})"
    if event["type"] == "transfer-offered":
        return (
            f"{t['peer_name']} offers {what}. Accept with `chatty accept {short}` "
            f"or decline with `chatty decline {short}`"
        )
    if event["type"] != "transfer":
        return None
    way = f"to {t['peer_name']}" if t["outgoing"] else f"from {t['peer_name']}"
    line = f"transfer {short} {way}: {t['state']}"
    if t["state"] == "done" and not t["outgoing"]:
        line += f", verified, saved in {t['folder']}"
    elif t["state"] == "done":
        line += ", verified by the receiver"
    if t["error"]:
        line += f" ({t['error']})"
    return line


async def follow(events: Events, transfer_id: str, show_bar: bool) -> dict[str, Any]:
    """Show progress of one transfer until it ends; returns its last state."""
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(binary_units=False),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, disable=not show_bar, transient=True) as bar:
        task = bar.add_task("waiting for the peer", total=None)
        while True:
            event = await events.get()
            t = event.get("transfer")
            if t is None or t["id"] != transfer_id:
                continue
            if t["state"] == "running":
                bar.update(task, description="sending" if t["outgoing"] else "receiving")
            bar.update(task, total=t["size"], completed=t["done_bytes"])
            if event["type"] == "transfer" and t["state"] in ENDED:
                return dict(t)


def final_line(t: dict[str, Any], seconds: float) -> tuple[str, int]:
    """What to print when a transfer ended, and the exit status."""
    size = human_size(t["size"])
    if t["state"] != "done":
        return f"transfer {t['id'][:8]} {t['state']}: {t['error'] or 'no reason given'}", 1
    rate = f", {human_size(t['size'] / seconds)}/s" if seconds > 0 else ""
    if t["outgoing"]:
        return (
            f"sent {items(t['count'])} ({size}) to {t['peer_name']}: verified by the "
            f"receiver in {seconds:.1f} s{rate}",
            0,
        )
    return f"received {items(t['count'])} ({size}), verified, saved in {t['folder']}", 0


async def cmd_send(args: argparse.Namespace) -> int:
    from chatty_p2p.cli import open_backend, print_json, resolve

    paths = [str(Path(p).expanduser().absolute()) for p in args.paths]
    async with open_backend(args) as backend:
        events = await backend.subscribe()
        peer = await resolve(backend, args.peer, args.wait)
        started = time.monotonic()
        t = (await backend.call("send", peer=peer["id"], paths=paths))["transfer"]
        if not args.json:
            print(
                f"offered {', '.join(t['names'][:3])} ({items(t['count'])}, "
                f"{human_size(t['size'])}) to {peer['name']}; waiting for it to accept"
            )
        if not args.follow and not backend.local:
            return 0
        try:
            t = await follow(events, t["id"], show_bar=not args.json and sys.stdout.isatty())
        except KeyboardInterrupt:  # pragma: no cover (interactive)
            print("interrupted: the transfer resumes when both sides run Chatty again")
            return 130
    line, status = final_line(t, time.monotonic() - started)
    print_json(t) if args.json else print(line)
    return status


async def cmd_transfers(args: argparse.Namespace) -> int:
    from chatty_p2p.cli import open_backend, print_json

    async with open_backend(args, network=False) as backend:
        rows = (await backend.call("transfers"))["transfers"]
    if args.json:
        print_json(rows)
        return 0
    if not rows:
        print("No transfers yet. Send with: chatty send PEER PATH...")
        return 0
    for t in rows:
        arrow = "->" if t["outgoing"] else "<-"
        share = f"{100 * t['done_bytes'] // t['size']}%" if t["size"] else "-"
        names = ", ".join(t["names"][:2])
        note = f"  {t['error']}" if t["error"] else ""
        print(
            f"{t['id'][:8]}  {arrow} {t['peer_name']:<16} {t['state']:<11} {share:>4}  "
            f"{human_size(t['size']):>9}  {names}{note}"
        )
    return 0


async def cmd_transfer_action(args: argparse.Namespace) -> int:
    from chatty_p2p.cli import open_backend, print_json

    async with open_backend(args) as backend:
        events = await backend.subscribe()
        started = time.monotonic()
        t = (await backend.call(args.action, transfer=args.transfer))["transfer"]
        if backend.local and args.action in ("accept", "resume") and not t["outgoing"]:
            # No daemon: this command's own node must stay up while the bytes move.
            t = await follow(events, t["id"], show_bar=not args.json and sys.stdout.isatty())
            line, status = final_line(t, time.monotonic() - started)
            print_json(t) if args.json else print(line)
            return status
    if args.json:
        print_json(t)
    else:
        print(f"transfer {t['id'][:8]} with {t['peer_name']}: {t['state']}")
    return 0


async def cmd_download_dir(args: argparse.Namespace) -> int:
    from chatty_p2p.cli import open_backend

    folder = str(Path(args.folder).expanduser().absolute()) if args.folder else None
    async with open_backend(args, network=False) as backend:
        result = await backend.call("download_dir", folder=folder)
    print(f"received files go to {result['folder']}")
    return 0


def register(add: Any) -> None:
    """Add the file commands to the parser; ``add(name, help)`` makes a subparser."""
    p = add("send", "send files or folders to a peer")
    p.add_argument("peer", metavar="PEER", help="name, id prefix or host:port")
    p.add_argument("paths", nargs="+", metavar="PATH")
    p.add_argument("--wait", type=float, default=5.0, help="seconds to wait for the peer")
    p.add_argument(
        "--no-follow",
        dest="follow",
        action="store_false",
        help="with a daemon running: return once offered, do not wait for the end",
    )
    p.set_defaults(func=cmd_send)

    add("transfers", "list running, finished and resumable transfers").set_defaults(
        func=cmd_transfers
    )
    p = add("download-dir", "show or set where received files go")
    p.add_argument("folder", nargs="?", metavar="FOLDER")
    p.set_defaults(func=cmd_download_dir)
    for action, help_text in (
        ("accept", "accept an offered transfer"),
        ("decline", "decline an offered transfer"),
        ("cancel", "stop a transfer (the peer is told)"),
        ("resume", "resume an interrupted transfer now"),
    ):
        p = add(action, help_text)
        p.add_argument("transfer", metavar="ID", help="transfer id or its first characters")
        p.set_defaults(func=cmd_transfer_action, action=action)
