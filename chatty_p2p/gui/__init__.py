"""The desktop window (PySide6). Thin: every action is a call into the core's ``Node``,
which runs on its own thread behind ``bridge.NodeBridge``."""
