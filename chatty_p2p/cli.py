"""The ``chatty`` command: a thin face over the node.

This module is what every ``chatty`` run imports first, so it holds only the
parser, the error handling and the plain-text helpers; each command imports
what it needs when it runs (the node, asyncio, rich, cryptography) from
:mod:`chatty_p2p.cli_node` and its siblings. ``chatty --version`` or
``chatty say`` through a daemon never pays for the transfer stack.

Errors a user can act on, and failures of the data dir (unwritable, full,
a damaged database), are printed as one plain line and exit 1; nothing here
prints a traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import sys
import time
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any, TextIO

from chatty_p2p import __version__, cli_doctor, cli_files, cli_share, cli_trust, config
from chatty_p2p.errors import NAME_NEEDED, ChattyError

Command = Callable[[argparse.Namespace], Awaitable[int]]

# ----- output --------------------------------------------------------------------


def clock(ts: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(ts))


def short_id(device_id: str) -> str:
    """``identity.short_id``, imported when a peer is printed: that module brings
    cryptography, which ``chatty --version`` and the parser must not wait for."""
    from chatty_p2p.identity import short_id

    return short_id(device_id)


def peer_label(peer: dict[str, Any]) -> str:
    return f"{peer['name']} ({short_id(peer['id'])})"


def here(args: argparse.Namespace) -> str:
    """The options a printed ``chatty …`` command needs to reach this data dir:
    ``--data-dir`` unless it is the platform's default (``CHATTY_HOME`` is left out of
    that comparison: the shell the command is pasted into may not have it)."""
    import shlex

    directory = config.data_dir(args.data_dir)
    if directory == config.default_data_dir():
        return ""
    return f" --data-dir {shlex.quote(str(directory))}"


def describe_event(event: dict[str, Any], options: str = "") -> str | None:
    """One line for an event; None for those a person need not see (progress ticks).
    ``options`` (see :func:`here`) go into the commands the line tells the user to run."""
    kind = event["type"]
    if "transfer" in event:
        line = cli_files.describe_transfer(event, options)
        return None if line is None else f"[{clock(event['time'])}] {line}"
    if "pairing" in event:
        return f"[{clock(event['time'])}] {cli_trust.describe_pairing(event, options)}"
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


def format_message(msg: dict[str, Any], peer: dict[str, Any]) -> str:
    who = "me" if msg["outgoing"] else peer["name"]
    status = f"  [{msg['status']}]" if msg["outgoing"] else ""
    return f"[{clock(msg['ts'])}] {who}: {msg['body']}{status}"


def as_text(typed: str) -> str:
    """What was typed, as text a message can carry: bytes that were not valid in the
    terminal's encoding (which Python keeps as lone surrogates, and which no message can
    carry) become U+FFFD, as any text viewer would show them."""
    return typed.encode("utf-8", "surrogatepass").decode("utf-8", "replace")


def print_json(obj: Any, out: TextIO = sys.stdout) -> None:
    import json

    out.write(json.dumps(obj, ensure_ascii=False) + "\n")
    out.flush()


def answer(args: argparse.Namespace, obj: Any, line: str) -> None:
    """A command's one result: ``obj`` as JSON with ``--json``, else ``line`` for a person."""
    if args.json:
        print_json(obj)
    else:
        print(line)


def read_terminal(on_line: Callable[[str], None]) -> None:
    """Hand each line typed on stdin to ``on_line`` on the running loop, then ``""``
    at its end. The reader is a daemon thread: a question nobody answers must not keep
    the process alive once the command is over (``asyncio.run`` would wait for an
    ``asyncio.to_thread`` reader until the user pressed Enter). It reads the file
    descriptor, not ``sys.stdin``, whose lock it would hold while blocked, and the
    interpreter's exit would then abort on that lock. Bytes that are not text in the
    terminal's encoding are kept as surrogates, so a typed path still names its file."""
    import asyncio
    import threading

    loop = asyncio.get_running_loop()
    encoding = getattr(sys.stdin, "encoding", None) or "utf-8"

    def hand(line: bytes) -> None:
        loop.call_soon_threadsafe(on_line, line.decode(encoding, "surrogateescape"))

    def read() -> None:
        pending = b""
        try:
            with contextlib.suppress(OSError, ValueError):  # no stdin: as if at its end
                while chunk := os.read(sys.stdin.fileno(), 65536):
                    *lines, pending = (pending + chunk).split(b"\n")
                    for line in lines:
                        hand(line + b"\n")
            if pending:
                hand(pending)
            hand(b"")
        except RuntimeError:  # the loop is closed: the command is over
            pass

    threading.Thread(target=read, name="stdin", daemon=True).start()


