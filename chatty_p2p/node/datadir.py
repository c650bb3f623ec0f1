"""The data dir: its lock (one node per dir), where things in it live, and telling
the user when the store in it cannot be written."""

from __future__ import annotations

import asyncio
import logging
import os
import time
from pathlib import Path
from typing import Protocol

import platformdirs

from chatty_p2p.config import LOCK_NAME
from chatty_p2p.errors import NodeAlreadyRunning, StoreError, disk_full
from chatty_p2p.events import NodeEvent, NodeWarning
from chatty_p2p.node.settings import Settings
from chatty_p2p.portable import Held, lock

log = logging.getLogger(__package__)

LOCK_WAIT = 2.0
"""How long a starting node waits for the data dir's lock before saying it is taken."""
DATABASE = "chatty.db"


def acquire_lock(data_dir: Path) -> Held:
    """Hold ``node.lock`` until ``close`` (the node's stop) or the process ends; one node
    per data dir. The file holds the owner's pid where the system lets it
    (``portable.lock``)."""
    held = lock(data_dir / LOCK_NAME, note=str(os.getpid()))
    if held is None:
        raise NodeAlreadyRunning(f"another Chatty process is using {data_dir}")
    return held


async def acquire_lock_soon(data_dir: Path) -> Held:
    """The lock, waiting ``LOCK_WAIT`` for it: a one-shot command (``chatty id``) holds
    it for a moment, and a window started in that moment must not give up."""
    deadline = time.monotonic() + LOCK_WAIT
    while True:
        try:
            return acquire_lock(data_dir)
        except NodeAlreadyRunning:
            if time.monotonic() >= deadline:
                raise
            await asyncio.sleep(0.05)


def first_download_dir(given: Path | None, settings: Settings) -> Path:
    """The folder at start: ``--download-dir``, else the setting, else the user's
    download folder."""
    if given is not None:
        return given.expanduser().absolute()
    stored = settings.download_dir
    if stored:
        return Path(stored)
    return Path(platformdirs.user_downloads_dir()) / "Chatty"


class Emitter(Protocol):
    """Anything events can be put on (``EventBus``, ``Announcer``)."""

    def emit(self, event: NodeEvent) -> None: ...


class StoreTrouble:
    """What is wrong with writing the store, as last told to the user (once until it
    works again)."""

    def __init__(self, data_dir: Path, events: Emitter) -> None:
        self._data_dir = data_dir
        self._events = events
        self._trouble = ""

    def failed(self, exc: StoreError) -> str:
        """Tell the user, once until it works again, that the store cannot be written;
        returns why in words a peer may read (no local paths)."""
        if disk_full(exc):
            trouble = (
                f"cannot save messages: the disk holding {self._data_dir} is full; "
                "free some space there (senders keep what they sent and try again)"
            )
            reason = "its disk is full"
        else:
            trouble = f"cannot save messages: {exc}"
            reason = "it cannot write its database"
        if trouble != self._trouble:
            self._trouble = trouble
            log.warning("%s", trouble)
            self._events.emit(NodeWarning(text=trouble))
        return reason

    def works(self) -> None:
        if self._trouble:
            self._trouble = ""
            log.info("messages are saved again")
