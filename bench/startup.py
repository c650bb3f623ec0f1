"""How long a one-shot ``chatty`` command takes, beside the bare interpreter.

``chatty --version`` (the parser and nothing else) and ``chatty say PEER hi``
through a running daemon (the control socket; the node is the daemon's, so the
command needs neither the transfer stack nor TLS) are timed from spawn to exit,
as a user's shell would see them. The baseline is ``python -c pass`` with the
same interpreter, timed in the same run and interleaved with the others, so a
busy machine slows all of them alike; each figure is the median of ``runs``.

Both daemons run with ``--no-discovery`` on loopback, the peer added by
``--peer 127.0.0.1:PORT``: nothing is announced on the machine's network.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

from bench.common import CHATTY, VENV_BIN, Daemon, Place, Result

GROUP = "command start-up"


def medians(commands: dict[str, list[str]], runs: int) -> dict[str, float]:
    """Seconds from spawn to exit of each command, the median of ``runs``, taken in turns."""
    times: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(runs):
        for name, command in commands.items():
            start = time.perf_counter()
            done = subprocess.run(command, capture_output=True, text=True, timeout=60)
            times[name].append(time.perf_counter() - start)
            if done.returncode != 0:
                raise RuntimeError(f"{command} failed: {done.stderr[-2000:]}")
    return {name: statistics.median(values) for name, values in times.items()}


def run(work: Path, runs: int) -> list[Result]:
    here = Place("loopback", "127.0.0.1")
    script = VENV_BIN / "chatty"  # what a user types; the module form where not installed
    chatty = [str(script)] if script.exists() else CHATTY
    desk = Daemon(here, work / "startup-desk", "--no-discovery", "--name", "desk")
    peer = f"127.0.0.1:{desk.info['port']}"
    me = Daemon(here, work / "startup-me", "--no-discovery", "--name", "me", "--peer", peer)
    try:
        me.events.wait_for(lambda e: e["type"] == "peer-online", timeout=20)
        took = medians(
            {
                "bare": [sys.executable, "-c", "pass"],
                "version": [*chatty, "--version"],
                "say": [*chatty, "say", "desk", "hi", "--data-dir", str(me.data_dir)],
            },
            runs,
        )
    finally:
        me.stop()
        desk.stop()
    bare = took["bare"] * 1000
    note = f"median of {runs}, spawn to exit"
    version = took["version"] * 1000
    say = took["say"] * 1000
    return [
        Result(
            GROUP,
            "chatty --version",
            version,
            "ms",
            baseline="python -c pass",
            baseline_value=bare,
            target="within 3x of python -c pass",
            met=version <= 3 * bare,
            note=note,
        ),
        Result(
            GROUP,
            "chatty say PEER hi, through a running daemon",
            say,
            "ms",
            baseline="python -c pass",
            baseline_value=bare,
            target="< 250 ms",
            met=say < 250,
            note=note + ", until the peer's receipt",
        ),
    ]
