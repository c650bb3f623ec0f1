"""The browser share, ``chatty share``: files to (and from) a phone's browser over HTTP.

Its rooms: ``facade`` (``BrowserShare``, the one object a face holds, and the
routing of requests; its docstring says why plain HTTP and which rules hold),
``server`` (listening, per-address caps, the life of the share), ``exchange``
(one HTTP exchange over h11: a request head within its deadline, a response),
``downloads`` (the shared files, byte ranges, a folder as a zip), ``uploads``
(offers, consent, bodies into the receive folder), ``page`` (the HTML page),
``events`` (what a face is told). This module only re-exports.
"""

from chatty_p2p.share.downloads import SharedItem
from chatty_p2p.share.events import ShareEvent, UploadOffer
from chatty_p2p.share.facade import NOT_ENCRYPTED, BrowserShare
from chatty_p2p.share.server import MAX_CONNECTIONS, MAX_PER_ADDRESS
from chatty_p2p.share.uploads import MAX_OFFERS

__all__ = [
    "MAX_CONNECTIONS",
    "MAX_OFFERS",
    "MAX_PER_ADDRESS",
    "NOT_ENCRYPTED",
    "BrowserShare",
    "ShareEvent",
    "SharedItem",
    "UploadOffer",
]
