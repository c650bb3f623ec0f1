"""Advertising and finding Chatty instances with mDNS/DNS-SD.

Each node registers ``chatty-<id prefix>._chatty._tcp.local.`` with TXT keys
``v`` (protocol version), ``app`` (Chatty's version), ``id`` (device id),
``name`` and ``device`` (laptop, desktop, server...: see ``chatty_p2p.device``; older
Chattys leave it out, and anything but a known word reads as "unknown"). Because
the instance name carries the device id it is unique by construction, so
registration skips RFC 6762 probing (``cooperating_responders``) and peers see it
within milliseconds instead of about a second.

mDNS only says who *might* be there: caches keep a crashed peer for up to 75
minutes. Liveness is the control session's job, not this module's.

What is announced and where mDNS listens follows ``netif.chosen()``: every LAN
and VPN interface, never container bridges unless named. When the interfaces
change (Wi-Fi to Ethernet, a DHCP renewal) ``refresh()`` moves the sockets and
announces the new addresses without a goodbye, so peers update rather than
drop us.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from zeroconf import ServiceInfo, ServiceStateChange, Zeroconf
from zeroconf.asyncio import AsyncServiceBrowser, AsyncServiceInfo, AsyncZeroconf

from chatty_p2p import __version__
from chatty_p2p.device import UNKNOWN, detect, device_type
from chatty_p2p.net import netif
from chatty_p2p.protocol.ids import DEVICE_ID
from chatty_p2p.protocol.messages import PROTOCOL_VERSION
from chatty_p2p.protocol.text import clean_name, clean_text

log = logging.getLogger(__name__)

SERVICE_TYPE = "_chatty._tcp.local."
RESOLVE_TIMEOUT_MS = 3000
MAX_RESOLVING = 16
"""Records resolved at once: thousands announced together wait their turn."""
MAX_ADVERTS = 1024
"""Peers tracked from mDNS at once (see ``AdvertTable``)."""
UNANSWERED_TTL = 60.0
"""Seconds a stranger's record may go without a session before it is dropped."""


@dataclass(frozen=True)
class Advert:
    """What a peer announces about itself (unauthenticated: a hint, cleaned)."""

    device_id: str
    name: str
    addresses: tuple[str, ...]
    port: int
    protocol: str = ""
    app: str = ""
    device: str = UNKNOWN
    """One of ``device.DEVICE_TYPES``, never the peer's own text."""


@dataclass
class _Seen:
    since: float
    known: bool
    answered: bool = False


class AdvertTable:
    """Which announced peers a node keeps in its list and dials: the rules that make
    a flood of forged records (thousands, pointing at a blackhole) harmless.

    * A record that never led to a session ages out ``UNANSWERED_TTL`` seconds
      after it was first seen, unless it is a known peer's (paired or added by
      address), whose record stays while announced: it may be asleep. While
      strangers are not dialled (only paired peers accepted) their silence proves
      nothing: ``hold`` keeps their clocks at zero, so a new device can still be
      found and paired with, and the cap alone bounds them.
    * At most ``MAX_ADVERTS`` records are kept. A newcomer, when full, takes the
      place of the oldest stranger that never answered; only if every place holds
      a peer that answered or is known is a stranger's record ignored. A known
      peer's record is always kept.

    No clock and no I/O: time comes in, the ids to drop go out.
    """

    def __init__(self, cap: int = MAX_ADVERTS, ttl: float = UNANSWERED_TTL) -> None:
        self._cap = cap
        self._ttl = ttl
        self._seen: dict[str, _Seen] = {}
        """Oldest first, so the first unanswered stranger is the one to evict."""

    def __contains__(self, device_id: object) -> bool:
        return device_id in self._seen

    def __len__(self) -> int:
        return len(self._seen)

    def add(self, device_id: str, known: bool, now: float) -> list[str] | None:
        """Keep an announced peer; returns the ids dropped to make room for it, or
        ``None`` if it is itself ignored (the table is full of peers that answered)."""
        seen = self._seen.get(device_id)
        if seen is not None:
            seen.known = known  # a re-announcement: its age stands
            return []
        dropped: list[str] = []
        if len(self._seen) >= self._cap:
            victim = next(
                (i for i, s in self._seen.items() if not s.known and not s.answered), None
            )
            if victim is not None:
                del self._seen[victim]
                dropped.append(victim)
            elif not known:
                return None
        self._seen[device_id] = _Seen(now, known)
        return dropped

    def answered(self, device_id: str) -> None:
        """A session with this peer came up: its record is real, keep it."""
        seen = self._seen.get(device_id)
        if seen is not None:
            seen.answered = True

    def remove(self, device_id: str) -> None:
        self._seen.pop(device_id, None)

    def hold(self, now: float) -> None:
        """Strangers are not being dialled: none of them has had a chance to answer."""
        for seen in self._seen.values():
            if not seen.answered:
                seen.since = now

    def expired(self, now: float) -> list[str]:
        """Strangers' records that never answered within the TTL, now dropped."""
        old = [
            i
            for i, s in self._seen.items()
            if not s.known and not s.answered and now - s.since > self._ttl
        ]
        for device_id in old:
            del self._seen[device_id]
        return old


