"""The node's settings, typed, over the store's key-value table."""

from __future__ import annotations

from chatty_p2p.store import Store


class Settings:
    def __init__(self, store: Store) -> None:
        self._store = store

    def _flag(self, key: str) -> bool:
        return self._store.setting(key) == "1"

    def _set_flag(self, key: str, on: bool) -> None:
        self._store.set_setting(key, "1" if on else "0")

    @property
    def name(self) -> str | None:
        return self._store.setting("name")

    def set_name(self, name: str) -> None:
        self._store.set_setting("name", name)

    @property
    def download_dir(self) -> str | None:
        return self._store.setting("download_dir")

    def set_download_dir(self, folder: str) -> None:
        self._store.set_setting("download_dir", folder)

    @property
    def trusted_only(self) -> bool:
        """Accept connections from trusted peers only (off by default)."""
        return self._flag("trusted_only")

    def set_trusted_only(self, on: bool) -> None:
        self._set_flag("trusted_only", on)

    @property
    def auto_accept_trusted(self) -> bool:
        """Whether offers from trusted peers are accepted without asking (off by default)."""
        return self._flag("auto_accept_trusted")

    def set_auto_accept_trusted(self, on: bool) -> None:
        self._set_flag("auto_accept_trusted", on)

    @property
    def auto_copy_trusted(self) -> bool:
        """Whether text from trusted peers goes straight to the clipboard (off by default:
        a clipboard is pasted into terminals, so only paired devices may fill it)."""
        return self._flag("auto_copy_trusted")

    def set_auto_copy_trusted(self, on: bool) -> None:
        self._set_flag("auto_copy_trusted", on)

    @property
    def start_minimised(self) -> bool:
        """Whether the window starts hidden in the tray. The window's own choice, kept
        here with the other settings so that it lives in the data dir it belongs to."""
        return self._flag("start_minimised")

    def set_start_minimised(self, on: bool) -> None:
        self._set_flag("start_minimised", on)

    @property
    def told_about_tray(self) -> bool:
        """Whether the window has said, once, that closing it leaves Chatty receiving in
        the tray. Also the window's own, kept here for the same reason."""
        return self._flag("told_about_tray")

    def set_told_about_tray(self, on: bool) -> None:
        self._set_flag("told_about_tray", on)

    @property
    def localsend_off(self) -> bool:
        """Whether the LocalSend face is turned off (it is on by default, as discovery)."""
        return self._flag("localsend_off")

    def set_localsend_off(self, on: bool) -> None:
        self._set_flag("localsend_off", on)

    @property
    def localsend_pin(self) -> str:
        """The PIN a LocalSend device must send with its files ("": none asked)."""
        return self._store.setting("localsend_pin") or ""

    def set_localsend_pin(self, pin: str) -> None:
        self._store.set_setting("localsend_pin", pin)

    @property
    def last_port(self) -> int:
        """The port the last run listened on: tried first when none is given."""
        value = self._store.setting("last_port") or ""
        return int(value) if value.isdigit() and 0 < int(value) < 65536 else 0

    def set_last_port(self, port: int) -> None:
        self._store.set_setting("last_port", str(port))

    @property
    def dns_sd(self) -> tuple[str, str]:
        """The wide-area DNS-SD domain to register in and browse, and the TSIG key file
        that signs the registration ("" for none): the key stays in its file."""
        store = self._store
        return store.setting("dns_sd_domain") or "", store.setting("dns_sd_key_file") or ""

    def set_dns_sd(self, domain: str, key_file: str) -> None:
        self._store.set_setting("dns_sd_domain", domain)
        self._store.set_setting("dns_sd_key_file", key_file)
