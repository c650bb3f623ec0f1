"""The shapes of the identifiers peers send, checked wherever one arrives.

A device id is the SHA-256 of its certificate (64 hex digits); messages and file
transfers have random 128-bit ids (32 hex digits), which also name a transfer's
folder of partial files on disk, so a peer can never smuggle a path into one.
"""

from __future__ import annotations

import re

DEVICE_ID = re.compile(r"[0-9a-f]{64}")
ITEM_ID = re.compile(r"[0-9a-f]{32}")
"""A message's or a file transfer's id."""
