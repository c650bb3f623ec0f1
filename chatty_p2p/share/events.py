"""What the share tells its face: ``ShareEvent``s, and the ``UploadOffer`` to answer."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from chatty_p2p.files.model import human_size


@dataclass(frozen=True)
class UploadOffer:
    """A file a browser wants to send; answer with ``BrowserShare.decide``."""

    id: str
    name: str
    """Already made safe to create here; the saved file may get a number."""
    size: int
    remote: str
    """The browser's IP address."""


@dataclass(frozen=True)
class ShareEvent:
    """What happened, for a face to show.

    ``kind`` is one of download-started, download-done, download-failed,
    upload-offered, upload-declined, upload-done, upload-failed, expired,
    stopped. ``path`` is the shared item's path for downloads and the saved
    file's for a finished upload; ``detail`` says why for declines and failures.
    ``size`` is the whole item's; a download's ``served`` is what its response
    carries (started), carried (done) or carried before it broke (failed), and
    ``partial`` says the browser asked for a byte range, part of the file.
    """

    kind: str
    name: str = ""
    size: int = 0
    remote: str = ""
    path: str = ""
    detail: str = ""
    served: int = 0
    partial: bool = False
    time: float = field(default_factory=time.time)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        return {"type": data.pop("kind"), **data}

    def summary(self) -> str:
        """One line for a person: the CLI's log and the window's list."""
        what = f"{self.name} ({human_size(self.size)})"
        served = human_size(self.served)
        match self.kind:
            case "download-started" if self.partial:
                return f"{self.remote} is downloading part of {what}: {served}"
            case "download-started":
                return f"{self.remote} is downloading {what}"
            case "download-done" if self.partial:
                return f"{self.remote} downloaded part of {what}: {served}"
            case "download-done":
                return f"{self.remote} downloaded {what}"
            case "download-failed":
                return f"{self.remote} did not get all of {what}: {self.detail}; {served} sent"
            case "upload-offered":
                return f"{self.remote} offers {what}"
            case "upload-declined":
                return f"declined {what} from {self.remote}: {self.detail}"
            case "upload-done":
                return f"received {what} from {self.remote}, saved as {self.path}"
            case "upload-failed":
                return f"upload of {what} from {self.remote} failed: {self.detail}"
            case "expired":
                return "time is up: the address takes no new requests"
            case _:
                return "stopped sharing: the address no longer works"


class Emit(Protocol):
    """Hands a ``ShareEvent`` to the face; an offer fills in its name, size and remote."""

    def __call__(self, kind: str, offer: UploadOffer | None = None, **fields: Any) -> None: ...
