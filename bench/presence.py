"""Presence timings in the network lab (needs root): discovery, graceful leave, unplug.

Run from the project root:  python bench/presence.py
Prints the seconds from each cause to the matching event at the other host.
"""

import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.netlab import Lab


def of_type(kind: str):  # type: ignore[no-untyped-def]
    return lambda event: event["type"] == kind


def main() -> None:
    root = Path(tempfile.mkdtemp())
    root.chmod(0o755)
    lab = Lab(root)
    try:
        a, b = lab.host("alpha"), lab.host("bravo")
        a.start()
        started = time.monotonic()
        b.start()
        seen = a.daemon.wait_for(of_type("peer-discovered"), 5)["_seen"]
        online = a.daemon.wait_for(of_type("peer-online"), 5)["_seen"]
        print(
            f"start of bravo -> listed at alpha: {seen - started:.3f} s, "
            f"online: {online - started:.3f} s"
        )
        mark, cause = a.daemon.mark(), time.monotonic()
        b.daemon.stop()
        lost = a.daemon.wait_for(of_type("peer-lost"), 5, since=mark)["_seen"]
        print(f"graceful quit -> gone at alpha: {lost - cause:.3f} s")
        b.start()
        a.daemon.wait_for(of_type("peer-online"), 5, since=mark)
        mark, cause = a.daemon.mark(), time.monotonic()
        b.link(up=False)
        offline = a.daemon.wait_for(of_type("peer-offline"), 12, since=mark)["_seen"]
        print(f"unplugged -> offline at alpha: {offline - cause:.3f} s")
    finally:
        lab.close()


if __name__ == "__main__":
    main()
