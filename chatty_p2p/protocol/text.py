"""What a peer writes for people to read (its name, a reason), made safe to show:
no control or bidi characters, a bounded length; and when two names count as one,
so that a newcomer cannot pass for a paired device by a look-alike name."""

from __future__ import annotations

import re
import unicodedata

MAX_NAME = 64
MAX_REASON = 512
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def name_key(name: str) -> str:
    """What two names must share to count as the same name: "Bob", "bob", "Bob" with a
    zero-width space and full-width "Bob" all look alike to a user, so a newcomer may
    not take any of them from a paired device."""
    folded = unicodedata.normalize("NFKC", name).casefold()
    visible = "".join(ch for ch in folded if unicodedata.category(ch) != "Cf")
    return " ".join(visible.split())


def has_visible_name(raw: str) -> bool:
    """Whether ``clean_name`` keeps anything of ``raw``; if not it says "unnamed",
    which a user renaming a device never asked for. Format characters such as a
    right-to-left mark show nothing either."""
    return any(c.isprintable() and not c.isspace() for c in _CONTROL.sub("", raw))


def clean_name(raw: str) -> str:
    """A display name safe to show: no control or bidi characters, bounded length."""
    name = _CONTROL.sub("", raw).strip()[:MAX_NAME]
    return name or "unnamed"


def clean_text(raw: str, limit: int = MAX_REASON) -> str:
    """Peer-supplied text made safe to print: no control or bidi characters."""
    return _CONTROL.sub("\ufffd", raw)[:limit]
