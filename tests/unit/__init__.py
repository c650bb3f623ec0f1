"""Unit tests: sans-IO protocols and pure logic, bytes in and events out, no sockets."""