# ----- argument checks -------------------------------------------------------------
# Each is an argparse ``type``. It raises ChattyError, which argparse does not catch
# (it turns only ValueError and TypeError into a usage error), so a value of the wrong
# form ends the run in ``main`` with one line and status 1, before any node starts or
# any packet leaves: a typo costs no network round, and no peer's pairing budget.

MAX_WAIT = 86400.0
"""The longest wait any option takes (a day): beyond it asyncio's timers overflow, and
no user means it."""


def wait_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0 <= value <= MAX_WAIT:  # NaN included
        raise ChattyError(f"{text!r} is not a wait: give seconds from 0 to {MAX_WAIT:.0f}")
    return value


def at_least_one(text: str) -> int:
    if not (text.isascii() and text.isdigit()) or int(text) < 1:
        raise ChattyError(f"{text!r} is not a count: give a whole number from 1 up")
    return int(text)


def port_number(text: str) -> int:
    """A port to listen on; 0 lets the system choose."""
    if not (text.isascii() and text.isdigit()) or int(text) > 65535:
        raise ChattyError(f"{text!r} is not a port: give 1-65535 (or 0 for any free port)")
    return int(text)


def device_name(text: str) -> str:
    """A name with something visible in it: the node would call the device "unnamed",
    which nobody asked for (``--name ""``, ``chatty name " "``, a bare ``/nick``)."""
    from chatty_p2p.protocol.session import has_visible_name

    if not has_visible_name(text):
        raise ChattyError(NAME_NEEDED)
    return text


def pairing_code(text: str) -> str:
    from chatty_p2p.protocol.pairing import normalise_code

    if not normalise_code(text):
        raise ChattyError(
            f"{text!r} is not a pairing code: the code is six digits, as the other "
            "screen shows it (123 456)"
        )
    return text


def fingerprint_hex(text: str) -> str:
    digits = "".join(text.split()).replace(":", "")
    hexdigits = set("0123456789abcdefABCDEF")
    if not 16 <= len(digits) <= 64 or not set(digits) <= hexdigits:
        raise ChattyError(
            f"{text!r} is not a fingerprint: give 16 to 64 hex digits of what "
            "`chatty id` shows on the other device"
        )
    return text


def address_spec(text: str) -> str:
    """``host:port`` or ``[v6]:port``, as the node reads it, with a port that exists and,
    for a link-local IPv6 address, the interface it is on (without it no dial can
    work, and the node would only say it cannot connect)."""
    if not _address_form(text):
        raise ChattyError(f"{text!r} is not an address: give host:port, or [IPv6 address]:port")
    return peer_spec(text)


def _address_form(text: str) -> bool:
    host, sep, digits = text.rpartition(":")
    if not sep or not host or not digits.isascii() or not digits.isdigit():
        return False
    return (host.startswith("[") and host.endswith("]")) or ":" not in host


def peer_spec(text: str) -> str:
    """A peer as typed: a name or id prefix passes; an address is checked (see
    ``address_spec``)."""
    if not _address_form(text):
        return text
    host, _, digits = text.rpartition(":")
    if not 1 <= int(digits) <= 65535:
        raise ChattyError(f"{text!r}: the port must be 1-65535")
    host, _, scope = host.strip("[]").partition("%")
    if scope:
        import socket

        try:
            socket.if_nametoindex(scope)
        except OSError:
            raise ChattyError(f"{text!r}: there is no interface named {scope!r} here") from None
    elif _link_local_v6(host):
        raise ChattyError(
            f"{text!r}: a link-local address needs the interface it is on, "
            f"as [{host}%eth0]:{digits} (`ip addr` lists them)"
        )
    return text


def check_interfaces(names: list[str]) -> None:
    """Each ``--interface`` must name an interface here, or one of its addresses: the
    node would otherwise announce and listen nowhere, and say so only in a log line."""
    from chatty_p2p import netif

    every = netif.interfaces()
    known = {i.name for i in every} | {a.split("%")[0] for i in every for a in i.addresses}
    for name in names:
        if name.split("%")[0] not in known:
            here = ", ".join(i.name for i in every) or "none"
            raise ChattyError(f"no interface named {name}; interfaces here: {here}")


