"""Where ``chatty desktop install`` puts Chatty into the user's desktop, and how it takes
it out again: for the current user only, under ``XDG_DATA_HOME`` and ``XDG_CONFIG_HOME``
(``~/.local/share`` and ``~/.config`` when unset), as the XDG Base Directory
specification says, so nothing needs root and nothing touches the system's folders.

Every file written is Chatty's alone and carries ``entries.MARK``; uninstall removes
only files that carry it (a file of the user's with the same name stays). The one
shared file, Thunar's ``uca.xml``, is edited: Chatty's action goes in or out, the
user's own actions stay as they were, and a file that is not XML is left alone with
a warning rather than overwritten.
"""

from __future__ import annotations

import os
import shutil
import sys
import xml.etree.ElementTree as ET
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from chatty_p2p.desktop import entries

Build = Callable[[Sequence[str]], str]


@dataclass(frozen=True)
class Place:
    """One file Chatty owns: where it goes, what writes it, and who reads it."""

    what: str
    path: Path
    build: Build
    executable: bool = False


@dataclass
class Outcome:
    """What an install or uninstall did, line by line, for the user to read."""

    done: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def data_home(env: dict[str, str] | None = None) -> Path:
    env = dict(os.environ) if env is None else env
    value = env.get("XDG_DATA_HOME", "")
    return Path(value) if os.path.isabs(value) else Path.home() / ".local" / "share"


def config_home(env: dict[str, str] | None = None) -> Path:
    env = dict(os.environ) if env is None else env
    value = env.get("XDG_CONFIG_HOME", "")
    return Path(value) if os.path.isabs(value) else Path.home() / ".config"


def chatty_command() -> list[str]:
    """The command that starts this Chatty, absolute: the ``chatty`` script this process
    runs from (pipx's or a venv's), else this Python with ``-m chatty_p2p``."""
    script = Path(sys.argv[0])
    if script.name == "chatty" and script.is_file():
        return [str(script.absolute())]  # pipx's link, not the venv it points into
    found = shutil.which("chatty")
    if found and Path(found).resolve().parent == Path(sys.executable).resolve().parent:
        return [str(Path(found).resolve())]
    return [sys.executable, "-m", "chatty_p2p"]


def places(env: dict[str, str] | None = None) -> dict[str, Place]:
    """Every file, by the name the command line and the tests use."""
    data, conf = data_home(env), config_home(env)
    return {
        "launcher": Place(
            "the launcher", data / "applications" / "chatty.desktop", entries.launcher
        ),
        "nautilus": Place(
            "Files (Nautilus): Scripts → Send with Chatty…",
            data / "nautilus" / "scripts" / entries.SEND_NAME,
            entries.nautilus_script,
            executable=True,
        ),
        "nemo": Place(
            "Nemo: Send with Chatty…",
            data / "nemo" / "actions" / "chatty-send.nemo_action",
            entries.nemo_action,
        ),
        "dolphin": Place(
            "Dolphin: Send with Chatty…",
            data / "kio" / "servicemenus" / "chatty-send.desktop",
            entries.dolphin_menu,
            executable=True,  # Plasma 6 runs only executable service menus
        ),
        "autostart": Place(
            "start at log-in, in the tray", conf / "autostart" / "chatty.desktop", entries.autostart
        ),
        "service": Place(
            "systemd user unit (systemctl --user enable --now chatty)",
            conf / "systemd" / "user" / "chatty.service",
            entries.systemd_unit,
        ),
    }


def icon_path(env: dict[str, str] | None = None) -> Path:
    return data_home(env) / "icons" / "hicolor" / "scalable" / "apps" / "chatty.svg"


def thunar_path(env: dict[str, str] | None = None) -> Path:
    return config_home(env) / "Thunar" / "uca.xml"


