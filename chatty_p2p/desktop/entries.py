"""The text of each file ``chatty desktop install`` writes, built from the command line
that starts Chatty: pure functions, so each format's rules are tested on strings.

Every file a desktop reads names Chatty by an absolute command (``~/.local/bin`` is
not on every session's PATH), and each format quotes it its own way: the Desktop Entry
specification's ``Exec`` (double quotes, four characters escaped, ``%`` doubled), the
shell for Nautilus's script, XML text for Thunar, systemd's own quoting for the unit.
Nemo's and Dolphin's actions are Desktop-Entry-like files and use its rules.
"""

from __future__ import annotations

import shlex
import xml.etree.ElementTree as ET
from collections.abc import Sequence

MARK = "X-Chatty-Installed=true"
"""The line every key-file Chatty writes carries: uninstall removes only files with it."""
SEND_NAME = "Send with Chatty…"
SEND_COMMENT = "Send the selected files or folders to a device on your network"
THUNAR_ID = "chatty-send-with-chatty"
"""Thunar's ``unique-id`` of Chatty's action in the user's ``uca.xml``."""

_RESERVED = set(" \t\n\"'\\><~|&;$*?#()`")
"""Characters that make the Desktop Entry specification require quoting an argument."""


def exec_quote(argument: str) -> str:
    """One argument of an ``Exec`` key: quoted when it holds a reserved character, with
    ``"``, `````, ``$`` and ``\\`` escaped inside; ``%`` doubled (a field code otherwise)."""
    text = argument.replace("%", "%%")
    if not text or _RESERVED & set(text):
        for char in ("\\", '"', "`", "$"):
            text = text.replace(char, "\\" + char)
        text = f'"{text}"'
    return text


def exec_line(command: Sequence[str], *args: str) -> str:
    """``command`` and ``args`` as an ``Exec`` value; ``args`` may hold field codes
    (``%F``), which are left as they are."""
    return " ".join([*(exec_quote(a) for a in command), *args])


def _key_file(group: str, keys: dict[str, str], *more: tuple[str, dict[str, str]]) -> str:
    lines = [f"[{group}]", *(f"{k}={v}" for k, v in keys.items()), MARK]
    for name, extra in more:
        lines += ["", f"[{name}]", *(f"{k}={v}" for k, v in extra.items())]
    return "\n".join(lines) + "\n"


def launcher(command: Sequence[str]) -> str:
    """The application's launcher (menus, docks, search), with a "Send files…" action."""
    return _key_file(
        "Desktop Entry",
        {
            "Type": "Application",
            "Name": "Chatty",
            "GenericName": "LAN Sharing",
            "Comment": "Send messages, links, files and folders to devices on your network",
            "Exec": exec_line(command),
            "Icon": "chatty",
            "Terminal": "false",
            "Categories": "Network;FileTransfer;InstantMessaging;",
            "Keywords": "share;send;files;lan;p2p;chat;",
            "StartupNotify": "true",
            "Actions": "send;",
        },
        (
            "Desktop Action send",
            {"Name": "Send Files…", "Exec": exec_line(command, "send", "--choose")},
        ),
    )


def autostart(command: Sequence[str]) -> str:
    """The XDG autostart entry: Chatty at log-in, in the tray (minimised without one)."""
    return _key_file(
        "Desktop Entry",
        {
            "Type": "Application",
            "Name": "Chatty",
            "Comment": "Receive messages and files from devices on your network",
            "Exec": exec_line(command, "--minimized"),
            "Icon": "chatty",
            "Terminal": "false",
            "X-GNOME-Autostart-enabled": "true",
        },
    )


def nemo_action(command: Sequence[str]) -> str:
    """Nemo's context-menu action (Cinnamon, Linux Mint): any selection, folders too."""
    return _key_file(
        "Nemo Action",
        {
            "Name": SEND_NAME,
            "Comment": SEND_COMMENT,
            "Exec": exec_line(command, "send", "--choose", "%F"),
            "Icon-Name": "chatty",
            "Selection": "NotNone",
            "Extensions": "any;",
            "Quote": "double",
        },
    )


