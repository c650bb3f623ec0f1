"""Running commands: one whose output a test waits on, line by line; servers ended."""

from __future__ import annotations

import re
import subprocess
import threading
import time
from pathlib import Path
from typing import Any


def end(proc: subprocess.Popen[Any], timeout: float = 10) -> None:
    """Ask a server a test started to stop (SIGTERM), and kill it if it will not."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout)


def files_in(folder: Path) -> list[str]:
    if not folder.exists():
        return []
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*"))


class ShareProcess:
    """A running ``chatty share`` whose output a test waits on; its stdin is not a
    terminal unless the test gives one."""

    def __init__(self, command: list[str], stdin: int = subprocess.DEVNULL) -> None:
        self.proc = subprocess.Popen(
            command,
            stdin=stdin,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: list[str] = []
        self._cond = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self._cond:
                self.lines.append(line)
                self._cond.notify_all()

    def wait_for(self, pattern: str, timeout: float = 20) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for line in self.lines:
                    if found := re.search(pattern, line):
                        return found
                left = deadline - time.monotonic()
                if left <= 0 or not self._reader.is_alive():
                    raise AssertionError(f"no {pattern!r} in the output:\n{self.text}")
                self._cond.wait(min(left, 0.2))

    def url(self, host: str) -> str:
        return self.wait_for(rf"http://{re.escape(host)}:\d+/[A-Za-z0-9_-]+/").group(0)

    @property
    def text(self) -> str:
        with self._cond:
            return "".join(self.lines)

    def finish(self, timeout: float = 20) -> tuple[int, str, str]:
        """Wait for the exit; the exit code, all of stdout and all of stderr."""
        assert self.proc.stdout is not None and self.proc.stderr is not None
        code = self.proc.wait(timeout)
        self._reader.join(5)
        err = self.proc.stderr.read()
        self.proc.stdout.close()
        self.proc.stderr.close()
        return code, self.text, err

    def kill(self) -> None:
        """Clean up whatever a failed test left running."""
        if self.proc.poll() is None:
            self.proc.kill()
        if self.proc.stdout is not None and not self.proc.stdout.closed:
            self.finish(5)
