"""The share's listener and connections, and its life from ``start`` to its end.

It listens (one dual-stack port when no host is given), takes connections
within caps, and runs each as requests one after another, handing every
request to the facade's handler. At most ``MAX_CONNECTIONS`` are open,
``MAX_PER_ADDRESS`` of them from one address; when all are taken, a newcomer
displaces the oldest connection still waiting for a request head, from the
address that holds the most (or from its own, if that one is at its cap), so a
flood from a few addresses cannot keep anyone else out.

The share ends at ``stop()`` or after ``timeout`` seconds: the listener
closes, idle connections are dropped (and the hooks decline what waits); on
a timeout a request already running (a download, an upload) may finish, on
``stop()`` it is cut.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
import ssl
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

import h11

from chatty_p2p.errors import ChattyError, why_failed
from chatty_p2p.net import netif
from chatty_p2p.share.exchange import HEAD_TIMEOUT, Exchange
from chatty_p2p.stopping import cancel_and_wait

log = logging.getLogger(__name__)

MAX_CONNECTIONS = 32
"""A browser opens six per host; room for a few devices, none for a flood."""
MAX_PER_ADDRESS = 8
"""Connections from one address: a browser's six and a spare or two."""

Handler = Callable[[Exchange, h11.Request], Awaitable[None]]


class Server:
    """One share's listener. ``handle`` answers each request; ``on_expired`` is
    called when time is up, ``on_ending`` as the share starts to end (nothing new
    is taken from then on), ``on_ended`` once its last connection is gone."""

    def __init__(
        self,
        host: str,
        port: int,
        timeout: float,
        *,
        handle: Handler,
        on_expired: Callable[[], None],
        on_ending: Callable[[], None],
        on_ended: Callable[[], None],
        tls: ssl.SSLContext | None = None,
    ) -> None:
        """``timeout`` 0 never expires (LocalSend's receiver runs as long as the node);
        ``tls`` serves HTTPS."""
        self.host = host
        self.port = port
        self.expires_at = 0.0
        self._timeout = timeout
        self._handle = handle
        self._on_expired = on_expired
        self._on_ending = on_ending
        self._on_ended = on_ended
        self._tls = tls
        self._server: asyncio.Server | None = None
        self._dual_stack = False
        self._expiry: asyncio.TimerHandle | None = None
        self._connections: dict[asyncio.Task[Any], Exchange] = {}
        self._closing = False
        self._closed = asyncio.Event()

    # ----- the life of the share ----------------------------------------------

    async def start(self) -> None:
        """Listen (every address when ``host`` is empty) and start the clock."""
        sock = _listen(self.host, self.port)
        self._dual_stack = sock.family == socket.AF_INET6 and not self.host
        self.port = sock.getsockname()[1]
        # TLS starts in ``_serve``, not here: a connection still in its handshake is
        # then one of ours, counted against the caps and cut by ``stop()``.
        self._server = await asyncio.start_server(self._serve, sock=sock)
        if self._timeout:
            self.expires_at = time.time() + self._timeout
            self._expiry = asyncio.get_running_loop().call_later(self._timeout, self._expire)

    def urls(self, path: str) -> list[str]:
        """``path`` at each usable LAN address (or at ``host``), IPv4 first."""
        hosts = [self.host] if self.host not in ("", "::", "0.0.0.0") else self._lan_hosts()
        return [f"http://{_bracketed(h)}:{self.port}{path}" for h in hosts]

    def _lan_hosts(self) -> list[str]:
        """Link-local addresses are left out: a browser cannot open a URL with a scope."""
        found = []
        for text in netif.advertised():
            addr = ipaddress.ip_address(text.split("%")[0])
            if addr.is_link_local or (addr.version == 6 and not self._dual_stack):
                continue
            found.append(addr)
        return [str(a) for a in sorted(found, key=lambda a: a.version)]

    async def stop(self) -> None:
        """End now, requests running included."""
        if self._server is None:
            self._closed.set()
            return
        self._shut(cut_running=True)
        await cancel_and_wait(list(self._connections))
        await self._closed.wait()

    async def wait_closed(self) -> None:
        await self._closed.wait()

    def _expire(self) -> None:
        self._on_expired()
        self._shut(cut_running=False)

    def _shut(self, cut_running: bool) -> None:
        if self._closing:
            return
        self._closing = True
        if self._server is not None:
            self._server.close()
        if self._expiry is not None:
            self._expiry.cancel()
        self._on_ending()
        for task, exchange in self._connections.items():
            if cut_running or not exchange.busy:
                task.cancel()
        self._check_closed()

    def _check_closed(self) -> None:
        if self._closing and not self._connections and not self._closed.is_set():
            self._closed.set()
            self._on_ended()

    # ----- connections --------------------------------------------------------

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        exchange = Exchange(reader, writer)
        if self._closing or task is None or not self._make_room(exchange.remote):
            writer.close()
            return
        self._connections[task] = exchange
        try:
            if self._tls is not None:
                await writer.start_tls(self._tls, ssl_handshake_timeout=HEAD_TIMEOUT)
            await self._converse(exchange)
            await exchange.linger()
        except (OSError, TimeoutError, h11.ProtocolError) as exc:
            log.debug("browser %s: %r", exchange.remote, exc)
        except asyncio.CancelledError:
            pass  # the share ended; ending quietly spares asyncio's stream callback a traceback
        finally:
            del self._connections[task]
            writer.close()
            self._check_closed()

    def _make_room(self, remote: str) -> bool:
        """Whether a connection from ``remote`` may be served, displacing another if
        all are taken (see the module docstring)."""
        open_from = Counter(e.remote for e in self._connections.values() if not e.displaced)
        full = open_from[remote] >= MAX_PER_ADDRESS
        if not full and sum(open_from.values()) < MAX_CONNECTIONS:
            return True
        waiting = [
            (task, e)
            for task, e in self._connections.items()
            if not e.busy and not e.displaced and (e.remote == remote or not full)
        ]
        if not waiting:
            return False
        # The oldest (dicts keep insertion order) of the address holding the most; an
        # address at its cap makes room among its own (a browser's idle keep-alive,
        # or a connection whose close has not been noticed yet).
        task, exchange = max(waiting, key=lambda item: open_from[item[1].remote])
        if not full and open_from[exchange.remote] <= open_from[remote]:
            return False  # the newcomer's address already has its share
        exchange.displaced = True
        task.cancel()
        log.info("browser %s: displaced by a newcomer from %s", exchange.remote, remote)
        return True

    async def _converse(self, exchange: Exchange) -> None:
        """Requests one after another on a kept-alive connection."""
        while not self._closing:
            request = await exchange.next_request()
            if request is None:
                return
            exchange.busy = True
            await self._handle(exchange, request)
            exchange.busy = False
            if not exchange.next_cycle():
                return


def _bracketed(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _listen(host: str, port: int) -> socket.socket:
    """A listening socket: dual-stack when ``host`` is empty, so one port serves
    IPv4 and IPv6."""
    try:
        if host:
            family = socket.AF_INET6 if ":" in host else socket.AF_INET
            return socket.create_server((host, port), family=family, backlog=128)
        if socket.has_dualstack_ipv6():
            return socket.create_server(
                ("::", port), family=socket.AF_INET6, dualstack_ipv6=True, backlog=128
            )
        return socket.create_server(("0.0.0.0", port), backlog=128)
    except OSError as exc:
        where = f"{host or 'any address'} port {port}"
        raise ChattyError(f"cannot listen on {where}: {why_failed(exc)}") from exc
