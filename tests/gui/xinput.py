"""Real input on an X server, through its XTEST extension (libXtst, by ctypes).

A click or a key sent this way goes where a person's would: through the X server and
the window manager, to whichever window has the pointer or the focus, and arrives in
Qt as a native event, with all its timing. Events that ``QTest`` makes up skip all
of that, and Settings → Save crashed on X11 only with real input.
"""

from __future__ import annotations

import ctypes
import ctypes.util


class XInputUnavailable(RuntimeError):
    pass


def _library(name: str) -> ctypes.CDLL:
    found = ctypes.util.find_library(name)
    if found is None:
        raise XInputUnavailable(f"lib{name} is missing")
    return ctypes.CDLL(found)


KEYSYMS = {" ": "space", "-": "minus", ".": "period"}


class XInput:
    """One connection to the X server named by ``display`` (``:57``)."""

    def __init__(self, display: str) -> None:
        self.x11 = _library("X11")
        self.xtst = _library("Xtst")
        self.x11.XOpenDisplay.restype = ctypes.c_void_p
        self.x11.XOpenDisplay.argtypes = [ctypes.c_char_p]
        self.x11.XStringToKeysym.restype = ctypes.c_ulong
        self.x11.XStringToKeysym.argtypes = [ctypes.c_char_p]
        self.x11.XKeysymToKeycode.restype = ctypes.c_ubyte
        self.x11.XKeysymToKeycode.argtypes = [ctypes.c_void_p, ctypes.c_ulong]
        self.x11.XFlush.argtypes = [ctypes.c_void_p]
        self.x11.XCloseDisplay.argtypes = [ctypes.c_void_p]
        self.xtst.XTestFakeMotionEvent.argtypes = [
            ctypes.c_void_p,
            ctypes.c_int,
            ctypes.c_int,
            ctypes.c_int,
            ctypes.c_ulong,
        ]
        self.xtst.XTestFakeButtonEvent.argtypes = [
            ctypes.c_void_p,
            ctypes.c_uint,
            ctypes.c_int,
            ctypes.c_ulong,
        ]
        self.xtst.XTestFakeKeyEvent.argtypes = [
            ctypes.c_void_p,
            ctypes.c_uint,
            ctypes.c_int,
            ctypes.c_ulong,
        ]
        self.x11.XGetInputFocus.argtypes = [
            ctypes.c_void_p,
            ctypes.POINTER(ctypes.c_ulong),
            ctypes.POINTER(ctypes.c_int),
        ]
        self.x11.XInternAtom.restype = ctypes.c_ulong
        self.x11.XInternAtom.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int]
        self.x11.XGetWindowProperty.argtypes = [
            ctypes.c_void_p,
            ctypes.c_ulong,
            ctypes.c_ulong,
            ctypes.c_long,
            ctypes.c_long,
            ctypes.c_int,
            ctypes.c_ulong,
            ctypes.POINTER(ctypes.c_ulong),
            ctypes.POINTER(ctypes.c_int),
            ctypes.POINTER(ctypes.c_ulong),
            ctypes.POINTER(ctypes.c_ulong),
            ctypes.POINTER(ctypes.c_void_p),
        ]
        self.x11.XFree.argtypes = [ctypes.c_void_p]
        self.display = self.x11.XOpenDisplay(display.encode())
        if not self.display:
            raise XInputUnavailable(f"cannot open the X display {display}")

    def focused_title(self) -> str:
        """The title (``_NET_WM_NAME``) of the window that has the keyboard focus, as
        the window manager shows it; "" when none has."""
        window = ctypes.c_ulong()
        revert = ctypes.c_int()
        self.x11.XGetInputFocus(self.display, ctypes.byref(window), ctypes.byref(revert))
        if window.value <= 1:  # None or PointerRoot
            return ""
        name = self.x11.XInternAtom(self.display, b"_NET_WM_NAME", 0)
        utf8 = self.x11.XInternAtom(self.display, b"UTF8_STRING", 0)
        kind, size = ctypes.c_ulong(), ctypes.c_int()
        count, left, data = ctypes.c_ulong(), ctypes.c_ulong(), ctypes.c_void_p()
        found = self.x11.XGetWindowProperty(
            self.display,
            window,
            name,
            0,
            1024,
            0,
            utf8,
            ctypes.byref(kind),
            ctypes.byref(size),
            ctypes.byref(count),
            ctypes.byref(left),
            ctypes.byref(data),
        )
        if found != 0 or not data.value:
            return ""
        try:
            return ctypes.string_at(data.value, count.value).decode(errors="replace")
        finally:
            self.x11.XFree(data)

    def close(self) -> None:
        self.x11.XCloseDisplay(self.display)

    def click(self, x: int, y: int) -> None:
        """A left click at (x, y) on the screen."""
        self.xtst.XTestFakeMotionEvent(self.display, -1, x, y, 0)
        self.xtst.XTestFakeButtonEvent(self.display, 1, 1, 0)
        self.xtst.XTestFakeButtonEvent(self.display, 1, 0, 0)
        self.x11.XFlush(self.display)

    def _keycode(self, name: str) -> int:
        keysym = self.x11.XStringToKeysym(name.encode())
        code = int(self.x11.XKeysymToKeycode(self.display, keysym)) if keysym else 0
        if not code:
            raise XInputUnavailable(f"no key for {name!r}")
        return code

    def key(self, name: str, *modifiers: str) -> None:
        """Press and release the key ``name`` (an X keysym name: "Return", "a",
        "Escape") while holding ``modifiers`` ("Control_L")."""
        held = [self._keycode(m) for m in modifiers]
        code = self._keycode(name)
        for m in held:
            self.xtst.XTestFakeKeyEvent(self.display, m, 1, 0)
        self.xtst.XTestFakeKeyEvent(self.display, code, 1, 0)
        self.xtst.XTestFakeKeyEvent(self.display, code, 0, 0)
        for m in reversed(held):
            self.xtst.XTestFakeKeyEvent(self.display, m, 0, 0)
        self.x11.XFlush(self.display)

    def type(self, text: str) -> None:
        """Lower-case letters, digits, spaces, '-' and '.', as typed on a US keyboard."""
        for char in text:
            self.key(KEYSYMS.get(char, char))
