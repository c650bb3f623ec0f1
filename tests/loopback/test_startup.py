"""One-shot commands import only what they need, so they start at once.

Timings belong to the benchmark (``python -m bench --only startup``); this checks
the cause, which does not vary with the machine: which modules a command loads.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from tests.support.cli import start_daemon

HEAVY = (
    "asyncio",
    "cryptography",
    "rich",
    "chatty_p2p.node",
    "chatty_p2p.files.manager",
    "zeroconf",
    "filelock",  # the data dir's lock off Linux (chatty_p2p.portable): asked for when needed
)


def imported(*args: str) -> set[str]:
    """The modules ``chatty ARGS`` imported (``-X importtime`` lists each on stderr)."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "chatty_p2p", *args],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return set(re.findall(r"^import time:.*\|\s+(\S+)$", done.stderr, re.MULTILINE))


def loaded(modules: set[str], name: str) -> bool:
    return any(m == name or m.startswith(name + ".") for m in modules)


def test_version_imports_nothing_heavy() -> None:
    modules = imported("--version")
    assert "chatty_p2p.cli" in modules
    assert [name for name in HEAVY if loaded(modules, name)] == []


def test_help_of_every_command_imports_nothing_heavy() -> None:
    modules = imported("send", "--help")
    assert [name for name in HEAVY if loaded(modules, name)] == []


def test_say_through_a_daemon_leaves_the_node_to_the_daemon(tmp_path: Path) -> None:
    desk, port = start_daemon(tmp_path / "desk")
    mine, _ = start_daemon(tmp_path / "me")
    try:
        me = ["--data-dir", str(tmp_path / "me"), "--no-discovery"]  # never mDNS, daemon or not
        modules = imported("say", f"127.0.0.1:{port}", "hi", *me)
    finally:
        for daemon in (desk, mine):
            daemon.terminate()
            daemon.wait(10)
    assert "chatty_p2p.control" in modules
    unwanted = (
        "rich",
        "chatty_p2p.node",
        "chatty_p2p.files.manager",
        "chatty_p2p.net.bulk",
        "zeroconf",
    )
    assert [name for name in unwanted if loaded(modules, name)] == []