def install(
    autostart: bool = False,
    service: bool = False,
    command: Sequence[str] | None = None,
    env: dict[str, str] | None = None,
) -> Outcome:
    """Write the launcher, the icon and the file managers' actions; the autostart entry
    and the systemd unit only when asked. Installing again rewrites them (a moved
    venv is followed)."""
    command = list(command or chatty_command())
    outcome = Outcome()
    wanted = {"launcher", "nautilus", "nemo", "dolphin"}
    wanted |= {"autostart"} if autostart else set()
    wanted |= {"service"} if service else set()
    for name, place in places(env).items():
        if name in wanted:
            _write(place.path, place.build(command), place.executable)
            outcome.done.append(f"{place.what}: {place.path}")
    icon = icon_path(env)
    icon.parent.mkdir(parents=True, exist_ok=True)
    icon.write_bytes(resources.files("chatty_p2p.desktop").joinpath("chatty.svg").read_bytes())
    outcome.done.append(f"the icon: {icon}")
    _install_thunar(command, env, outcome)
    return outcome


def uninstall(env: dict[str, str] | None = None) -> Outcome:
    """Remove every file Chatty wrote (each must carry its mark), the icon, and its
    action from Thunar's file; the user's own files and actions stay."""
    outcome = Outcome()
    for place in places(env).values():
        if not place.path.exists():
            continue
        if entries.MARK in place.path.read_text("utf-8", "replace"):
            place.path.unlink()
            outcome.done.append(f"removed {place.path}")
        else:
            outcome.warnings.append(f"left {place.path}: it was not written by Chatty")
    icon = icon_path(env)
    if icon.exists():
        icon.unlink()
        outcome.done.append(f"removed {icon}")
    thunar = thunar_path(env)
    if thunar.exists():
        try:
            without = entries.thunar_without_action(thunar.read_text("utf-8"))
        except (ET.ParseError, UnicodeDecodeError) as exc:
            outcome.warnings.append(f"left {thunar} as it is: it is not XML ({exc})")
        else:
            if without == "":
                thunar.unlink()
                outcome.done.append(f"removed {thunar} (it held only Send with Chatty…)")
            elif without is not None:
                _write(thunar, without)
                outcome.done.append(f"removed Thunar's Send with Chatty… from {thunar}")
    for path in (*(p.path for p in places(env).values()), icon, thunar):
        _prune(path.parent, (data_home(env), config_home(env)))
    return outcome


def autostart_enabled(env: dict[str, str] | None = None) -> bool:
    path = places(env)["autostart"].path
    return path.exists() and entries.MARK in path.read_text("utf-8", "replace")


def set_autostart(on: bool, env: dict[str, str] | None = None) -> Path:
    """The autostart entry written (``on``) or removed: the window's Settings switch."""
    place = places(env)["autostart"]
    if on:
        _write(place.path, place.build(chatty_command()))
    elif autostart_enabled(env):
        place.path.unlink()
    return place.path


def _install_thunar(command: Sequence[str], env: dict[str, str] | None, outcome: Outcome) -> None:
    path = thunar_path(env)
    try:
        existing = path.read_text("utf-8") if path.exists() else None
        _write(path, entries.thunar_with_action(existing, command))
    except (ET.ParseError, UnicodeDecodeError) as exc:
        outcome.warnings.append(f"Thunar's {path} is not XML ({exc}): not changed")
        return
    outcome.done.append(f"Thunar: Send with Chatty… in {path}")


def _prune(folder: Path, homes: tuple[Path, ...]) -> None:
    """Remove ``folder`` and its parents while they are empty, up to (not including) the
    XDG homes: the folders install made for Chatty's files go with them."""
    while folder not in homes and any(folder.is_relative_to(h) for h in homes):
        try:
            folder.rmdir()
        except OSError:  # not empty (the user's files), or gone
            return
        folder = folder.parent


def _write(path: Path, text: str, executable: bool = False) -> None:
    """Write ``text`` whole or not at all: to a temporary file beside, then renamed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.chatty-new")
    partial.write_text(text, "utf-8")
    if executable:
        partial.chmod(0o755)
    partial.replace(path)
