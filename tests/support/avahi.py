"""Avahi as an mDNS reflector on a lab router: what a user is told to run on theirs.

``avahi-daemon`` with ``enable-reflector=yes`` passes mDNS between the networks of
the machine it runs on. Here it runs in the router's namespace only, with a config
file of the test's, no D-Bus, and its fixed runtime folder (``/run/avahi-daemon``,
where it keeps its pid file and socket: it has no option to move them) bind-mounted
from the test's folder inside a mount namespace of its own, so nothing of the
machine's is written, and nothing is announced outside the lab.
"""

from __future__ import annotations

import shlex
import subprocess
import time
from pathlib import Path

from tests.support.netlab import Host
from tests.support.processes import end

CONFIG = """\
[server]
host-name={name}
use-ipv4=yes
use-ipv6=yes
allow-interfaces=eth0,eth1
enable-dbus=no

[wide-area]
enable-wide-area=no

[publish]
disable-publishing=yes

[reflector]
enable-reflector=yes
"""

READY = "Server startup complete"
OPTIONS = ("--no-drop-root", "--no-chroot", "--no-rlimits", "--no-proc-title", "--debug")
"""It stays root and is not chrooted: the avahi user could not write the test's folder,
and a chroot needs the machine's /etc/avahi laid out for it. ``--debug``: its log (in
the test's folder) says what it did, for failure messages."""


class Reflector:
    """``avahi-daemon`` reflecting mDNS between a router host's ``eth0`` and ``eth1``."""

    def __init__(self, router: Host) -> None:
        self.folder = router.lab.root / f"{router.name}-avahi"
        run = self.folder / "run"
        (run / "avahi-daemon").mkdir(parents=True, exist_ok=True)
        config = self.folder / "avahi-daemon.conf"
        config.write_text(CONFIG.format(name=router.name))
        self.log = self.folder / "avahi.log"
        daemon = shlex.join(["avahi-daemon", "-f", str(config), *OPTIONS])
        inside = f"mount --bind {shlex.quote(str(run))} /run && exec {daemon}"
        with self.log.open("a") as log:
            self.proc = subprocess.Popen(
                ["ip", "netns", "exec", router.ns, "unshare", "--mount", "sh", "-c", inside],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self._wait_ready()

    @property
    def pid_file(self) -> Path:
        return self.folder / "run" / "avahi-daemon" / "pid"

    def _wait_ready(self, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while READY not in self.log.read_text():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise AssertionError(f"avahi-daemon did not start:\n{self.log.read_text()}")
            time.sleep(0.1)

    def stop(self) -> None:
        end(self.proc)