def dolphin_menu(command: Sequence[str]) -> str:
    """Dolphin's service menu (KDE): every file and folder. ``X-KDE-ServiceTypes`` is
    for Plasma 5, which also reads the ``kio/servicemenus`` folder since 5.85."""
    return _key_file(
        "Desktop Entry",
        {
            "Type": "Service",
            "MimeType": "application/octet-stream;inode/directory;",
            "X-KDE-ServiceTypes": "KonqPopupMenu/Plugin",
            "Actions": "sendWithChatty;",
        },
        (
            "Desktop Action sendWithChatty",
            {
                "Name": SEND_NAME,
                "Icon": "chatty",
                "Exec": exec_line(command, "send", "--choose", "%F"),
            },
        ),
    )


def nautilus_script(command: Sequence[str]) -> str:
    """Nautilus's script (GNOME Files: right click, Scripts): Nautilus runs it in the
    folder shown with the selected files' names as arguments."""
    return (
        "#!/bin/sh\n"
        f"# {MARK}: written by `chatty desktop install`, removed by `chatty desktop uninstall`.\n"
        "# Absolute paths: a name that starts with '-' is then never read as an option.\n"
        'for name do set -- "$@" "$(realpath -- "$name")"; shift; done\n'
        f'exec {shlex.join(command)} send --choose "$@"\n'
    )


def systemd_unit(command: Sequence[str]) -> str:
    """A systemd user unit running the node headless (``systemctl --user enable --now
    chatty``): for a machine with no desktop session, or one that should receive
    before anyone logs in (with lingering on)."""
    exec_start = " ".join(_systemd_quote(a) for a in (*command, "daemon"))
    return (
        "[Unit]\n"
        "Description=Chatty: peer-to-peer LAN sharing (headless)\n"
        "Wants=network-online.target\n"
        "After=network-online.target\n"
        "\n"
        "[Service]\n"
        f"ExecStart={exec_start}\n"
        "Restart=on-failure\n"
        "RestartSec=5\n"
        f"{MARK}\n"
        "\n"
        "[Install]\n"
        "WantedBy=default.target\n"
    )


def _systemd_quote(argument: str) -> str:
    """systemd's command-line quoting: double quotes, ``\\`` and ``"`` escaped, ``%``
    doubled (a specifier otherwise), ``$`` doubled (a variable otherwise)."""
    text = argument.replace("\\", "\\\\").replace('"', '\\"').replace("%", "%%")
    text = text.replace("$", "$$")
    return f'"{text}"' if set(text) & set(" \t'\"") or not text else text


def thunar_with_action(existing: str | None, command: Sequence[str]) -> str:
    """The user's ``uca.xml`` with Chatty's action put in (replacing an older one of
    ours, keeping every other action as it was). ``existing`` is the file's text, or
    None when there is none. Raises ``ET.ParseError`` on a file that is not XML: it is
    the user's, and is never overwritten blindly."""
    root = ET.fromstring(existing) if existing and existing.strip() else ET.Element("actions")
    _drop_ours(root)
    action = ET.SubElement(root, "action")
    fields = {
        "icon": "chatty",
        "name": SEND_NAME,
        "submenu": "",
        "unique-id": THUNAR_ID,
        "command": f"{shlex.join(command)} send --choose %F",
        "description": SEND_COMMENT,
        "range": "*",
        "patterns": "*",
    }
    for tag, text in fields.items():
        ET.SubElement(action, tag).text = text
    for kind in ("directories", "audio-files", "image-files", "other-files", "text-files"):
        ET.SubElement(action, kind)
    ET.SubElement(action, "video-files")
    ET.indent(root, space="\t")
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, "unicode") + "\n"


def thunar_without_action(existing: str) -> str | None:
    """The user's ``uca.xml`` with Chatty's action taken out; None when it had none, ""
    when nothing is left (the file was Chatty's alone)."""
    root = ET.fromstring(existing)
    if not _drop_ours(root):
        return None
    if len(root) == 0:
        return ""
    ET.indent(root, space="\t")
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, "unicode") + "\n"


def _drop_ours(root: ET.Element) -> bool:
    ours = [a for a in root.findall("action") if a.findtext("unique-id") == THUNAR_ID]
    for action in ours:
        root.remove(action)
    return bool(ours)
