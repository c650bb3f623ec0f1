"""The checks of ``chatty``'s arguments, each an argparse ``type``.

Each raises ChattyError, which argparse does not catch (it turns only ValueError and
TypeError into a usage error), so a value of the wrong form ends the run in
:func:`chatty_p2p.cli.entry.main` with one line and status 1, before any node starts
or any packet leaves: a typo costs no network round, and no peer's pairing budget.

Every run imports this module to build its parser (``chatty --version`` too), so
what a check needs beyond the standard library's lightest is imported by the check.
"""

from __future__ import annotations

from chatty_p2p.errors import NAME_NEEDED, ChattyError

MAX_WAIT = 86400.0
"""The longest wait any option takes (a day): beyond it asyncio's timers overflow, and
no user means it."""


def wait_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0 <= value <= MAX_WAIT:  # NaN included
        raise ChattyError(f"{text!r} is not a wait: give seconds from 0 to {MAX_WAIT:.0f}")
    return value


def at_least_one(text: str) -> int:
    if not (text.isascii() and text.isdigit()) or int(text) < 1:
        raise ChattyError(f"{text!r} is not a count: give a whole number from 1 up")
    return int(text)


def port_number(text: str) -> int:
    """A port to listen on; 0 lets the system choose."""
    if not (text.isascii() and text.isdigit()) or int(text) > 65535:
        raise ChattyError(f"{text!r} is not a port: give 1-65535 (or 0 for any free port)")
    return int(text)


def device_name(text: str) -> str:
    """A name with something visible in it: the node would call the device "unnamed",
    which nobody asked for (``--name ""``, ``chatty name " "``, a bare ``/nick``)."""
    # Lazy for start-up, not for a cycle: the session protocol is needed only when
    # --name is given.
    from chatty_p2p.events import has_visible_name

    if not has_visible_name(text):
        raise ChattyError(NAME_NEEDED)
    return text


def pairing_code(text: str) -> str:
    # Lazy for start-up, not for a cycle: needed only when --code is given.
    from chatty_p2p.events import normalise_code

    if not normalise_code(text):
        raise ChattyError(
            f"{text!r} is not a pairing code: the code is six digits, as the other "
            "screen shows it (123 456)"
        )
    return text


def fingerprint_hex(text: str) -> str:
    digits = "".join(text.split()).replace(":", "")
    hexdigits = set("0123456789abcdefABCDEF")
    if not 16 <= len(digits) <= 64 or not set(digits) <= hexdigits:
        raise ChattyError(
            f"{text!r} is not a fingerprint: give 16 to 64 hex digits of what "
            "`chatty id` shows on the other device"
        )
    return text


def address_spec(text: str) -> str:
    """``host:port`` or ``[v6]:port``, as the node reads it, with a port that exists and,
    for a link-local IPv6 address, the interface it is on (without it no dial can
    work, and the node would only say it cannot connect)."""
    if not _address_form(text):
        raise ChattyError(f"{text!r} is not an address: give host:port, or [IPv6 address]:port")
    return peer_spec(text)


def _address_form(text: str) -> bool:
    host, sep, digits = text.rpartition(":")
    if not sep or not host or not digits.isascii() or not digits.isdigit():
        return False
    return (host.startswith("[") and host.endswith("]")) or ":" not in host


def peer_spec(text: str) -> str:
    """A peer as typed: a name or id prefix passes; an address is checked (see
    ``address_spec``)."""
    if not _address_form(text):
        return text
    host, _, digits = text.rpartition(":")
    if not 1 <= int(digits) <= 65535:
        raise ChattyError(f"{text!r}: the port must be 1-65535")
    host, _, scope = host.strip("[]").partition("%")
    if scope:
        # Lazy for start-up, not for a cycle: only an address with a scope needs it.
        import socket

        try:
            socket.if_nametoindex(scope)
        except OSError:
            raise ChattyError(f"{text!r}: there is no interface named {scope!r} here") from None
    elif _link_local_v6(host):
        raise ChattyError(
            f"{text!r}: a link-local address needs the interface it is on, "
            f"as [{host}%eth0]:{digits} (`ip addr` lists them)"
        )
    return text


def _link_local_v6(host: str) -> bool:
    # Lazy for start-up, not for a cycle: only an address typed as a peer needs it.
    import ipaddress

    try:
        return ipaddress.IPv6Address(host).is_link_local
    except ValueError:
        return False
