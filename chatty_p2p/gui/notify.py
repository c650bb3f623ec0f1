"""Notifications through the desktop's notification service (the freedesktop
``org.freedesktop.Notifications`` D-Bus interface: GNOME, KDE, Cinnamon, XFCE, dunst):
an offer with Accept and Decline buttons where the service has actions, a message, a
finished transfer; a click on one opens the window on its peer.

Why jeepney and not QtDBus: ``Notify`` takes a ``uint32`` and a ``dict of variants``,
which PySide6 cannot spell from Python (an int goes out as ``int32`` and the service
refuses the call); jeepney writes exactly the signature given. Its connection is
blocking, so it lives on a thread of its own: the GUI thread only puts requests in
a queue and gets the service's answers back as queued signals. With no session bus
or no service, ``notify`` returns False and the window falls back to the tray's
balloon, as before.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections import deque
from dataclasses import dataclass

from jeepney import DBusAddress, HeaderFields, MatchRule, Message, message_bus, new_method_call
from jeepney.io.blocking import DBusConnection, open_dbus_connection
from PySide6.QtCore import QObject, Qt, Signal

log = logging.getLogger(__name__)

SERVICE = DBusAddress(
    "/org/freedesktop/Notifications",
    bus_name="org.freedesktop.Notifications",
    interface="org.freedesktop.Notifications",
)
SIGNALS = MatchRule(
    type="signal", interface="org.freedesktop.Notifications", path="/org/freedesktop/Notifications"
)
CALL_TIMEOUT_S = 2.0
POLL_S = 0.25
"""How often the thread looks at its queue and its stop flag between the service's signals."""
KEEP = 64
"""Notifications remembered for their buttons; the oldest are forgotten beyond it."""


@dataclass(frozen=True)
class Note:
    title: str
    text: str
    peer_id: str = ""
    offer_id: str = ""
    """A transfer offered to us: the notification gets Accept and Decline."""


class DesktopNotifier(QObject):
    """The desktop's notification service, on a thread; ``notify`` from the GUI thread."""

    opened = Signal(str)
    """A notification (not one of its buttons) was clicked: the peer id it was about."""
    answered = Signal(str, bool)
    """Accept (True) or Decline (False) on an offer's notification: its transfer id."""
    _ready = Signal(bool)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.available = False
        """Whether a service answered; until then (and without one) ``notify`` says no."""
        self.actions = False
        """Whether the service shows buttons (its capabilities say "actions")."""
        self._requests: queue.Queue[Note] = queue.Queue()
        self._stop = threading.Event()
        self._about: dict[int, Note] = {}
        self._order: deque[int] = deque()
        self._ready.connect(self._on_ready, Qt.ConnectionType.QueuedConnection)
        self._thread = threading.Thread(target=self._run, name="chatty-notify", daemon=True)
        self._thread.start()

    def notify(self, note: Note) -> bool:
        """Show ``note`` through the service; False when there is none (the caller
        shows it another way)."""
        if not self.available:
            return False
        self._requests.put(note)
        return True

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(2 * POLL_S + CALL_TIMEOUT_S)

    def _on_ready(self, actions: bool) -> None:
        self.available = True
        self.actions = actions

    # ----- the thread ----------------------------------------------------------------

    def _run(self) -> None:
        try:
            conn = open_dbus_connection("SESSION")
        except Exception as exc:  # no bus: a server, a bare X session, a test
            log.info("no D-Bus session bus for notifications: %s", exc)
            return
        try:
            with conn:
                self._serve(conn)
        except Exception as exc:  # the bus went away, or a service that misbehaves
            log.info("desktop notifications stopped: %s", exc)
            self.available = False

    def _serve(self, conn: DBusConnection) -> None:
        reply = conn.send_and_get_reply(
            new_method_call(SERVICE, "GetCapabilities"), timeout=CALL_TIMEOUT_S
        )
        if reply.header.message_type.name != "method_return":
            log.info("no notification service on the session bus")
            return
        capabilities = reply.body[0] if reply.body else []
        conn.send_and_get_reply(message_bus.AddMatch(SIGNALS), timeout=CALL_TIMEOUT_S)
        with conn.filter(SIGNALS, bufsize=KEEP) as signals:
            self._ready.emit("actions" in capabilities)
            while not self._stop.is_set():
                self._send_waiting(conn, "actions" in capabilities)
                try:
                    # It hands back the signal it waited for, taken off the queue.
                    self._on_signal(conn.recv_until_filtered(signals, timeout=POLL_S))
                except TimeoutError:
                    continue
                while signals:
                    self._on_signal(signals.popleft())

    def _send_waiting(self, conn: DBusConnection, actions: bool) -> None:
        while True:
            try:
                note = self._requests.get_nowait()
            except queue.Empty:
                return
            buttons = ["default", "Open"]
            if note.offer_id and actions:
                buttons += ["accept", "Accept", "decline", "Decline"]
            hints = {"desktop-entry": ("s", "chatty")}
            if note.offer_id:
                hints["category"] = ("s", "transfer")
            call = new_method_call(
                SERVICE,
                "Notify",
                "susssasa{sv}i",
                ("Chatty", 0, "chatty", note.title, note.text[:500], buttons, hints, -1),
            )
            reply = conn.send_and_get_reply(call, timeout=CALL_TIMEOUT_S)
            if reply.header.message_type.name == "method_return" and reply.body:
                self._remember(int(reply.body[0]), note)

    def _remember(self, number: int, note: Note) -> None:
        self._about[number] = note
        self._order.append(number)
        while len(self._order) > KEEP:
            self._about.pop(self._order.popleft(), None)

    def _on_signal(self, message: Message) -> None:
        member = message.header.fields.get(HeaderFields.member)
        if member != "ActionInvoked" or len(message.body) != 2:
            return
        number, key = message.body
        note = self._about.get(int(number))
        if note is None:
            return
        if key in ("accept", "decline") and note.offer_id:
            self.answered.emit(note.offer_id, key == "accept")
        elif key == "default":
            self.opened.emit(note.peer_id)
