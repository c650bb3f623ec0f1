"""A real DNS server for the wide-area DNS-SD tests: BIND 9's ``named`` (Debian's bind9),
primary for one zone that takes dynamic updates signed with one TSIG key, and lists
itself as a browse domain (``b._dns-sd._udp`` and ``lb._dns-sd._udp``). It runs on
loopback on a port of its own, or inside a lab namespace on port 53, in a folder of the
test's: nothing of the machine's own configuration is read or written."""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
import time
from pathlib import Path

import dns.message
import dns.query
import dns.rcode

from tests.support.processes import end

KEY_NAME = "chatty-test"


def available() -> str | None:
    """Why no ``named`` can run here, or ``None``."""
    if shutil.which("named") is None and not Path("/usr/sbin/named").exists():
        return "BIND 9 (named, Debian's bind9) is not installed; run the README's test command"
    return None


def key_file(path: Path, name: str = KEY_NAME, secret: str | None = None) -> Path:
    """A BIND key file, as ``tsig-keygen`` writes it; a fresh secret unless given."""
    secret = secret or base64.b64encode(os.urandom(32)).decode()
    path.write_text(f'key "{name}" {{\n\talgorithm hmac-sha256;\n\tsecret "{secret}";\n}};\n')
    return path


class Named:
    """``named`` serving ``zone``, updates allowed with the key in ``key``."""

    def __init__(
        self,
        folder: Path,
        zone: str,
        key: Path,
        listen: list[str],
        port: int = 53,
        ns_address: str = "127.0.0.1",
        netns: str | None = None,
    ) -> None:
        self.folder = folder
        self.zone = zone
        self.port = port
        self.listen = listen
        self._netns = netns
        folder.mkdir(parents=True, exist_ok=True)
        v4 = [a for a in listen if ":" not in a]
        v6 = [a for a in listen if ":" in a]
        (folder / "named.conf").write_text(
            f"""options {{
  directory "{folder}";
  listen-on port {port} {{ {"; ".join(v4) + ";" if v4 else "none;"} }};
  listen-on-v6 port {port} {{ {"; ".join(v6) + ";" if v6 else "none;"} }};
  pid-file "{folder}/named.pid";
  session-keyfile "{folder}/session.key";
  managed-keys-directory "{folder}";
  recursion no;
  dnssec-validation no;
  notify no;
}};
controls {{ }};
include "{key}";
zone "{zone}" {{
  type primary;
  file "{folder}/{zone}.zone";
  allow-update {{ key "{KEY_NAME}"; }};
}};
"""
        )
        (folder / f"{zone}.zone").write_text(
            f"""$TTL 60
@ IN SOA ns.{zone}. admin.{zone}. 1 60 60 600 60
@ IN NS ns.{zone}.
ns IN {"AAAA" if ":" in ns_address else "A"} {ns_address}
b._dns-sd._udp IN PTR @
lb._dns-sd._udp IN PTR @
"""
        )
        self.log = folder / "named.log"
        command = ["named", "-g", "-c", str(folder / "named.conf")]
        if netns is not None:
            command = ["ip", "netns", "exec", netns, *command]
        with self.log.open("a") as log:
            self.proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        self._wait_ready()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"named ended: {self.log.read_text()[-2000:]}")
            # Its last start-up line is "running" alone ("running as: named ..." comes
            # first, before the zone is loaded: answers then are SERVFAIL).
            if any(line.endswith(" running") for line in self.log.read_text().splitlines()):
                return
            time.sleep(0.05)
        raise RuntimeError(f"named did not start: {self.log.read_text()[-2000:]}")

    def records(self, name: str, kind: str) -> list[str]:
        """What the server holds now (asked on loopback: only for a server there)."""
        query = dns.message.make_query(f"{name}.{self.zone}", kind)
        answer = dns.query.tcp(query, self.listen[0], port=self.port, timeout=3)
        assert answer.rcode() in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN)
        return [str(r) for rrset in answer.answer for r in rrset]

    def stop(self) -> None:
        end(self.proc)