def _link_local_v6(host: str) -> bool:
    import ipaddress

    try:
        return ipaddress.IPv6Address(host).is_link_local
    except ValueError:
        return False


# ----- parser ------------------------------------------------------------------------

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
    args = build_parser().parse_args(argv)
    args.interface += vars(args).pop("interface" + AFTER, [])
    args.verbose += vars(args).pop("verbose" + AFTER, 0)
    return args


def later(name: str) -> Command:
    """The command ``name`` of :mod:`chatty_p2p.cli_node`, imported only when it runs."""

    async def run(args: argparse.Namespace) -> int:
        from chatty_p2p import cli_node

        command: Command = getattr(cli_node, name)
        return await command(args)

    return run


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="chatty",
        description="Peer-to-peer LAN chat and file sharing. With no command, opens the window.",
        parents=[_common(after=False)],
    )
    parser.add_argument("--version", action="version", version=f"chatty {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    after = _common(after=True)

    def add(name: str, help_text: str) -> argparse.ArgumentParser:
        return sub.add_parser(name, help=help_text, description=help_text, parents=[after])

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
    p.set_defaults(func=later("cmd_daemon"))

    p = add("peers", "list peers on the network")
    p.add_argument("--wait", type=wait_seconds, default=1.5, help="seconds to listen (default 1.5)")
    p.set_defaults(func=later("cmd_peers"))

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
        p.set_defaults(func=later(f"cmd_{name}"))

    p = add("chat", "interactive chat with slash commands")
    p.add_argument("peer", type=peer_spec, metavar="PEER", help="name, id prefix or host:port")
    p.add_argument("--wait", type=wait_seconds, default=5.0, help="seconds to wait for the peer")
    p.set_defaults(func=later("cmd_chat"))

    p = add("history", "show the messages exchanged with a peer")
    p.add_argument("peer", metavar="PEER", help="name or id prefix")
    p.add_argument("--limit", type=at_least_one, default=50)
    p.set_defaults(func=later("cmd_history"))

    add("id", "show this device's name and fingerprint").set_defaults(func=later("cmd_id"))

    p = add("name", "rename this device (with no name: show it)")
    p.add_argument("name", nargs="*", metavar="NAME", help="the new name (spaces allowed)")
    p.set_defaults(func=later("cmd_name"))

    p = add("add", "connect to a peer by address and remember it")
    p.add_argument("address", type=address_spec, metavar="HOST:PORT")
    p.set_defaults(func=later("cmd_add"))

    p = add("forget", "forget a peer: its key, trust and address (history stays)")
    p.add_argument("peer", metavar="PEER", help="name or id prefix")
    p.set_defaults(func=later("cmd_forget"))
    cli_files.register(add)
    cli_doctor.register(add)
    cli_share.register(add)
    cli_trust.register(add)
    return parser


# ----- running -------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    # A file name that is not UTF-8 is printed with escapes, never as a crash.
    if isinstance(sys.stdout, io.TextIOWrapper):
        sys.stdout.reconfigure(errors="backslashreplace")
    try:
        args = parse(argv)  # --help and --version print here
        check_interfaces(args.interface)
        status = _window(args) if args.command is None else _run(args)
        sys.stdout.flush()  # here, where a reader that went away is caught, not at exit
        return status
    except ChattyError as exc:  # an argument of the wrong form (see "argument checks")
        fail(str(exc))
        return 1
    except BrokenPipeError:
        # The reader went away (`chatty history PEER | head`): the standard remedy, so
        # that the interpreter's last flush at exit does not complain either.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


def configure_logging(args: argparse.Namespace) -> None:
    """The log a user sees. By default one plain line per warning, as every other error
    here (no time, no module); the daemon, whose event lines already say what happened
    (a declined offer, a full disk), shows only errors, which are bugs. ``-v`` brings the
    whole log back, timed and by module; ``-vv`` adds debugging."""
    import logging

    if args.verbose:
        level = logging.INFO if args.verbose == 1 else logging.DEBUG
        layout = "%(asctime)s %(name)s: %(message)s"
    else:
        level = logging.ERROR if args.command == "daemon" else logging.WARNING
        layout = "chatty: %(message)s"
    logging.basicConfig(level=level, format=layout, stream=sys.stderr)
    if args.verbose < 2:
        # zeroconf reports every unroutable address family (say, IPv6 without a route) with a
        # traceback on each send; that is noise for a user, and `chatty -vv` shows it.
        logging.getLogger("zeroconf").setLevel(logging.CRITICAL)


def _run(args: argparse.Namespace) -> int:
    import asyncio

    configure_logging(args)
    try:
        result: int = asyncio.run(args.func(args))
        return result
    except ChattyError as exc:
        fail(str(exc))
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        raise
    except Exception as exc:
        if (reason := storage_failure(exc, args)) is None:
            raise
        fail(reason)
    return 1


def fail(message: str) -> None:
    print(f"chatty: {message}", file=sys.stderr, flush=True)


def missing_display(env: Mapping[str, str]) -> str | None:
    """Why Qt would find no display ("DISPLAY=:99 cannot be reached", or "" when none
    is set at all); None when one answers, or when the caller chose a platform
    (``QT_QPA_PLATFORM``, as ``offscreen`` in tests)."""
    if env.get("QT_QPA_PLATFORM"):
        return None
    reasons = []
    if wayland := env.get("WAYLAND_DISPLAY", ""):
        # A relative name lives in XDG_RUNTIME_DIR; Path() keeps an absolute one as is.
        if Path(env.get("XDG_RUNTIME_DIR", "/nonexistent"), wayland).is_socket():
            return None
        reasons.append(f"WAYLAND_DISPLAY={wayland} has no socket")
    if x11 := env.get("DISPLAY", ""):
        if _x11_answers(x11):
            return None
        reasons.append(f"DISPLAY={x11} cannot be reached")
    return "; ".join(reasons)


def _x11_answers(display: str) -> bool:
    """Whether an X server listens for ``display`` (``:0``, ``:0.0``, ``host:10``,
    ``unix:1``): on its socket in ``/tmp/.X11-unix`` (or the abstract one of that
    name), or on TCP port 6000 + n of the host."""
    import socket

    host, _, rest = display.rpartition(":")
    number = rest.split(".")[0]
    if not number.isdigit():
        return False
    if host in ("", "unix"):
        path = f"/tmp/.X11-unix/X{number}"
        for where in (path, "\0" + path):
            with socket.socket(socket.AF_UNIX) as unix:
                unix.settimeout(2)
                with contextlib.suppress(OSError):
                    unix.connect(where)
                    return True
        if host == "unix":
            return False
        host = "localhost"
    try:
        socket.create_connection((host, 6000 + int(number)), timeout=2).close()
    except OSError:
        return False
    return True


def storage_failure(exc: BaseException, args: argparse.Namespace) -> str | None:
    """One line for a failure of the disk under a command (an unwritable or full data
    dir, a damaged database), naming the folder and what to do; None for anything else,
    which is a bug and keeps its traceback."""
    sqlite3 = sys.modules.get("sqlite3")
    directory = config.data_dir(args.data_dir)
    fix = "make it a folder you can write to, or choose another with --data-dir (or CHATTY_HOME)"
    if isinstance(exc, OSError):
        named = isinstance(exc.filename, str | bytes) and exc.filename
        where = Path(os.fsdecode(exc.filename)) if named else directory
        reason = exc.strerror or str(exc)
        if where == directory or directory in where.parents:
            return f"cannot use the data folder {directory} ({reason}): {fix}"
        return f"cannot use {where}: {reason}"
    if sqlite3 is not None and isinstance(exc, sqlite3.Error):
        return f"cannot use the database in {directory} ({exc}): {fix}"
    return None


def _window(args: argparse.Namespace) -> int:
    """``chatty`` with no command. Qt aborts (SIGABRT, blaming a missing libxcb-cursor0)
    when it cannot reach a display, so on Linux the display is looked for first."""
    missing = missing_display(os.environ) if sys.platform.startswith("linux") else None
    if missing is not None:
        why = f" ({missing})" if missing else ""
        fail(f"no display found{why}; run `chatty daemon` for a headless node")
        return 1
    try:
        from chatty_p2p.gui.app import run
    except ImportError as exc:  # PySide6 or the system's Qt libraries missing
        fail(f"the window cannot start ({exc}); `chatty daemon` runs without it")
        return 1
    try:
        return run(args)
    except Exception as exc:
        if (reason := storage_failure(exc, args)) is None:
            raise
        fail(reason)
        return 1


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
