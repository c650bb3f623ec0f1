"""A clone for the network lab: ``python -m tests.support.impostor ID NAME PORT VICTIM_HOST:PORT``.

It has the name and the device id of a trusted peer, but not its key (nobody
does). It advertises that id and name over mDNS on PORT, where it accepts TLS
with its own key, and it dials the victim twice: once claiming the stolen id in
its HELLO, once under its own id with the stolen name. Each outcome is printed
as a JSON line; every attempt should be refused.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import socket
import sys
import tempfile
from pathlib import Path

from chatty_p2p.errors import ChattyError
from chatty_p2p.identity import Identity
from chatty_p2p.net import accepting, dialling
from chatty_p2p.net.discovery import Discovery
from chatty_p2p.net.tls import ServerContexts
from chatty_p2p.protocol.messages import Hello


def say(**fields: object) -> None:
    print(json.dumps(fields), flush=True)


async def answer(listener: socket.socket, identity: Identity, hello: Hello) -> None:
    """Accept whoever dials the advertised address, and say what became of it."""
    contexts = ServerContexts(identity)
    loop = asyncio.get_running_loop()
    while True:
        sock, address = await loop.sock_accept(listener)
        try:
            _, ctx = await accepting.read_preamble(sock, contexts, lambda _: "")
            await accepting.accept(sock, ctx, hello)
            say(type="accepted", address=address[0])
        except Exception as exc:
            say(type="dialled-us", address=address[0], error=str(exc))


async def main(stolen_id: str, stolen_name: str, port: int, victim: str) -> None:
    identity = Identity.load_or_create(Path(tempfile.mkdtemp(prefix="impostor-")))
    boot = secrets.token_hex(8)
    listener = socket.create_server(("::", port), family=socket.AF_INET6, dualstack_ipv6=True)
    listener.setblocking(False)
    claimed = Hello(stolen_id, stolen_name, boot, port)
    server = asyncio.create_task(answer(listener, identity, claimed))
    discovery = Discovery(stolen_id, stolen_name, port, lambda *_: None)
    await discovery.start()
    say(type="ready", id=identity.device_id)
    host, _, victim_port = victim.rpartition(":")
    for label, hello in (
        ("stolen-id", claimed),
        ("own-id", Hello(identity.device_id, stolen_name, boot, port)),
    ):
        try:
            conn = await dialling.dial(host, int(victim_port), identity, hello, None)
            # The victim answers HELLO with HELLO, then judges ours: read what follows.
            ended = await asyncio.wait_for(conn.run(lambda *_: None), 10)
            say(type="dial", claim=label, ended=ended)
        except TimeoutError:
            say(type="dial", claim=label, ended="ACCEPTED: still connected after 10 s")
        except ChattyError as exc:
            say(type="dial", claim=label, ended=f"refused: {exc}")
    await asyncio.sleep(3600)  # keep advertising until the test kills us
    server.cancel()
    await discovery.stop()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]))