def parse_advert(name: str, info: ServiceInfo) -> Advert | None:
    """A resolved mDNS record as an ``Advert`` (see :func:`advert_from`)."""
    return advert_from(
        name, instance_name, info.properties, info.port, info.parsed_scoped_addresses()
    )


def advert_from(
    name: str,
    naming: Callable[[str], str],
    properties: Mapping[bytes, bytes | None],
    port: int | None,
    addresses: Iterable[str],
) -> Advert | None:
    """A record as an ``Advert``, or ``None`` unless it is a well-formed Chatty record:
    a 64-hex id that names the instance (every Chatty names itself by its id:
    ``naming(id)`` must give ``name``) and a port. Free text is cleaned and cut short:
    it ends up on screens; the device type is one known word or "unknown"
    (``device.device_type`` reads the raw bytes). mDNS and wide-area DNS-SD records
    alike: both are anyone's to forge."""
    raw = {k.decode(errors="replace"): v or b"" for k, v in properties.items()}
    props = {k: v.decode(errors="replace") for k, v in raw.items()}
    device_id = props.get("id", "")
    if not DEVICE_ID.fullmatch(device_id) or name != naming(device_id) or not port:
        log.debug("ignoring malformed advert %s: %s", name, props)
        return None
    return Advert(
        device_id=device_id,
        name=clean_name(props.get("name", "")),
        addresses=tuple(addresses),
        port=port,
        protocol=clean_text(props.get("v", ""), 16),
        app=clean_text(props.get("app", ""), 32),
        device=device_type(raw.get("device", b"")),
    )


def instance_label(device_id: str) -> str:
    """The instance's own label, the same in every domain."""
    return f"chatty-{device_id[:16]}"


def instance_name(device_id: str) -> str:
    return f"{instance_label(device_id)}.{SERVICE_TYPE}"


def properties(device_id: str, name: str, device: str) -> dict[str, str]:
    """The TXT keys a Chatty announces (see the module docstring)."""
    return {
        "v": str(PROTOCOL_VERSION),
        "app": __version__,
        "id": device_id,
        "name": name,
        "device": device,
    }


def mdns_sockets(chosen: list[netif.Interface]) -> list[str]:
    """One address per family and interface: zeroconf joins the group per address.
    With nothing chosen (``--interface`` names one that is not there yet) mDNS stays
    on loopback rather than spreading to every interface."""
    picks: list[str] = []
    for interface in chosen:
        for version in (4, 6):
            first = next((a for a in interface.addresses if (":" in a) == (version == 6)), None)
            if first is not None:
                picks.append(first)
    return picks or ["127.0.0.1"]


