"""An independent LocalSend implementation for the lab tests: ``localsendd`` (PyPI,
MIT, by another author), a headless daemon with a control socket (``localsendctl``).
Started in a lab host with a home of its own, so its certificate and state stay in
the test's folder."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from tests.support.netlab import Host
from tests.support.processes import end

BIN = Path(sys.executable).parent


def multicast_route(host: Host) -> None:
    """A route for multicast, as a real network's default route gives: localsendd
    joins LocalSend's group on "any interface", which needs one (Chatty joins on each
    interface's address, and zeroconf too, so the lab never needed it)."""
    subprocess.run(
        ["ip", "-n", host.ns, "route", "replace", "224.0.0.0/4", "dev", "eth0"],
        check=True,
        capture_output=True,
    )


class LocalSendd:
    """``localsendd`` running in ``host``; ``ctl`` runs ``localsendctl`` against it."""

    def __init__(self, host: Host, root: Path, alias: str, *extra: str) -> None:
        self.host = host
        multicast_route(host)
        self.home = root / f"localsendd-{alias}"
        self.downloads = self.home / "downloads"
        self.socket = self.home / "ctl.sock"
        (self.home / "run").mkdir(parents=True)
        self.env = {
            **os.environ,
            "HOME": str(self.home),
            "XDG_RUNTIME_DIR": str(self.home / "run"),
            "XDG_STATE_HOME": str(self.home / "state"),
            "XDG_CONFIG_HOME": str(self.home / "config"),
        }
        self.log = (self.home / "localsendd.log").open("w")
        command = [
            str(BIN / "localsendd"),
            "--socket",
            str(self.socket),
            "--alias",
            alias,
            "--download-dir",
            str(self.downloads),
            "--log-level",
            "debug",
            *extra,
        ]
        self.proc = subprocess.Popen(
            ["ip", "netns", "exec", host.ns, *command],
            env=self.env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 15
        while not self.socket.exists():
            assert self.proc.poll() is None, self.text()
            assert time.monotonic() < deadline, f"localsendd did not start: {self.text()}"
            time.sleep(0.05)

    def _ctl(self, *args: str) -> list[str]:
        socket = ["--socket", str(self.socket)]
        return ["ip", "netns", "exec", self.host.ns, str(BIN / "localsendctl"), *socket, *args]

    def ctl(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self._ctl(*args), env=self.env, capture_output=True, text=True, timeout=timeout
        )

    def spawn(self, *args: str) -> subprocess.Popen[str]:
        """``localsendctl ARGS`` left running (a send that waits for the receiver)."""
        return subprocess.Popen(
            self._ctl(*args),
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )

    def devices(self) -> list[dict[str, object]]:
        done = self.ctl("devices", "--json")
        assert done.returncode == 0, done.stderr
        found = json.loads(done.stdout)
        return list(found if isinstance(found, list) else found.get("devices", []))

    def text(self) -> str:
        self.log.flush()
        return (self.home / "localsendd.log").read_text()[-4000:]

    def stop(self) -> None:
        end(self.proc)
        self.log.close()


def available() -> bool:
    return shutil.which("localsendd", path=str(BIN)) is not None
