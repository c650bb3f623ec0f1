"""This machine's device type (from the firmware's chassis type) and reading a
peer's from its mDNS record, where anything but a known word is "unknown"."""

from __future__ import annotations

from pathlib import Path

import pytest
from zeroconf import ServiceInfo

from chatty_p2p.device import DEVICE_TYPES, ENV_OVERRIDE, detect, device_type, from_chassis
from chatty_p2p.net.discovery import SERVICE_TYPE, Discovery, instance_name, parse_advert

PEER = "ab" * 32
X11 = {"DISPLAY": ":0"}


@pytest.mark.parametrize(
    ("chassis", "kind"),
    [
        *((n, "laptop") for n in (8, 9, 10, 14, 31, 32)),
        *((n, "desktop") for n in (3, 4, 5, 6, 7, 13, 35)),
        *((n, "server") for n in (17, 23)),
        (30, "tablet"),
        (1, "unknown"),  # "other": many virtual machines
        (2, "unknown"),
        (12, "unknown"),  # a docking station
    ],
)
def test_each_chassis_type_stands_for_its_kind_of_device(chassis: int, kind: str) -> None:
    assert from_chassis(f"{chassis}\n") == kind


@pytest.mark.parametrize("text", [None, "", "laptop", "9.5", "99999999999999999999", "\x00"])
def test_a_chassis_file_that_is_no_number_says_nothing(text: str | None) -> None:
    assert from_chassis(text) == "unknown"


def chassis_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "chassis_type"
    path.write_text(text)
    return path


def test_linux_reads_the_chassis_file(tmp_path: Path) -> None:
    assert detect(X11, "linux", chassis_file(tmp_path, "10\n")) == "laptop"
    assert detect(X11, "linux", chassis_file(tmp_path, "3\n")) == "desktop"
    assert detect(X11, "linux", chassis_file(tmp_path, "23\n")) == "server"
    assert detect(X11, "linux", chassis_file(tmp_path, "1\n")) == "unknown"


def test_no_firmware_information_or_no_display_is_a_server(tmp_path: Path) -> None:
    assert detect(X11, "linux", tmp_path / "missing") == "server"
    assert detect({}, "linux", chassis_file(tmp_path, "3\n")) == "server"  # a headless tower
    assert detect({}, "linux", chassis_file(tmp_path, "1\n")) == "server"
    assert detect({}, "linux", chassis_file(tmp_path, "9\n")) == "laptop"  # still carried
    assert detect({"WAYLAND_DISPLAY": "wayland-0"}, "linux", chassis_file(tmp_path, "3")) == (
        "desktop"
    )


def test_the_environment_overrides_the_guess_with_a_known_word_only(tmp_path: Path) -> None:
    desktop = chassis_file(tmp_path, "3\n")
    assert detect({**X11, ENV_OVERRIDE: "Phone"}, "linux", desktop) == "phone"
    assert detect({**X11, ENV_OVERRIDE: "toaster"}, "linux", desktop) == "desktop"
    assert detect({ENV_OVERRIDE: "tablet"}, "win32") == "tablet"
    assert detect({}, "win32") == "unknown"
    assert detect({"ANDROID_ROOT": "/system"}, "linux", desktop) == "phone"


@pytest.mark.parametrize(
    ("raw", "kind"),
    [
        (b"laptop", "laptop"),
        (b"Desktop", "desktop"),
        ("server", "server"),
        (b"", "unknown"),
        (b"toaster", "unknown"),
        (b"laptop" * 3, "unknown"),  # too long, even if it starts well
        (b"x" * 10_000, "unknown"),
        (b"\xff\xfelaptop", "unknown"),  # not UTF-8
        (b"lap\x00top", "unknown"),
        ("lap\u202etop", "unknown"),  # a bidi override
        ("<b>server</b>", "unknown"),
        (None, "unknown"),
        (7, "unknown"),
    ],
)
def test_a_peers_device_type_is_one_known_word_or_unknown(raw: object, kind: str) -> None:
    assert device_type(raw) == kind
    assert device_type(raw) in DEVICE_TYPES


def record(device: bytes | None, with_key: bool = True) -> ServiceInfo:
    properties: dict[str, bytes | None] = {"v": b"1", "id": PEER.encode(), "name": b"desk"}
    if with_key:
        properties["device"] = device
    return ServiceInfo(
        SERVICE_TYPE,
        instance_name(PEER),
        port=7700,
        properties=properties,
        parsed_addresses=["192.0.2.7"],
    )


@pytest.mark.parametrize(
    ("value", "with_key", "kind"),
    [
        (b"laptop", True, "laptop"),
        (b"server", True, "server"),
        (None, True, "unknown"),  # a key with no value
        (None, False, "unknown"),  # an older Chatty
        (b"\xc3\x28", True, "unknown"),  # not UTF-8
        (b"desktop" + b" " * 200, True, "unknown"),  # too long
        (b"hacker", True, "unknown"),
    ],
)
def test_the_record_device_key_is_read_and_checked(
    value: bytes | None, with_key: bool, kind: str
) -> None:
    advert = parse_advert(instance_name(PEER), record(value, with_key))
    assert advert is not None and advert.name == "desk"
    assert advert.device == kind


def test_this_node_announces_its_device_type_in_its_record() -> None:
    discovery = Discovery(PEER, "desk", 7700, lambda *_: None, device="laptop")
    info = discovery._service_info()
    assert info.properties[b"device"] == b"laptop"
    advert = parse_advert(instance_name(PEER), info)
    assert advert is not None and advert.device == "laptop"
    odd = Discovery(PEER, "desk", 7700, lambda *_: None, device="toaster")
    assert odd._service_info().properties[b"device"] == b"unknown"
