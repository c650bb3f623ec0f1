"""What every benchmark shares: results, test data, hashes, processes, places to run.

A ``Place`` is where a command runs: this machine (loopback) or a host of the
network lab (``ip netns exec``), with the address others reach it at. Every
benchmark runs its tools through places, so the same code measures loopback
and a real link between two namespaces.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from tests.support.netlab import Daemon as LabDaemon  # noqa: E402 (after the path is set)
from tests.support.netlab import Host, sha256  # noqa: E402

CHATTY = [sys.executable, "-m", "chatty_p2p"]
VENV_BIN = Path(sys.executable).parent
SHM = Path("/dev/shm")
SHM_SPARE = 1 << 30
"""Room left free in ``/dev/shm`` (it is RAM, shared with everything else running)."""


@dataclass
class Result:
    """One figure, beside the same-run baseline it is compared with."""

    group: str
    name: str
    value: float
    unit: str
    baseline: str = ""
    baseline_value: float | None = None
    target: str = ""
    met: bool | None = None
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    ratios: list[float] = field(default_factory=list)
    """Same-run ratios, one per round (each taken within its round); ``ratio`` is their
    median. Empty when the figure and its baseline come from one measurement."""

    @property
    def ratio(self) -> float | None:
        if self.ratios:
            return statistics.median(self.ratios)
        if not self.baseline_value:
            return None
        return self.value / self.baseline_value

    @property
    def spread(self) -> str:
        """``min-max over N rounds`` of the same-run ratios, or nothing."""
        if not self.ratios:
            return ""
        return f"{min(self.ratios):.2f}-{max(self.ratios):.2f} over {len(self.ratios)} rounds"

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["ratio"] = self.ratio
        return out

    def line(self) -> str:
        text = f"{self.group} / {self.name}: {self.value:,.3g} {self.unit}"
        if self.baseline_value is not None and self.ratio is not None:
            spread = f", {self.spread}" if self.ratios else ""
            text += (
                f" vs {self.baseline} {self.baseline_value:,.3g} {self.unit}"
                f" (x{self.ratio:.2f}{spread})"
            )
        if self.target:
            text += f"  target {self.target}: {'met' if self.met else 'NOT met'}"
        return text


@dataclass
class Place:
    """Where a command runs and how others reach it."""

    name: str
    address: str
    ns: str | None = None

    def cmd(self, *args: str) -> list[str]:
        return ["ip", "netns", "exec", self.ns, *args] if self.ns else list(args)

    def popen(self, *args: str, **kw: Any) -> subprocess.Popen[str]:
        kw.setdefault("text", True)
        return subprocess.Popen(self.cmd(*args), **kw)

    def run(self, *args: str, **kw: Any) -> subprocess.CompletedProcess[str]:
        kw.setdefault("text", True)
        kw.setdefault("capture_output", True)
        return subprocess.run(self.cmd(*args), **kw)

    @classmethod
    def of(cls, host: Host) -> Place:
        """A network-lab host as a place (its IPv4 address)."""
        assert host.ipv4 is not None
        return cls(host.name, host.ipv4, host.ns)


@contextlib.contextmanager
def fast_folder(need: int, fallback: Path) -> Iterator[Path]:
    """A fresh folder in ``/dev/shm`` (RAM) if ``need`` bytes fit there with room to
    spare, removed afterwards; else ``fallback``, with a printed note. Throughput data
    and every copy go there, so a figure is the tools' and the network path's, not
    the disk's (whose write-back would swing it by more than the tools differ)."""
    free = shutil.disk_usage(SHM).free if SHM.is_dir() else 0
    if free < need + SHM_SPARE:
        print(
            f"note: {free / 2**30:.1f} GiB free in {SHM}, {need / 2**30:.1f} GiB needed "
            f"(+1 GiB spare): data and copies go to {fallback}, on disk",
            flush=True,
        )
        yield fallback
        return
    folder = Path(tempfile.mkdtemp(prefix="chatty-bench-", dir=SHM))
    folder.chmod(0o755)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def make_file(path: Path, size: int) -> Path:
    if path.exists() and path.stat().st_size == size:
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    block = os.urandom(1 << 20)
    with path.open("wb") as f:
        left = size
        while left:
            f.write(block[: min(len(block), left)])
            left -= min(len(block), left)
    return path


