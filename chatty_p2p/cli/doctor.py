"""``chatty doctor``: the checks of :mod:`chatty_p2p.doctor`, printed for a person.

It never starts a node: when a daemon or the window owns the data dir, it asks
that process (over the control socket) for its port, its name and its peers'
clocks, and otherwise checks mDNS alone. Exit status 0 means no problem was
found, 1 that at least one was, so scripts can use it too.
"""

from __future__ import annotations

import argparse
import textwrap
from typing import Any

from chatty_p2p import config, doctor
from chatty_p2p.cli.output import print_json
from chatty_p2p.control import ControlClient
from chatty_p2p.errors import ChattyError

MARKS = {"ok": "ok", "warn": "warning", "problem": "PROBLEM"}
WIDTH = 96


async def _running(args: argparse.Namespace) -> tuple[dict[str, Any] | None, list[Any], str]:
    """The running Chatty's ``id`` and peers, or why they could not be had."""
    directory = config.data_dir(args.data_dir)
    if not config.lock_is_held(directory):
        return None, [], ""
    try:
        client = await ControlClient.connect(directory, wait=3.0)
    except ChattyError as exc:
        return None, [], str(exc)
    try:
        info = await client.call("id")
        peers = (await client.call("peers"))["peers"]
    except ChattyError as exc:
        return None, [], str(exc)
    finally:
        await client.close()
    return info, list(peers), ""


def render(report: doctor.Report) -> str:
    """The findings grouped by topic, in plain words, each fix indented below."""
    lines = ["Chatty doctor: why can't I see my peer?", ""]
    pad = " " * 11
    for heading, findings in report.by_topic():
        lines.append(heading)
        for f in findings:
            lines.append(f"  {MARKS[f.level]:<8} {f.title}")
            if f.detail:
                lines += textwrap.wrap(
                    f.detail, WIDTH, initial_indent=pad, subsequent_indent=pad,
                    break_on_hyphens=False,
                )  # fmt: skip
            for i, fix in enumerate(f.fix.splitlines()):
                lines.append(f"{pad}{'fix: ' if i == 0 else '     '}{fix}")
        lines.append("")
    problems, warnings = len(report.problems), len(report.warnings)
    if problems:
        lines.append(
            f"{problems} problem{'s' if problems != 1 else ''}, "
            f"{warnings} warning{'s' if warnings != 1 else ''}: see the fixes above."
        )
    else:
        lines.append(
            "No problem found"
            + (f" ({warnings} warning{'s' if warnings != 1 else ''})." if warnings else ".")
        )
    return "\n".join(lines)


async def cmd_doctor(args: argparse.Namespace) -> int:
    info, peers, trouble = await _running(args)
    report = await doctor.diagnose(
        int(info["port"]) if info else None,
        listen_seconds=0.0 if args.no_discovery else args.listen,
        interfaces=args.interface or None,
        daemon_peers=peers,
        device=info,
    )
    if trouble:
        report.findings.insert(
            0,
            doctor.Finding(
                "warn",
                "A Chatty process owns the data dir but did not answer",
                trouble,
                "Restart Chatty (the daemon or the window).",
            ),
        )
    if args.json:
        print_json(report.to_dict())
    else:
        print(render(report), flush=True)
    return 1 if report.problems else 0
