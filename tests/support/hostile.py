"""A hostile peer for tests: raw sockets, Chatty's preamble and TLS under a key of
its own, and then whatever bytes a test wants to throw at a node.

It speaks the protocol only as far as an attack needs: a real TLS handshake (so
the node cannot tell it from a peer before it misbehaves), a HELLO when asked
for one, and the sender's side of a bulk connection with frames a test crafts.
Blocking sockets throughout; tests run it in threads next to their event loop.
"""

from __future__ import annotations

import json
import selectors
import socket
import ssl
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from blake3 import blake3

from chatty_p2p.identity import Identity
from chatty_p2p.net import tls
from chatty_p2p.net.bulk import recv_exactly
from chatty_p2p.protocol import preamble
from chatty_p2p.protocol.bulk.wire import BulkType
from chatty_p2p.protocol.frames import Frame, FrameDecoder, FrameType, encode, encode_json
from chatty_p2p.protocol.messages import Event, Hello, PeerReportedError
from chatty_p2p.protocol.session import Session

TARGET = "127.0.0.1"


def closed_by_peer(sock: socket.socket, timeout: float) -> bool:
    """Read and drop until the node closes the connection (True) or ``timeout`` passes."""
    sock.settimeout(timeout)
    try:
        while sock.recv(65536):
            pass
    except TimeoutError:
        return False
    except (ConnectionError, ssl.SSLError, OSError):
        return True
    return True


def all_closed_by_peer(socks: list[socket.socket], timeout: float) -> int:
    """Wait (one thread, one deadline) until the node has closed each socket; returns
    how many are still open when ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    with selectors.DefaultSelector() as selector:
        for sock in socks:
            sock.setblocking(False)
            selector.register(sock, selectors.EVENT_READ)
        left = len(socks)
        while left and (remaining := deadline - time.monotonic()) > 0:
            for key, _ in selector.select(remaining):
                sock = key.fileobj
                assert isinstance(sock, socket.socket)
                try:
                    if sock.recv(65536):
                        continue
                except BlockingIOError:
                    continue
                except OSError:
                    pass
                selector.unregister(sock)
                left -= 1
    return left


class RawPeer:
    def __init__(self, directory: Path, source: str, name: str = "mallory") -> None:
        """``source`` is the loopback address it connects from (127.0.0.2, …), so its
        floods count against an address of its own, not the friendly peers' 127.0.0.1."""
        self.identity = Identity.load_or_create(directory)
        self.source = source
        self.name = name

    @property
    def id(self) -> str:
        return self.identity.device_id

    def tcp(self, port: int) -> socket.socket:
        return socket.create_connection((TARGET, port), timeout=10, source_address=(self.source, 0))

    def preamble(self, port: int, kind: preamble.ChannelKind) -> tuple[socket.socket, int]:
        sock = self.tcp(port)
        sock.sendall(preamble.encode_request(kind, self.identity.cert_der))
        return sock, preamble.parse_reply(recv_exactly(sock, preamble.REPLY.size))

    def tls(self, port: int) -> ssl.SSLSocket:
        """TLS up, nothing sent inside it yet."""
        sock, status = self.preamble(port, preamble.ChannelKind.CONTROL)
        assert status == preamble.Status.OK, status
        return tls.client_context(self.identity).wrap_socket(sock, server_hostname="chatty")

    def session(
        self, port: int, listen_port: int = 0, boot: str = "0" * 16, behind: bytes = b""
    ) -> RawSession:
        """TLS and HELLOs done: the node thinks it has a new peer (a new run of it, if
        ``boot`` differs from the last session's). ``behind`` goes out in the same
        write as the HELLO, before the node's HELLO is read."""
        raw = RawSession(self.tls(port), Session(Hello(self.id, self.name, boot, listen_port)))
        raw.session.start()
        raw.sock.sendall(raw.session.data_to_send() + behind)
        while raw.session.peer is None:
            raw.early += raw.session.receive_data(raw.sock.recv(65536))
        return raw


