"""The command line of ``chatty``: every command, its options, and where it runs.

Every run builds this parser (``chatty --version`` and ``--help`` too), so it imports
only the argument checks (:mod:`chatty_p2p.cli.args`). Each command names the function
that runs it in its module (:mod:`~chatty_p2p.cli.node`, ``chat``, ``files``,
``trust``, ``share``, ``doctor``), which is imported when that command runs: see
``later``.
"""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Awaitable, Callable
from typing import Any, Literal

from chatty_p2p import __version__
from chatty_p2p.cli.args import (
    address_spec,
    at_least_one,
    device_name,
    fingerprint_hex,
    pairing_code,
    peer_spec,
    port_number,
    wait_seconds,
)

Command = Callable[[argparse.Namespace], Awaitable[int]]
Add = Callable[[str, str], argparse.ArgumentParser]
"""``add(name, help)`` makes the subparser of a command."""

AFTER = "_after_command"
"""Suffix of the repeatable common options as given after the command (see ``_common``)."""


def _common(after: bool) -> argparse.ArgumentParser:
    """The options every command takes, before or after its name.

    argparse gives each command's copy of an option its default and writes it over
    the value given before the command (``chatty --json id`` printed text). So the
    copy after the command sets nothing it was not given (``SUPPRESS``), and the
    repeatable ones are collected under their own name and added up in ``parse``."""
    p = argparse.ArgumentParser(add_help=False)

    def default(value: Any) -> Any:
        return argparse.SUPPRESS if after else value

    suffix = AFTER if after else ""
    p.add_argument(
        "--data-dir",
        default=default(None),
        help="where identity, history and settings live "
        "(default: $CHATTY_HOME or the user data folder)",
    )
    p.add_argument(
        "--json", action="store_true", default=default(False), help="machine-readable output"
    )
    p.add_argument(
        "--interface",
        action="append",
        dest="interface" + suffix,
        default=default([]),
        metavar="NAME_OR_IP",
        help="advertise and browse only on this interface, by name or address (repeatable; "
        "default: every LAN and VPN interface)",
    )
    p.add_argument(
        "--no-discovery",
        action="store_true",
        default=default(False),
        help="do not use mDNS (peers only by address)",
    )
    p.add_argument(
        "--dns-sd-domain",
        action="append",
        dest="dns_sd_domain" + suffix,
        default=default([]),
        metavar="DOMAIN",
        help="also register in and browse this unicast DNS domain (wide-area DNS-SD: peers "
        "behind a router; repeatable)",
    )
    p.add_argument(
        "--tsig-key",
        default=default(None),
        metavar="FILE",
        help="sign the --dns-sd-domain registration with this TSIG key (a BIND key file, as "
        "tsig-keygen writes it)",
    )
    p.add_argument(
        "--no-localsend",
        action="store_true",
        default=default(False),
        help="do not speak LocalSend (its devices are not listed; port 53317 stays free)",
    )
    p.add_argument(
        "-v",
        "--verbose",
        action="count",
        dest="verbose" + suffix,
        default=default(0),
        help="log more",
    )
    return p


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line, with the repeatable options given after the command added to
    those given before it (see ``_common``)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "send":
        if args.choose is None and not args.paths:
            parser.error("send: the following arguments are required: PEER, PATH (or --choose)")
        if args.choose is not None and args.peer is not None:
            parser.error("send: --choose picks the peers in a window; give it no PEER")
    args.interface += vars(args).pop("interface" + AFTER, [])
    args.dns_sd_domain += vars(args).pop("dns_sd_domain" + AFTER, [])
    args.verbose += vars(args).pop("verbose" + AFTER, 0)
    return args


CommandModule = Literal["node", "chat", "files", "trust", "share", "doctor", "desktop"]


