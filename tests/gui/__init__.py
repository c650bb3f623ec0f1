"""Window tests: the real PySide6 window with pytest-qt."""