class RawSession:
    def __init__(self, sock: ssl.SSLSocket, session: Session) -> None:
        self.sock = sock
        self.session = session
        self._decoder = FrameDecoder()
        self.early: list[Event] = []
        """What came with the node's HELLO (an ERROR, say, if it refused at once)."""

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    @staticmethod
    def message(n: int, body: str = "flood") -> bytes:
        return encode_json(
            FrameType.MESSAGE, {"id": f"{n:032x}", "ts": 1.0, "kind": "text", "body": body}
        )

    def offer(self, transfer_id: str, count: int, size: int, names: list[str]) -> bytes:
        return encode_json(
            FrameType.OFFER, {"id": transfer_id, "count": count, "size": size, "names": names}
        )

    def frames(self, until: Callable[[Frame], bool], timeout: float = 10) -> list[Frame]:
        """Frames from the node until one matches ``until`` or the node closes."""
        self.sock.settimeout(timeout)
        seen: list[Frame] = []
        while True:
            try:
                data = self.sock.recv(65536)
            except (ConnectionError, ssl.SSLError, OSError):
                return seen
            if not data:
                return seen
            for frame in self._decoder.feed(data):
                seen.append(frame)
                if until(frame):
                    return seen

    def error(self, timeout: float = 10) -> dict[str, Any]:
        """The ERROR frame the node sends before it hangs up (``{}`` if none)."""
        for event in self.early:
            if isinstance(event, PeerReportedError):
                return {"code": event.code, "message": event.message}
        frames = self.frames(lambda f: f.type == FrameType.ERROR, timeout)
        return frames[-1].json() if frames and frames[-1].type == FrameType.ERROR else {}


class BulkServer:
    """Serves one bulk connection the node dials after accepting an offer, with a
    manifest and file bytes the test chooses, hostile ones included."""

    def __init__(self, peer: RawPeer, entries: list[list[Any]], payload: bytes) -> None:
        self.peer = peer
        self.entries = entries
        self.payload = payload
        self.listener = socket.create_server((peer.source, 0))
        self.port = self.listener.getsockname()[1]
        self.received: list[Frame] = []
        self.error: Exception | None = None
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        try:
            self.listener.settimeout(30)
            sock, _ = self.listener.accept()
            head = recv_exactly(sock, preamble.REQUEST_HEAD.size)
            _, cert_len = preamble.parse_request_head(head)
            cert = recv_exactly(sock, cert_len)
            sock.sendall(preamble.encode_reply(preamble.Status.OK))
            ctx = tls.ServerContexts(self.peer.identity).trusting(cert)
            conn = ctx.wrap_socket(sock, server_side=True)
            conn.settimeout(30)
            decoder = FrameDecoder()

            def until(kind: BulkType) -> None:
                while True:
                    data = conn.recv(65536)
                    if not data:
                        raise ConnectionError("the node closed the bulk connection")
                    for frame in decoder.feed(data):
                        self.received.append(frame)
                        if frame.type in (kind, BulkType.ERROR):
                            return

            until(BulkType.OPEN)
            # ASCII-escaped, so a test may put what UTF-8 cannot carry (a lone
            # surrogate) into a path, as a hostile sender can.
            entries = json.dumps({"entries": self.entries}).encode()
            conn.sendall(encode(BulkType.ENTRIES, entries) + encode_json(BulkType.ENTRIES_END, {}))
            until(BulkType.WANT_END)
            digest = blake3(self.payload).hexdigest()
            conn.sendall(
                encode_json(BulkType.FILE, {"index": 0, "offset": 0})
                + encode(BulkType.DATA, self.payload)
                + encode_json(BulkType.FILE_END, {"hash": digest})
                + encode_json(BulkType.END, {})
            )
            until(BulkType.RESULT)
            conn.close()
        except Exception as exc:  # the test reads what went wrong
            self.error = exc

    def bodies(self, kind: BulkType) -> list[dict[str, Any]]:
        return [json.loads(f.payload) for f in self.received if f.type == kind]

    def join(self, timeout: float = 30) -> None:
        self._thread.join(timeout)
        self.listener.close()
