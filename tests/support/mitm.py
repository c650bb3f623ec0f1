"""A man in the middle for the network lab.

``python -m tests.support.mitm PORT HOST:PORT NAME_IN NAME_OUT`` accepts one control
connection, presenting itself (with its *own* key, since
it has no other) under the name ``NAME_IN``, dials the real peer at ``HOST:PORT``
calling itself ``NAME_OUT``, and relays every frame after the HELLOs unchanged
both ways. That is the strongest thing an attacker on the path can do to a
pairing: it cannot forge either key, so each victim sees the attacker's id, and
pairing codes, which are bound to both ids, differ. Prints its id as JSON.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import socket
import sys
import tempfile
from pathlib import Path

from chatty_p2p.identity import Identity
from chatty_p2p.net import accepting, dialling
from chatty_p2p.net.tls import ServerContexts
from chatty_p2p.protocol import preamble
from chatty_p2p.protocol.messages import Hello


async def pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(OSError, ConnectionError):
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    writer.close()


async def main(port: int, target: str, name_in: str, name_out: str) -> None:
    identity = Identity.load_or_create(Path(tempfile.mkdtemp(prefix="mitm-")))
    contexts = ServerContexts(identity)
    boot = secrets.token_hex(8)
    listener = socket.create_server(("::", port), family=socket.AF_INET6, dualstack_ipv6=True)
    listener.setblocking(False)
    print(json.dumps({"type": "ready", "id": identity.device_id}), flush=True)
    loop = asyncio.get_running_loop()
    host, _, target_port = target.rpartition(":")
    while True:
        sock, _ = await loop.sock_accept(listener)
        try:
            kind, ctx = await accepting.read_preamble(sock, contexts, lambda _: "")
            if kind is not preamble.ChannelKind.CONTROL:
                sock.close()
                continue
            victim = await accepting.accept(
                sock, ctx, Hello(identity.device_id, name_in, boot, port)
            )
            real = await dialling.dial(
                host,
                int(target_port),
                identity,
                Hello(identity.device_id, name_out, boot, port),
                None,
            )
        except Exception as exc:
            print(json.dumps({"type": "error", "text": str(exc)}), flush=True)
            continue
        print(json.dumps({"type": "relaying"}), flush=True)
        await asyncio.gather(pump(victim._reader, real._writer), pump(real._reader, victim._writer))


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]))
