"""What the commands print: times, peers, messages, JSON, and a command's one result.

Shared by the command modules (:mod:`~chatty_p2p.cli.node`, ``chat``, ``files``,
``trust``, ``share``, ``doctor``), which import it; it imports none of them.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from typing import Any, TextIO

from chatty_p2p import config
from chatty_p2p.events import short_id


def clock(ts: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(ts))


def peer_label(peer: dict[str, Any]) -> str:
    return f"{peer['name']} ({short_id(peer['id'])})"


def here(args: argparse.Namespace) -> str:
    """The options a printed ``chatty …`` command needs to reach this data dir:
    ``--data-dir`` unless it is the platform's default (``CHATTY_HOME`` is left out of
    that comparison: the shell the command is pasted into may not have it)."""
    directory = config.data_dir(args.data_dir)
    if directory == config.default_data_dir():
        return ""
    return f" --data-dir {shlex.quote(str(directory))}"


def format_message(msg: dict[str, Any], peer: dict[str, Any]) -> str:
    who = "me" if msg["outgoing"] else peer["name"]
    status = f"  [{msg['status']}]" if msg["outgoing"] else ""
    return f"[{clock(msg['ts'])}] {who}: {msg['body']}{status}"


def print_json(obj: Any, out: TextIO = sys.stdout) -> None:
    out.write(json.dumps(obj, ensure_ascii=False) + "\n")
    out.flush()


def answer(args: argparse.Namespace, obj: Any, line: str) -> None:
    """A command's one result: ``obj`` as JSON with ``--json``, else ``line`` for a person."""
    if args.json:
        print_json(obj)
    else:
        print(line)
