"""Addresses as people type and read them: ``host:port``, ``[v6]:port``."""

from __future__ import annotations


def format_address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def parse_address(text: str) -> tuple[str, int] | None:
    """``host:port`` or ``[v6]:port`` to a pair; ``None`` if it is not one."""
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not host:
        return None
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host:
        return None
    number = int(port)
    return (host, number) if 0 < number < 65536 else None
