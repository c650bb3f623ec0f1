"""Chatty's wire protocol, with no I/O.

Nothing in this package imports asyncio, socket or ssl: bytes go in, events come
out, and bytes to send are handed back to the caller. That keeps every rule
testable one byte at a time and lets the same code serve any transport.
"""
