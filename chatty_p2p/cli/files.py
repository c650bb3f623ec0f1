"""The file commands of ``chatty``: send, transfers, download-dir, accept, decline,
cancel, resume.

Like the rest of the CLI they talk to a backend (the daemon's node or one of
their own). A command that moves bytes (``send``, or ``accept`` without a
daemon) stays until the transfer ends and shows a progress bar; its last line
says what happened: verified and where, or why not. It stops waiting sooner,
saying so, when the peer is away for longer than ``--wait``: the transfer is
kept, and goes on when the peer is back.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from pathlib import Path
from typing import Any, NamedTuple

from chatty_p2p.cli.backend import Backend, Events, open_backend, resolve
from chatty_p2p.cli.entry import missing_display
from chatty_p2p.cli.output import answer, here, print_json
from chatty_p2p.errors import ChattyError
from chatty_p2p.events import OFFER_TTL, PeerOffline, PeerOnline, TransferChanged, human_size, items

ENDED = ("done", "failed", "declined", "cancelled", "expired", "paused")
"""States a following command returns on: "paused" waits for its user (see ``files``)."""


class Followed(NamedTuple):
    """Where ``follow`` left a transfer."""

    transfer: dict[str, Any]
    seconds: float
    """How long its bytes moved: from its first ``running`` on, not the wait for consent."""
    stalled: bool = False
    """It had not ended: the peer was away (or the transfer interrupted) for ``wait`` s."""
    online: bool = True
    """Whether the peer was online at the end."""


class Interrupted(Exception):
    """The user pressed Ctrl-C while ``follow`` waited: ``transfer`` as it stood."""

    def __init__(self, transfer: dict[str, Any]) -> None:
        super().__init__(transfer["id"])
        self.transfer = transfer


class _NoBar:
    """What ``follow`` calls on a progress bar, doing nothing: with no bar to show
    (``--json``, no terminal), rich is not even imported (a fifth of a one-shot
    ``send``'s start-up)."""

    def __enter__(self) -> _NoBar:
        return self

    def __exit__(self, *_: object) -> None:
        pass

    def add_task(self, description: str, total: float | None) -> int:
        return 0

    def update(self, task: int, **fields: Any) -> None:
        pass


def _progress(show: bool) -> Any:
    """A rich progress bar for a transfer, or ``_NoBar``."""
    if not show:
        return _NoBar()
    # Lazy for start-up, not for a cycle: rich is a fifth of a one-shot `send`'s
    # start-up, and --json or a pipe shows no bar.
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(binary_units=False),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
    )
    return Progress(*columns, transient=True)


async def follow(
    events: Events, t: dict[str, Any], show_bar: bool, online: bool, wait: float
) -> Followed:
    """Show progress of one transfer until it ends, or until it has waited ``wait``
    seconds for an absent peer (``online`` says whether the peer is there now) or
    in ``interrupted``: nothing moves then until the peer is back, which may be never.
    Ctrl-C (asyncio.run cancels the command) raises ``Interrupted``, so that the
    command can say what becomes of the transfer it stops watching."""
    running_since: float | None = None
    stuck_since: float | None = None
    with _progress(show_bar) as bar:
        task = bar.add_task("waiting for the peer", total=None)
        try:
            while True:
                now = time.monotonic()
                stuck = t["state"] == "interrupted" or (t["state"] == "offered" and not online)
                stuck_since = (stuck_since or now) if stuck else None
                try:
                    left = None if stuck_since is None else stuck_since + wait - now
                    async with asyncio.timeout(left):
                        event = await events.get()
                except TimeoutError:
                    return Followed(t, _since(running_since), stalled=True, online=online)
                if isinstance(event, PeerOnline | PeerOffline) and event.peer.id == t["peer_id"]:
                    online = isinstance(event, PeerOnline)
                if event.transfer is None or event.transfer.id != t["id"]:
                    continue
                t = event.transfer.to_dict()
                if t["state"] == "running":
                    running_since = running_since or time.monotonic()
                    bar.update(task, description="sending" if t["outgoing"] else "receiving")
                bar.update(task, total=t["size"], completed=t["done_bytes"])
                if isinstance(event, TransferChanged) and t["state"] in ENDED:
                    return Followed(dict(t), _since(running_since))
        except asyncio.CancelledError:
            raise Interrupted(t) from None


def _since(start: float | None) -> float:
    return 0.0 if start is None else time.monotonic() - start


