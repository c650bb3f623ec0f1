"""``chatty desktop install`` and ``uninstall`` into a temporary ``XDG_DATA_HOME`` and
``XDG_CONFIG_HOME``: each file checked by the rules its reader applies (the Desktop
Entry validator, Nemo's and Dolphin's keys, Thunar's XML, a shell), the file
managers' command run as they would run it, and nothing left once uninstalled."""

from __future__ import annotations

import configparser
import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
import zipfile
from importlib import metadata
from pathlib import Path

import pytest

from chatty_p2p.desktop import entries

USER_ACTION = """<?xml version="1.0" encoding="UTF-8"?>
<actions>
<action>
\t<icon>utilities-terminal</icon>
\t<name>Open Terminal Here</name>
\t<unique-id>1700000000-1</unique-id>
\t<command>exo-open --working-directory %f --launch TerminalEmulator</command>
\t<patterns>*</patterns>
\t<directories/>
</action>
</actions>
"""


def chatty(home: Path, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "XDG_DATA_HOME": str(home / "data"),
        "XDG_CONFIG_HOME": str(home / "config"),
        "CHATTY_HOME": str(home / "chatty"),
    }
    return subprocess.run(
        [sys.executable, "-m", "chatty_p2p", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )


def keys(path: Path) -> configparser.ConfigParser:
    """A key file read as its reader does: case kept, no interpolation."""
    parser = configparser.ConfigParser(interpolation=None, strict=True)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(path, encoding="utf-8")
    return parser


def validate(path: Path) -> None:
    tool = shutil.which("desktop-file-validate")
    if tool is None:
        if os.environ.get("CI") == "true":
            pytest.fail("CI must validate the launcher, but desktop-file-validate is missing")
        pytest.skip("desktop-file-validate (Debian: desktop-file-utils) is not installed")
    done = subprocess.run([tool, str(path)], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0 and not done.stdout.strip(), done.stdout + done.stderr


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """A user's homes with a Thunar action of their own already there."""
    (tmp_path / "config" / "Thunar").mkdir(parents=True)
    (tmp_path / "config" / "Thunar" / "uca.xml").write_text(USER_ACTION)
    return tmp_path


def test_install_writes_valid_files_and_uninstall_leaves_only_the_users(home: Path) -> None:
    done = chatty(home, "desktop", "install", "--autostart", "--service")
    assert done.returncode == 0, done.stderr
    data, config = home / "data", home / "config"
    launcher = data / "applications" / "chatty.desktop"
    autostart = config / "autostart" / "chatty.desktop"
    for entry in (launcher, autostart):
        validate(entry)
    assert keys(autostart)["Desktop Entry"]["Exec"].endswith(" --minimized")
    assert keys(launcher)["Desktop Action send"]["Exec"].endswith(" send --choose")
    icon = data / "icons" / "hicolor" / "scalable" / "apps" / "chatty.svg"
    assert ET.parse(icon).getroot().tag == "{http://www.w3.org/2000/svg}svg"

    nemo = keys(data / "nemo" / "actions" / "chatty-send.nemo_action")["Nemo Action"]
    assert {"Name", "Exec", "Selection", "Extensions"} <= set(nemo)
    assert nemo["Exec"].endswith(" send --choose %F") and nemo["Selection"] == "NotNone"
    assert nemo["Extensions"] == "any;" and nemo["Quote"] == "double"

    dolphin_path = data / "kio" / "servicemenus" / "chatty-send.desktop"
    assert os.access(dolphin_path, os.X_OK)  # Plasma 6 ignores a service menu that is not
    dolphin = keys(dolphin_path)
    assert dolphin["Desktop Entry"]["Type"] == "Service"
    assert "inode/directory" in dolphin["Desktop Entry"]["MimeType"].split(";")
    [action] = [a for a in dolphin["Desktop Entry"]["Actions"].split(";") if a]
    assert dolphin[f"Desktop Action {action}"]["Exec"].endswith(" send --choose %F")

    thunar = ET.parse(config / "Thunar" / "uca.xml").getroot()
    ids = [a.findtext("unique-id") for a in thunar.findall("action")]
    assert ids == ["1700000000-1", entries.THUNAR_ID]  # the user's action kept, first
    ours = thunar.findall("action")[1]
    assert ours.findtext("command", "").endswith(" send --choose %F")
    assert ours.find("directories") is not None and ours.find("other-files") is not None

    unit = (config / "systemd" / "user" / "chatty.service").read_text()
    assert "\nExecStart=" in unit and unit.split("ExecStart=")[1].split("\n")[0].endswith(" daemon")

    # A file of the user's under one of Chatty's names is not Chatty's to remove.
    mine = data / "nemo" / "actions" / "mine.nemo_action"
    mine.write_text("[Nemo Action]\nName=Mine\n")
    done = chatty(home, "desktop", "uninstall")
    assert done.returncode == 0, done.stderr
    left = sorted(str(p.relative_to(home)) for p in home.rglob("*") if p.is_file())
    assert left == ["config/Thunar/uca.xml", "data/nemo/actions/mine.nemo_action"]
    assert (config / "Thunar" / "uca.xml").read_text().count("<action>") == 1
    assert "Open Terminal Here" in (config / "Thunar" / "uca.xml").read_text()


def test_the_file_managers_commands_reach_chatty_with_absolute_paths(home: Path) -> None:
    """Each action run as its file manager runs it, on a name that starts with "-" and
    is gone: Chatty answers (not the shell, not argparse) with the absolute path."""
    assert chatty(home, "desktop", "install").returncode == 0
    folder = home / "Pictures"
    folder.mkdir()
    script = home / "data" / "nautilus" / "scripts" / entries.SEND_NAME
    done = subprocess.run(
        [str(script), "-gone.jpg"], cwd=folder, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 1
    assert f"no such file or folder: {folder}/-gone.jpg" in done.stderr, done.stderr

    exec_line = keys(home / "data" / "nemo" / "actions" / "chatty-send.nemo_action")
    words = exec_line["Nemo Action"]["Exec"].split(" ")
    gone = folder / "gone folder"
    command = [*words[:-1], str(gone)]  # %F, as Nemo fills it
    assert command[0] == sys.executable or command[0].endswith("chatty")
    done = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert f"no such file or folder: {gone}" in done.stderr, done.stderr


def test_exec_quoting_follows_the_desktop_entry_specification() -> None:
    assert entries.exec_quote("/usr/bin/chatty") == "/usr/bin/chatty"
    assert entries.exec_quote("/home/a b/chatty") == '"/home/a b/chatty"'
    assert entries.exec_quote('/x/"$`\\') == '"/x/\\"\\$\\`\\\\"'
    assert entries.exec_quote("/opt/100%/chatty") == "/opt/100%%/chatty"


def test_a_thunar_file_that_is_not_xml_is_left_alone(home: Path) -> None:
    broken = home / "config" / "Thunar" / "uca.xml"
    broken.write_text("<actions><action>")
    done = chatty(home, "desktop", "install")
    assert done.returncode == 0
    assert "is not XML" in done.stdout and broken.read_text() == "<actions><action>"


def test_the_wheel_carries_the_icon_and_the_version(tmp_path: Path) -> None:
    """`pip wheel .` (what pipx installs from) holds the icon `desktop install` copies,
    and the version `chatty --version` reads from the metadata."""
    repo = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(repo), "--no-deps", "-q", "-w", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    [wheel] = tmp_path.glob("chatty_p2p-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        assert "chatty_p2p/desktop/chatty.svg" in names
        [meta] = [n for n in names if n.endswith(".dist-info/METADATA")]
        version = next(
            line.split(": ", 1)[1]
            for line in archive.read(meta).decode().splitlines()
            if line.startswith("Version: ")
        )
    assert version == metadata.version("chatty_p2p")
