"""What kind of machine this is (laptop, desktop, server, phone, tablet), as peers
are told in the mDNS record's ``device`` key and show it as an icon; and reading
that key back from a peer, who may write anything there.

Standard library only, and of Chatty only ``portable`` (itself standard library only):
the events module (light on purpose) and ``net/discovery`` both use the vocabulary.

On Linux the answer comes from the firmware's chassis type (SMBIOS, read through
``/sys/class/dmi/id/chassis_type``). A machine without one (a Raspberry Pi, most
containers and some virtual machines) is taken for a server, and so is one that is
not a laptop and has no display to show a window on (a headless ``chatty daemon``).
Elsewhere, and on Linux with ``CHATTY_PORTABLE=1``, it is ``unknown``.
``CHATTY_DEVICE_TYPE`` overrides the guess with one of ``DEVICE_TYPES``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from chatty_p2p import portable

UNKNOWN = "unknown"
DEVICE_TYPES = ("laptop", "desktop", "server", "phone", "tablet", UNKNOWN)
"""Every value the ``device`` key may have; anything else reads as ``unknown``."""
MAX_DEVICE_BYTES = 16
"""A longer value is not read at all (the longest real one has 7 bytes)."""
ENV_OVERRIDE = "CHATTY_DEVICE_TYPE"
CHASSIS_FILE = Path("/sys/class/dmi/id/chassis_type")

_CHASSIS: dict[int, str] = {
    **dict.fromkeys((8, 9, 10, 14, 31, 32), "laptop"),  # portable, laptop, notebook,
    # sub notebook, convertible, detachable
    **dict.fromkeys((3, 4, 5, 6, 7, 13, 35), "desktop"),  # desktop, low profile, pizza
    # box, mini tower, tower, all in one, mini PC
    **dict.fromkeys((17, 23), "server"),  # main server chassis, rack mount
    30: "tablet",
}
"""SMBIOS chassis types (DSP0134, table 17) to the kinds of device Chatty names."""


def device_type(value: object) -> str:
    """A device type as a peer wrote it (bytes from a TXT record, or text), as one
    of ``DEVICE_TYPES``: too long, not UTF-8, not a string or not a known word all
    read as ``unknown``, so nothing a peer wrote here ever reaches a screen as text."""
    if isinstance(value, bytes):
        if len(value) > MAX_DEVICE_BYTES:
            return UNKNOWN
        try:
            value = value.decode("utf-8")
        except UnicodeDecodeError:
            return UNKNOWN
    if not isinstance(value, str) or len(value) > MAX_DEVICE_BYTES:
        return UNKNOWN
    word = value.strip().lower()
    return word if word in DEVICE_TYPES else UNKNOWN


def from_chassis(text: str | None) -> str:
    """The device type a chassis type number stands for (``unknown`` for the rest:
    "other", "unknown", a docking station...)."""
    try:
        number = int((text or "").strip())
    except ValueError:
        return UNKNOWN
    return _CHASSIS.get(number, UNKNOWN)


def _read_chassis(path: Path) -> str | None:
    try:
        return path.read_text(encoding="ascii", errors="replace")[:16]
    except OSError:
        return None


def has_display(env: Mapping[str, str], platform: str) -> bool:
    """Whether a window could be shown here: always on Windows and macOS; on Linux
    and the BSDs only with an X11 or Wayland display to talk to."""
    if platform.startswith(("win", "darwin")):
        return True
    return bool(env.get("DISPLAY") or env.get("WAYLAND_DISPLAY"))


def detect(
    env: Mapping[str, str] | None = None,
    platform: str | None = None,
    chassis: Path = CHASSIS_FILE,
) -> str:
    """This machine's device type (see the module for the rules)."""
    env = os.environ if env is None else env
    platform = portable.system() if platform is None else platform
    chosen = device_type(env.get(ENV_OVERRIDE, ""))
    if chosen != UNKNOWN:
        return chosen
    if platform == "android" or "ANDROID_ROOT" in env:
        return "phone"
    if platform == "ios":
        return "phone"
    if platform.startswith("linux"):
        raw = _read_chassis(chassis)
        kind = from_chassis(raw)
        if kind in ("laptop", "tablet", "server"):
            return kind
        if raw is None or not has_display(env, platform):
            return "server"
        return kind
    return UNKNOWN
