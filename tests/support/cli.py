"""Running `chatty` commands and a daemon against a data dir."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


def chatty(*args: str, data_dir: Path) -> subprocess.CompletedProcess[str]:
    """Run the CLI; never with mDNS, which would reach the machine's real interfaces."""
    return subprocess.run(
        [sys.executable, "-m", "chatty_p2p", *args, "--data-dir", str(data_dir), "--no-discovery"],
        capture_output=True,
        text=True,
        timeout=60,
    )


def start_daemon(data_dir: Path, *extra: str) -> tuple[subprocess.Popen[str], int]:
    """A loopback-only daemon named "desk"; returns it and its port."""
    command = ["daemon", "--json", "--no-discovery", "--name", "desk"]
    daemon = subprocess.Popen(
        [sys.executable, "-m", "chatty_p2p", *command, "--data-dir", str(data_dir), *extra],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert daemon.stdout is not None
    return daemon, json.loads(daemon.stdout.readline())["port"]