class LazyCommand:
    """The command ``name`` of ``chatty_p2p.cli.<module>``, imported only when it runs.

    Lazy for start-up, not for a cycle: a command's module brings asyncio, the control
    socket and what its commands use, which --version and --help do not need, nor one
    command another's. It is named by strings, so :meth:`resolve` is what a test calls
    to catch a typo before a user runs the command. A plain class: ``dataclasses``
    would add its own imports to every start."""

    __slots__ = ("module", "name")

    def __init__(self, module: CommandModule, name: str) -> None:
        self.module = module
        self.name = name

    def resolve(self) -> Command:
        command: Command = getattr(
            importlib.import_module(f"chatty_p2p.cli.{self.module}"), self.name
        )
        return command

    async def __call__(self, args: argparse.Namespace) -> int:
        return await self.resolve()(args)


def later(module: CommandModule, name: str) -> LazyCommand:
    """Short for :class:`LazyCommand`, which every command's ``func`` default is."""
    return LazyCommand(module, name)


def build_parser() -> argparse.ArgumentParser:
    """The groups are added in the order ``chatty --help`` lists their commands, so
    moving a call here reorders the help."""
    parser = argparse.ArgumentParser(
        prog="chatty",
        description="Peer-to-peer LAN chat and file sharing. With no command, opens the window.",
        parents=[_common(after=False)],
    )
    parser.add_argument("--version", action="version", version=f"chatty {__version__}")
    parser.add_argument(
        "--minimized",
        "--minimised",
        action="store_true",
        help="with no command: start the window hidden in the tray",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    after = _common(after=True)

    def add(name: str, help_text: str) -> argparse.ArgumentParser:
        return sub.add_parser(name, help=help_text, description=help_text, parents=[after])

    _node_commands(add)
    _message_commands(add)
    _device_commands(add)
    _file_commands(add)
    _doctor_command(add)
    _share_command(add)
    _trust_commands(add)
    _desktop_command(add)
    return parser


def _node_commands(add: Add) -> None:
    """``daemon`` and ``peers`` from :mod:`chatty_p2p.cli.node`: the node itself and who
    it sees."""
    p = add("daemon", "run a headless node and print its events")
    p.add_argument("--name", type=device_name, help="display name (default: the host name)")
    p.add_argument("--port", type=port_number, default=0, help="TCP port (default: any free port)")
    p.add_argument(
        "--peer",
        action="append",
        type=address_spec,
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
    p.set_defaults(func=later("node", "cmd_daemon"))

    p = add("peers", "list peers on the network")
    p.add_argument("--wait", type=wait_seconds, default=1.5, help="seconds to listen (default 1.5)")
    p.set_defaults(func=later("node", "cmd_peers"))


def _message_commands(add: Add) -> None:
    """The commands about messages with one peer. say, link and clip share one shape (a
    peer, a --wait for the receipt), so one loop makes all three alike."""
    for name, help_text in (
        ("say", "send a text message"),
        ("link", "send a link"),
        ("clip", "send the clipboard's text"),
    ):
        p = add(name, help_text)
        p.add_argument("peer", type=peer_spec, metavar="PEER", help="name, id prefix or host:port")
        if name == "say":
            p.add_argument("text", nargs="+", metavar="TEXT")
        elif name == "link":
            p.add_argument("url", metavar="URL")
        p.add_argument(
            "--wait",
            type=wait_seconds,
            default=5.0,
            help="seconds to wait for the peer and its receipt (default 5)",
        )
        p.set_defaults(func=later("node", f"cmd_{name}"))

    p = add("chat", "interactive chat with slash commands")
    p.add_argument("peer", type=peer_spec, metavar="PEER", help="name, id prefix or host:port")
    p.add_argument("--wait", type=wait_seconds, default=5.0, help="seconds to wait for the peer")
    p.set_defaults(func=later("chat", "cmd_chat"))

    p = add("history", "show the messages exchanged with a peer")
    p.add_argument("peer", metavar="PEER", help="name or id prefix")
    p.add_argument("--limit", type=at_least_one, default=50)
    p.set_defaults(func=later("node", "cmd_history"))


def _device_commands(add: Add) -> None:
    """id, name, add and forget from :mod:`chatty_p2p.cli.node`: this device and the
    peers it remembers, none of which waits for anyone."""
    add("id", "show this device's name and fingerprint").set_defaults(func=later("node", "cmd_id"))

    p = add("name", "rename this device (with no name: show it)")
    p.add_argument("name", nargs="*", metavar="NAME", help="the new name (spaces allowed)")
    p.set_defaults(func=later("node", "cmd_name"))

    p = add("add", "connect to a peer by address and remember it")
    p.add_argument("address", type=address_spec, metavar="HOST:PORT")
    p.set_defaults(func=later("node", "cmd_add"))

    p = add("forget", "forget a peer: its key, trust and address (history stays)")
    p.add_argument("peer", metavar="PEER", help="name or id prefix")
    p.set_defaults(func=later("node", "cmd_forget"))


SEND_EPILOG = """\
exit status: 0 once the receiver verified every file, and also when the peer stays
offline for --wait seconds (the offer is kept and made when it is back; the last line
says so); 1 when the transfer failed, was declined or cancelled, or was interrupted
for longer than --wait (`chatty resume ID` continues it).

chatty send --choose [PATH...] opens a small window instead (what "Send with Chatty..."
in a file manager runs): pick the devices there. The daemon or window already running
sends; with none, the window starts and does. Exit status 0 once offered, 1 if
cancelled."""


def _file_commands(add: Add) -> None:
    """The commands :mod:`chatty_p2p.cli.files` runs: send, transfers, download-dir,
    accept, decline, cancel, resume."""
    p = add("send", "send files or folders to a peer")
    p.epilog = SEND_EPILOG
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    p.add_argument(
        "peer", nargs="?", type=peer_spec, metavar="PEER", help="name, id prefix or host:port"
    )
    p.add_argument("paths", nargs="*", metavar="PATH")
    p.add_argument(
        "--choose",
        nargs="*",
        metavar="PATH",
        help="pick the peers in a window (no PEER then); with no PATH, pick files too",
    )
    p.add_argument(
        "--wait",
        type=wait_seconds,
        default=5.0,
        help="seconds to wait for the peer to be found, and to come back while it is away "
        "(default 5)",
    )
    p.add_argument("--pin", default="", help="the PIN a LocalSend device asks for")
    p.add_argument(
        "--no-follow",
        dest="follow",
        action="store_false",
        help="with a daemon running: return once offered, do not wait for the end",
    )
    p.set_defaults(func=later("files", "cmd_send"))

    add("transfers", "list running, finished and resumable transfers").set_defaults(
        func=later("files", "cmd_transfers")
    )
    p = add("download-dir", "show or set where received files go")
    p.add_argument("folder", nargs="?", metavar="FOLDER")
    p.set_defaults(func=later("files", "cmd_download_dir"))
    for action, help_text in (
        ("accept", "accept an offered transfer"),
        ("decline", "decline an offered transfer"),
        ("cancel", "stop a transfer (the peer is told)"),
        ("resume", "resume an interrupted transfer now, and follow it to its end"),
    ):
        p = add(action, help_text)
        p.add_argument("transfer", metavar="ID", help="transfer id or its first characters")
        if action in ("accept", "resume"):
            p.add_argument(
                "--wait",
                type=wait_seconds,
                default=30.0,
                help="seconds to wait while the peer is away (default 30)",
            )
        p.set_defaults(func=later("files", "cmd_transfer_action"), action=action)


def _trust_commands(add: Add) -> None:
    """The commands :mod:`chatty_p2p.cli.trust` runs: pair, unpair, block, unblock and
    the trust settings."""
    p = add("pair", "compare a code with a peer and trust it")
    p.add_argument(
        "peer", metavar="PEER", help="name or id prefix (with --fingerprint: or a whole new id)"
    )
    p.add_argument(
        "--code",
        type=pairing_code,
        metavar="DIGITS",
        help="the code shown on the other device (no prompt)",
    )
    p.add_argument(
        "--fingerprint",
        type=fingerprint_hex,
        metavar="HEX",
        help="trust the key whose fingerprint 'chatty id' shows there (16+ hex digits)",
    )
    p.add_argument("--wait", type=wait_seconds, default=5.0, help="seconds to wait for the peer")
    p.set_defaults(func=later("trust", "cmd_pair"))
    for name, help_text in (
        ("unpair", "stop trusting a peer"),
        ("block", "refuse every connection from a peer"),
        ("unblock", "let a blocked peer connect again"),
    ):
        p = add(name, help_text)
        p.add_argument("peer", metavar="PEER", help="name or id prefix")
        p.set_defaults(func=later("trust", "cmd_trust_change"))
    for name, help_text in (
        ("trusted-only", "accept connections only from paired peers (default off)"),
        ("auto-accept", "accept offers from trusted peers without asking (default off)"),
        ("auto-copy", "copy text from trusted peers to the clipboard (default off)"),
    ):
        p = add(name, help_text)
        p.add_argument("state", nargs="?", choices=["on", "off"], help="(none: show the setting)")
        p.set_defaults(func=later("trust", "cmd_setting"))
    p = add("localsend", "talk to devices running LocalSend, on port 53317 (default on)")
    p.add_argument("state", nargs="?", choices=["on", "off"], help="(none: show the setting)")
    pins = p.add_mutually_exclusive_group()
    pins.add_argument("--pin", help="ask LocalSend devices for this PIN before their files")
    pins.add_argument("--no-pin", action="store_true", help="ask them for no PIN")
    p.set_defaults(func=later("trust", "cmd_localsend"))
    p = add(
        "dns-sd",
        "be found in a unicast DNS domain, across routers (wide-area DNS-SD; default none)",
    )
    p.add_argument(
        "domain",
        nargs="?",
        help="the domain to register in and browse, kept for the next starts; 'off' for "
        "none; sign with --tsig-key FILE (none: show the setting)",
    )
    p.set_defaults(func=later("trust", "cmd_dns_sd"))


def _share_command(add: Add) -> None:
    """``chatty share``, which :mod:`chatty_p2p.cli.share` runs."""
    help_text = "share files with a browser (a phone without Chatty) at a one-time address"
    p = add("share", help_text)
    p.description = help_text + (
        ". Not encrypted: the address itself is the key, so hand it over in person (QR code). "
        "With --interface IP it listens on that address only."
    )
    p.add_argument("paths", nargs="+", metavar="PATH", help="files and folders (a folder as .zip)")
    where = p.add_mutually_exclusive_group()
    where.add_argument(
        "--receive-to",
        metavar="DIR",
        help="where uploads from the browser go (default: the download folder)",
    )
    where.add_argument("--no-upload", action="store_true", help="offer no upload form")
    p.add_argument(
        "--timeout",
        type=wait_seconds,
        default=600,
        metavar="SECONDS",
        help="the address stops working after this long (default 600)",
    )
    p.add_argument("--port", type=port_number, default=0, help="TCP port (default: any free port)")
    p.add_argument(
        "--accept-uploads",
        action="store_true",
        help="take every upload unasked (anyone with the address can then write files here)",
    )
    p.set_defaults(func=later("share", "cmd_share"))


def _desktop_command(add: Add) -> None:
    """``chatty desktop``: :mod:`chatty_p2p.cli.desktop`."""
    p = add("desktop", "add Chatty to this user's desktop: menus, file managers, autostart")
    p.add_argument(
        "action",
        choices=["install", "uninstall"],
        help="install: the launcher, its icon and Send with Chatty... in Nautilus, Nemo, "
        "Dolphin and Thunar; uninstall: remove all that Chatty wrote",
    )
    p.add_argument(
        "--autostart", action="store_true", help="also start Chatty at log-in, in the tray"
    )
    p.add_argument(
        "--service",
        action="store_true",
        help="also write a systemd user unit for `chatty daemon` (a machine with no desktop)",
    )
    p.set_defaults(func=later("desktop", "cmd_desktop"))


def _doctor_command(add: Add) -> None:
    """``chatty doctor``, which :mod:`chatty_p2p.cli.doctor` runs."""
    p = add("doctor", "why can't I see my peer? check the network and name the cause")
    p.add_argument(
        "--listen",
        type=wait_seconds,
        default=3.0,
        metavar="SECONDS",
        help="seconds to listen for other Chatty devices on mDNS (default 3)",
    )
    p.set_defaults(func=later("doctor", "cmd_doctor"))