class Discovery:
    """Registers this node and reports peers appearing, changing and leaving.

    ``on_change(device_id, advert)`` is called on the event loop; ``advert`` is
    ``None`` when the peer withdrew its record. ``device`` is what this machine says
    it is (``device.detect()`` when not given).
    """

    def __init__(
        self,
        device_id: str,
        name: str,
        port: int,
        on_change: Callable[[str, Advert | None], None],
        interfaces: list[str] | None = None,
        device: str | None = None,
    ) -> None:
        self._device_id = device_id
        self._device = device_type(device) if device is not None else detect()
        self._name = name
        self._port = port
        self._on_change = on_change
        self._interfaces = interfaces
        self._aiozc: AsyncZeroconf | None = None
        self._browser: AsyncServiceBrowser | None = None
        self._info: ServiceInfo | None = None
        self._addresses: list[str] = []
        self._by_instance: dict[str, str] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._resolving = asyncio.Semaphore(MAX_RESOLVING)

    def _service_info(self) -> ServiceInfo:
        return ServiceInfo(
            SERVICE_TYPE,
            instance_name(self._device_id),
            port=self._port,
            server=f"chatty-{self._device_id[:16]}.local.",
            properties=properties(self._device_id, self._name, self._device),
            parsed_addresses=[a.split("%")[0] for a in self._addresses],
        )

    def _sockets(self) -> list[str]:
        """Where zeroconf listens (see :func:`mdns_sockets`); remembers what to announce."""
        chosen = netif.chosen(self._interfaces)
        if not chosen:
            log.warning("no interface matches %s yet; announcing nowhere", self._interfaces)
        self._addresses = [a for i in chosen for a in i.addresses]
        return mdns_sockets(chosen)

    async def start(self) -> None:
        self._aiozc = AsyncZeroconf(interfaces=self._sockets())
        self._info = self._service_info()
        task = await self._aiozc.async_register_service(self._info, cooperating_responders=True)
        await task
        self._browse()

    def _browse(self) -> None:
        assert self._aiozc is not None
        self._browser = AsyncServiceBrowser(
            self._aiozc.zeroconf, SERVICE_TYPE, handlers=[self._on_state_change]
        )

    async def refresh(self) -> None:
        """The interfaces changed: listen where we now can, announce what we now are,
        and ask again who is there (a new network has new peers)."""
        if self._aiozc is None:
            return
        before = self._addresses
        sockets = self._sockets()
        if self._addresses == before:
            return  # a container's veth came or went: nothing of ours changed
        await self._aiozc.async_update_interfaces(sockets)
        self._info = self._service_info()
        await (await self._aiozc.async_update_service(self._info))
        if self._browser is not None:
            await self._browser.async_cancel()
        self._browse()

    async def rename(self, name: str) -> None:
        self._name = name
        if self._aiozc is None:
            return
        self._info = self._service_info()
        await (await self._aiozc.async_update_service(self._info))

    async def stop(self) -> None:
        """Withdraw the record (peers drop us at once) and close the sockets."""
        if self._aiozc is None:
            return
        aiozc, self._aiozc = self._aiozc, None
        for task in list(self._tasks):
            task.cancel()
        if self._browser is not None:
            await self._browser.async_cancel()
        if self._info is not None:
            # The goodbye is only sent if this inner task is awaited before closing.
            await (await aiozc.async_unregister_service(self._info))
        await aiozc.async_close()

    def _on_state_change(
        self, zeroconf: Zeroconf, service_type: str, name: str, state_change: ServiceStateChange
    ) -> None:
        if name == instance_name(self._device_id):
            return
        if state_change is ServiceStateChange.Removed:
            device_id = self._by_instance.pop(name, None)
            if device_id is not None:
                self._on_change(device_id, None)
            return
        task = asyncio.get_running_loop().create_task(self._resolve(name))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _resolve(self, name: str) -> None:
        info = AsyncServiceInfo(SERVICE_TYPE, name)
        async with self._resolving:
            if self._aiozc is None:
                return
            found = await info.async_request(self._aiozc.zeroconf, RESOLVE_TIMEOUT_MS)
        if not found:
            log.debug("could not resolve %s", name)
            return
        advert = parse_advert(name, info)
        if advert is None or advert.device_id == self._device_id:
            return
        # Names to ids, to tell the node who a withdrawn record was. What the node
        # keeps is ``AdvertTable``'s business; this is only kept from growing
        # without end under a flood of names (the oldest goes first).
        self._by_instance.pop(name, None)
        self._by_instance[name] = advert.device_id
        if len(self._by_instance) > 4 * MAX_ADVERTS:
            del self._by_instance[next(iter(self._by_instance))]
        self._on_change(advert.device_id, advert)
