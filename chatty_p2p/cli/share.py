"""``chatty share``: files for a device without Chatty, through its browser.

It prints a one-time address and its QR code, then logs what happens. The
share needs no node (no identity, no lock on the data dir), so it runs next to
a daemon or the window. Each upload from the browser is asked about on the
terminal; without a terminal it is declined unless ``--accept-uploads`` says
to take them all.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import time
from pathlib import Path

import platformdirs
import segno

from chatty_p2p import config
from chatty_p2p.cli.output import print_json
from chatty_p2p.cli.terminal import read_terminal, stop_signalled
from chatty_p2p.errors import ChattyError
from chatty_p2p.events import human_size
from chatty_p2p.share import NOT_ENCRYPTED, BrowserShare, ShareEvent, UploadOffer


def default_receive_dir(data_dir: Path) -> Path:
    """The download folder set in Chatty's settings, read without starting a node
    (which would lock the data dir a daemon may be using); else the default."""
    stored = config.stored_setting(data_dir, "download_dir")
    return Path(stored) if stored else Path(platformdirs.user_downloads_dir()) / "Chatty"


def stamp() -> str:
    return time.strftime("[%H:%M:%S]")


class Prompter:
    """Asks about offers one at a time on the terminal.

    Lines are read from the start (by ``read_terminal``'s daemon thread, so a pending
    read never keeps the process alive after the share ends) and handed to the event
    loop, which drops any that come while no offer is waiting: a stray "y" typed before
    anything was offered must not accept the next file. The check is made on the
    loop, where an offer and its log line happen in one step, so a line typed on
    seeing that line is never mistaken for an early one. The end of input (Ctrl-D)
    answers no."""

    def __init__(self, share: BrowserShare) -> None:
        self._share = share
        self._offers: asyncio.Queue[UploadOffer] = asyncio.Queue()
        self._lines: asyncio.Queue[str] = asyncio.Queue()
        self._waiting = 0
        read_terminal(self._typed)
        self._task = asyncio.create_task(self._ask())

    def _typed(self, line: str) -> None:
        if self._waiting:
            self._lines.put_nowait(line)

    def offer(self, offer: UploadOffer) -> None:
        self._waiting += 1
        self._offers.put_nowait(offer)

    async def _ask(self) -> None:
        while True:
            offer = await self._offers.get()
            question = (
                f"Accept '{offer.name}' ({human_size(offer.size)}) from {offer.remote}? [y/N] "
            )
            print(question, end="", flush=True)
            answer = (await self._lines.get()).strip().lower() in ("y", "yes")
            self._waiting -= 1
            if not self._share.decide(offer.id, answer):
                print(f"too late: the offer of '{offer.name}' is no longer waiting", flush=True)

    def close(self) -> None:
        self._task.cancel()


async def cmd_share(args: argparse.Namespace) -> int:
    problem = _option_problem(args)
    if problem is not None:
        return usage_error(problem)
    receive = _receive_dir(args)
    asks = sys.stdin.isatty() and not args.json and not args.accept_uploads
    prompter: Prompter | None = None

    def on_upload(offer: UploadOffer) -> None:
        if args.accept_uploads:
            share.decide(offer.id, True)
        elif prompter is not None:
            prompter.offer(offer)
        else:
            share.decide(offer.id, False)
            if not args.json:
                print(f"{stamp()} no terminal to ask on: run with --accept-uploads to take them")

    def on_event(event: ShareEvent) -> None:
        if args.json:
            print_json(event.to_dict())
        else:
            print(f"{stamp()} {event.summary()}", flush=True)

    try:
        share = BrowserShare(
            [Path(p).expanduser().absolute() for p in args.paths],
            receive,
            host=args.interface[0] if args.interface else "",
            port=args.port,
            timeout=args.timeout,
            on_upload=on_upload,
            on_event=on_event,
            name=config.stored_setting(config.data_dir(args.data_dir), "name"),
        )
        await share.start()
    except ChattyError as exc:
        return usage_error(str(exc))
    if asks:
        prompter = Prompter(share)
    interrupted = stop_signalled()
    announce(share, args, asks)
    try:
        await _until_stopped(share, interrupted)
    finally:
        if prompter is not None:
            prompter.close()
    return 0


def _option_problem(args: argparse.Namespace) -> str | None:
    """What argparse cannot refuse on its own (one address of several, two options
    that contradict, a timeout's sign), refused before anything listens."""
    if len(args.interface) > 1:
        return "share listens on one --interface address (or on all without it)"
    if args.no_upload and args.accept_uploads:
        return "--accept-uploads and --no-upload contradict each other"
    if args.timeout <= 0:
        return "--timeout must be a positive number of seconds"
    return None


def _receive_dir(args: argparse.Namespace) -> Path | None:
    """Where uploads go; none with --no-upload, which is what makes the page offer no
    upload form."""
    if args.no_upload:
        return None
    receive = Path(args.receive_to).expanduser().absolute() if args.receive_to else None
    return receive or default_receive_dir(config.data_dir(args.data_dir))


async def _until_stopped(share: BrowserShare, interrupted: asyncio.Event) -> None:
    """Until Ctrl-C or the share closes itself (its time is up): either way the share
    is stopped, so the address stops working at once."""
    waits = [asyncio.create_task(interrupted.wait()), asyncio.create_task(share.wait_closed())]
    try:
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        await share.stop()
    finally:
        for task in waits:
            task.cancel()


def announce(share: BrowserShare, args: argparse.Namespace, asks: bool) -> None:
    """What a person needs to hand the share over: addresses, QR code, caveats."""
    urls = share.urls()
    if args.json:
        print_json({"type": "ready", "urls": urls, "expires": share.expires_at})
        return
    names = ", ".join(f"{i.name} ({i.detail})" for i in share.items)
    print(f"Sharing {names} for {duration(args.timeout)}. Open on the other device:")
    for url in urls:
        print(f"  {url}")
    if urls:
        with contextlib.suppress(UnicodeEncodeError):
            segno.make(urls[0], error="m").terminal(out=sys.stdout, compact=True)
    print(NOT_ENCRYPTED)
    if share.receive_dir is None:
        print("The page offers no upload (--no-upload).")
    elif args.accept_uploads:
        print(f"Uploads go to {share.receive_dir}, accepted unasked (--accept-uploads).")
    elif asks:
        print(f"Uploads go to {share.receive_dir}; you are asked about each one.")
    else:
        print("Uploads are declined: there is no terminal to ask on (see --accept-uploads).")
    print("Ctrl-C stops sharing.", flush=True)


def duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.0f} min"


def usage_error(message: str) -> int:
    """One line and status 1, as every other command fails."""
    print(f"chatty share: {message}", file=sys.stderr)
    return 1
