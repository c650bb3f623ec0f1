"""A desktop notification service for tests: ``org.freedesktop.Notifications`` on the
session bus named by ``DBUS_SESSION_BUS_ADDRESS`` (a private one the test started).

Each ``Notify`` call is printed as a JSON line (``{"id", "summary", "body", "actions",
"hints"}``) and answered with its id; the capabilities are ``body`` and, unless
``--no-actions``, ``actions``. A line ``ID KEY`` on stdin clicks that notification's
button ``KEY`` (``ActionInvoked``), as a person would. It starts by printing
``{"ready": true}`` once it owns the name.
"""

from __future__ import annotations

import json
import select
import sys

from jeepney import DBusAddress, HeaderFields, MessageType, new_method_return, new_signal
from jeepney.bus_messages import message_bus
from jeepney.io.blocking import open_dbus_connection

NAME = "org.freedesktop.Notifications"
PATH = "/org/freedesktop/Notifications"
EMITTER = DBusAddress(PATH, interface=NAME)


def main() -> None:
    actions = "--no-actions" not in sys.argv
    conn = open_dbus_connection("SESSION")
    conn.send_and_get_reply(message_bus.RequestName(NAME), timeout=5)
    print(json.dumps({"ready": True}), flush=True)
    number = 0
    while True:
        readable, _, _ = select.select([sys.stdin], [], [], 0)
        if readable:
            line = sys.stdin.readline()
            if not line:
                return
            which, key = line.split()
            conn.send(new_signal(EMITTER, "ActionInvoked", "us", (int(which), key)))
        try:
            call = conn.receive(timeout=0.05)
        except TimeoutError:
            continue
        if call.header.message_type != MessageType.method_call:
            continue
        member = call.header.fields.get(HeaderFields.member)
        if member == "GetCapabilities":
            conn.send(new_method_return(call, "as", (["body", *(["actions"] if actions else [])],)))
        elif member == "Notify":
            number += 1
            _, _, _, summary, body, buttons, hints, _ = call.body
            shown = {"id": number, "summary": summary, "body": body, "actions": buttons}
            print(json.dumps({**shown, "hints": {k: v[1] for k, v in hints.items()}}), flush=True)
            conn.send(new_method_return(call, "u", (number,)))
        else:
            conn.send(new_method_return(call))


if __name__ == "__main__":
    main()