def final_line(end: Followed, local: bool) -> tuple[str, int]:
    """What to print when ``follow`` returned, and the exit status (see ``parser.SEND_EPILOG``)."""
    t, seconds = end.transfer, end.seconds
    short, name = t["id"][:8], t["peer_name"]
    later = "the next time Chatty runs here while it is online" if local else "when it is back"
    if end.stalled and t["state"] == "offered":
        return f"{name} is offline: the offer ({short}) is kept and made {later}", 0
    if end.stalled and not end.online:
        return f"{name} is offline: transfer {short} resumes {later}", 1
    if end.stalled:
        why = t["error"] or "the connection was lost"
        return f"transfer {short} interrupted ({why}): it resumes {later}", 1
    size = human_size(t["size"])
    if t["state"] != "done":
        error = t["error"] or "no reason given"
        # Errors that name what happened ("desk declined") need no state in front.
        return f"transfer {short}{'' if t['state'] in error else ' ' + t['state']}: {error}", 1
    rate = f", {human_size(t['size'] / seconds)}/s" if seconds > 0 else ""
    if t["outgoing"]:
        return (
            f"sent {items(t['count'])} ({size}) to {name}: verified by the "
            f"receiver in {seconds:.1f} s{rate}",
            0,
        )
    return f"received {items(t['count'])} ({size}), verified, saved in {t['folder']}", 0


def _show_bar(args: argparse.Namespace) -> bool:
    return not args.json and sys.stdout.isatty()


async def follow_to_the_end(
    args: argparse.Namespace, backend: Backend, events: Events, t: dict[str, Any], online: bool
) -> int:
    """``follow`` the transfer and print its last line; the exit status. On Ctrl-C, say
    what becomes of the transfer: a daemon carries on with it, while this command's own
    node stops, and with it the transfer, until it is resumed."""
    try:
        end = await follow(events, t, _show_bar(args), online, args.wait)
    except Interrupted as stop:
        t = stop.transfer
        command = f"{t['id'][:8]}{here(args)}"
        if not backend.local:
            said = f"the transfer continues in the background; `chatty cancel {command}` stops it"
        elif t["state"] == "offered":
            said = "interrupted: the offer is kept and made the next time Chatty runs here"
        else:
            said = f"interrupted: the transfer stops here; `chatty resume {command}` continues it"
        print(said, file=sys.stderr, flush=True)
        return 130
    line, status = final_line(end, backend.local)
    answer(args, end.transfer, line)
    return status


async def cmd_send(args: argparse.Namespace) -> int:
    if args.choose is not None:
        return choose(args)
    paths = [str(Path(p).expanduser().absolute()) for p in args.paths]
    async with open_backend(args) as backend:
        events = await backend.subscribe()
        peer = await resolve(backend, args.peer, args.wait)
        t = (await backend.call("send", peer=peer["id"], paths=paths, pin=args.pin))["transfer"]
        if not args.json:
            waiting = (
                f"waiting for it to accept (the offer expires after {OFFER_TTL / 60:.0f} min)"
                if peer["online"]
                else f"it is offline; waiting up to {args.wait:g} s for it"
            )
            print(
                f"offered {', '.join(t['names'][:3])} ({items(t['count'])}, "
                f"{human_size(t['size'])}) to {peer['name']}; {waiting}",
                flush=True,
            )
        if not args.follow and not backend.local:
            return 0
        return await follow_to_the_end(args, backend, events, t, peer["online"])


def choose(args: argparse.Namespace) -> int:
    """``send --choose``: the chooser window (``gui.app.run_chooser``), which runs Qt on
    this thread until it closes; this command's loop has nothing else to do meanwhile."""
    missing = missing_display(os.environ) if sys.platform.startswith("linux") else None
    if missing is not None:
        raise ChattyError(
            f"no display found{f' ({missing})' if missing else ''}: --choose needs one"
        )
    # Lazy for start-up, not for a cycle: Qt is for this one option of the command.
    from chatty_p2p.gui.app import run_chooser

    return run_chooser(args)


async def cmd_transfers(args: argparse.Namespace) -> int:
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
    """``resume`` follows the transfer to its end, as ``send`` does (or says, within
    ``--wait``, that the peer is offline); so does ``accept`` without a daemon, whose
    node must stay up while the bytes move. ``accept`` through a daemon, ``decline``
    and ``cancel`` report the new state and return."""
    async with open_backend(args) as backend:
        events = await backend.subscribe()
        t = (await backend.call(args.action, transfer=args.transfer))["transfer"]
        follows = args.action == "resume" or (backend.local and args.action == "accept")
        if follows and t["state"] not in ENDED:
            peer = (await backend.call("resolve", peer=t["peer_id"]))["peer"]
            if not args.json:
                why = f" ({t['error']})" if t["error"] else ""
                print(f"transfer {t['id'][:8]} with {t['peer_name']}: {t['state']}{why}")
            return await follow_to_the_end(args, backend, events, t, peer["online"])
    answer(args, t, f"transfer {t['id'][:8]} with {t['peer_name']}: {t['state']}")
    return 0


async def cmd_download_dir(args: argparse.Namespace) -> int:
    folder = str(Path(args.folder).expanduser().absolute()) if args.folder else None
    async with open_backend(args, network=False) as backend:
        result = await backend.call("download_dir", folder=folder)
    answer(args, result, f"received files go to {result['folder']}")
    return 0
