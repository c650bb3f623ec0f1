"""Loopback tests: real nodes, sockets, TLS and commands on this machine's loopback."""