def make_small_files(folder: Path, count: int, size: int) -> Path:
    if folder.exists() and len(list(folder.iterdir())) == count:
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        (folder / f"f{i:05}.bin").write_bytes(os.urandom(size))
    return folder


def tree_digest(root: Path) -> dict[str, str]:
    """Relative path -> sha256 for every file under ``root`` (or of ``root`` itself)."""
    if root.is_file():
        return {root.name: sha256(root)}
    return {
        p.relative_to(root).as_posix(): sha256(p) for p in sorted(root.rglob("*")) if p.is_file()
    }


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int, children: bool = False) -> float:
    """CPU seconds a running process has used so far, all its threads, from
    ``/proc/PID/stat`` (in clock ticks: 10 ms here). With ``children``, also those of
    the children it has waited for (and theirs): a server that forks per connection
    (sshd) is counted that way once the connection's process has ended."""
    # The name (field 2) may hold spaces; fields after its ")" start at field 3.
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])  # utime, stime
    if children:
        ticks += int(fields[13]) + int(fields[14])  # cutime, cstime
    return ticks / CLOCK_TICKS


def wait_usage(proc: subprocess.Popen[str], timeout: float = 600) -> tuple[float, int]:
    """Wait for a child; its CPU seconds and peak RSS (bytes), read from wait4.
    Through ``ip netns exec`` the child execs the command, so this is the command's.
    Linux's wait4 adds what the child's own reaped children used (``scp`` waits for
    its ``ssh``), so a command's helpers are counted with it."""
    deadline = time.monotonic() + timeout
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            proc.returncode = os.waitstatus_to_exitcode(status)
            return usage.ru_utime + usage.ru_stime, usage.ru_maxrss * 1024
        if time.monotonic() > deadline:
            proc.kill()
            raise TimeoutError(f"{proc.args!r} did not finish in {timeout} s")
        time.sleep(0.005)


class Daemon:
    """A ``chatty daemon --json`` in a place; its events are read on a thread (so a
    chatty daemon never blocks on a full pipe) and can be waited for."""

    def __init__(self, place: Place, data_dir: Path, *extra: str) -> None:
        self.place = place
        self.data_dir = data_dir
        data_dir.mkdir(parents=True, exist_ok=True)
        log = data_dir.parent / f"{data_dir.name}.log"
        proc = place.popen(
            *CHATTY,
            "daemon",
            "--json",
            "--data-dir",
            str(data_dir),
            *extra,
            stdout=subprocess.PIPE,
            stderr=log.open("a"),
        )
        self.events = LabDaemon(proc, log)
        self.proc = proc
        self.info = self.events.info

    def chatty(self, *args: str) -> subprocess.CompletedProcess[str]:
        return self.place.run(*CHATTY, *args, "--data-dir", str(self.data_dir))

    def vouch(self, data_dir: Path) -> str:
        """Trust the key in ``data_dir`` (whose node may not exist yet) ahead of time."""
        peer_id: str = json.loads(
            subprocess.run(
                [*CHATTY, "id", "--json", "--data-dir", str(data_dir)],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
        )["id"]
        done = self.chatty("pair", peer_id, "--fingerprint", peer_id)
        if done.returncode != 0:
            raise RuntimeError(done.stderr)
        return peer_id

    def cpu(self) -> float:
        """CPU seconds the daemon has used so far (every thread)."""
        return cpu_seconds(self.proc.pid)

    def stop(self) -> tuple[float, int]:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return wait_usage(self.proc, 30)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))]
