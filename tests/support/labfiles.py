"""Files and transfer predicates for the network-lab transfer tests."""

from __future__ import annotations

import os
from pathlib import Path

BIG = 200 * 1000 * 1000


def big_file(path: Path, size: int = BIG) -> Path:
    block = os.urandom(1 << 20)
    with path.open("wb") as f:
        for offset in range(0, size, len(block)):
            f.write(block[: min(len(block), size - offset)])
    return path


def progress_over(n: int):  # type: ignore[no-untyped-def]
    return lambda e: e["type"] == "transfer-progress" and e["transfer"]["done_bytes"] > n


def transfer_state(state: str):  # type: ignore[no-untyped-def]
    return lambda e: e["type"] == "transfer" and e["transfer"]["state"] == state
