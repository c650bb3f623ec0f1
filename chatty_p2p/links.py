"""Finding and vetting links in message text.

Only schemes a browser opens harmlessly are ever made clickable: a peer must
not be able to hand the user a ``javascript:`` or ``file:`` link.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

SAFE_SCHEMES = frozenset({"http", "https", "ftp", "mailto"})
_URL = re.compile(r"\b(?:https?://|ftp://|mailto:|www\.)[^\s<>\"']+", re.IGNORECASE)
_TRAILING = ".,;:!?)]}'\""


def is_safe_url(text: str) -> bool:
    """A single URL with a safe scheme (and a host, except for mailto)."""
    if not text or any(c.isspace() for c in text):
        return False
    try:
        parts = urlsplit(text)
    except ValueError:
        return False
    scheme = parts.scheme.lower()
    if scheme not in SAFE_SCHEMES:
        return False
    return bool(parts.path) if scheme == "mailto" else bool(parts.netloc)


def find_links(text: str) -> list[tuple[int, int, str]]:
    """Spans ``(start, end, url)`` of links in ``text``; ``www.`` gets ``http://``."""
    spans = []
    for match in _URL.finditer(text):
        raw = match.group(0).rstrip(_TRAILING)
        # Keep a closing parenthesis that belongs to the URL, as in Wikipedia links.
        if (
            raw.count("(") > raw.count(")")
            and text[match.start() + len(raw) : match.start() + len(raw) + 1] == ")"
        ):
            raw += ")"
        url = raw if "://" in raw or raw.lower().startswith("mailto:") else "http://" + raw
        if is_safe_url(url):
            spans.append((match.start(), match.start() + len(raw), url))
    return spans
