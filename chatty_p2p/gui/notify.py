"""Notifications through the desktop's notification service (the freedesktop
``org.freedesktop.Notifications`` D-Bus interface: GNOME, KDE, Cinnamon, XFCE, dunst):
an offer with Accept and Decline buttons where the service has actions, a message, a
finished transfer; a click on one opens the window on its peer.

Why jeepney and not QtDBus: ``Notify`` takes a ``uint32`` and a ``dict of variants``,
which PySide6 cannot spell from Python (an int goes out as ``int32`` and the service
refuses the call); jeepney writes exactly the signature given. Its connection is
blocking, so it lives on a thread of its own, which touches no Qt object: requests go
to it through a queue, and what the service said comes back through another. With no session bus
or no service, ``notify`` returns False and the window falls back to the tray's
balloon, as before.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
from collections import deque
from dataclasses import dataclass

from jeepney import DBusAddress, HeaderFields, MatchRule, Message, message_bus, new_method_call
from jeepney.io.blocking import DBusConnection, open_dbus_connection
from PySide6.QtCore import QObject, QTimer, Signal

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
NEWS_MS = 100
"""How often the GUI thread takes what the service said (a click on a button)."""
KEEP = 64
"""Notifications remembered for their buttons; the oldest are forgotten beyond it."""


@dataclass(frozen=True)
class Note:
    title: str
    text: str
    peer_id: str = ""
    offer_id: str = ""
    """A transfer offered to us: the notification gets Accept and Decline."""


Said = tuple[str, str, bool]
"""What the thread tells the GUI thread: ("ready", "", actions), ("opened", peer_id,
False), ("answered", offer_id, accepted) or ("gone", "", False)."""


class DesktopNotifier(QObject):
    """The desktop's notification service, on a thread; ``notify`` from the GUI thread.

    The thread never touches a Qt object, nor holds this one: it reads its requests
    from a queue and puts what the service said in another, which a timer on the GUI
    thread empties into signals. A thread holding a QObject (its bound method as the
    thread's target, a signal it emitted) crashed the window tests on X11 about one
    run in four, in the garbage collector."""

    opened = Signal(str)
    """A notification (not one of its buttons) was clicked: the peer id it was about."""
    answered = Signal(str, bool)
    """Accept (True) or Decline (False) on an offer's notification: its transfer id."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.available = False
        """Whether a service answered; until then (and without one) ``notify`` says no."""
        self.actions = False
        """Whether the service shows buttons (its capabilities say "actions")."""
        self._worker = _Worker()
        self._thread: threading.Thread | None = None
        self._timer: QTimer | None = None
        if os.environ.get("DBUS_SESSION_BUS_ADDRESS"):  # no bus, no thread (a server, a test)
            self._timer = QTimer(self)
            self._timer.timeout.connect(self._take_news)
            self._timer.start(NEWS_MS)
            self._thread = threading.Thread(
                target=self._worker.run, name="chatty-notify", daemon=True
            )
            self._thread.start()

    def notify(self, note: Note) -> bool:
        """Show ``note`` through the service; False when there is none (the caller
        shows it another way)."""
        if not self.available:
            return False
        self._worker.requests.put(note)
        return True

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.stop()
        self._worker.stop.set()
        if self._thread is not None:
            self._thread.join(2 * POLL_S + CALL_TIMEOUT_S)

    def _take_news(self) -> None:
        while True:
            try:
                what, about, flag = self._worker.said.get_nowait()
            except queue.Empty:
                return
            if what == "ready":
                self.available, self.actions = True, flag
            elif what == "gone":
                self.available = False
            elif what == "opened":
                self.opened.emit(about)
            elif what == "answered":
                self.answered.emit(about, flag)


class _Worker:
    """The jeepney side, on its thread: plain Python, queues in and out."""

    def __init__(self) -> None:
        self.requests: queue.Queue[Note] = queue.Queue()
        self.said: queue.Queue[Said] = queue.Queue()
        self.stop = threading.Event()
        self._about: dict[int, Note] = {}
        self._order: deque[int] = deque()

    def run(self) -> None:
        try:
            conn = open_dbus_connection("SESSION")
        except Exception as exc:  # no bus there after all
            log.info("no D-Bus session bus for notifications: %s", exc)
            return
        try:
            with conn:
                self._serve(conn)
        except Exception as exc:  # the bus went away, or a service that misbehaves
            log.info("desktop notifications stopped: %s", exc)
        self.said.put(("gone", "", False))

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
            self.said.put(("ready", "", "actions" in capabilities))
            while not self.stop.is_set():
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
                note = self.requests.get_nowait()
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
            self.said.put(("answered", note.offer_id, key == "accept"))
        elif key == "default":
            self.said.put(("opened", note.peer_id, False))
