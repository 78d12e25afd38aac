"""File › Open Recent: the run folders and checkpoints opened last, kept in the settings."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, QSettings, Signal
from PySide6.QtWidgets import QMenu

MAX_RECENT = 8
KEY = "session/recent"


class RecentFiles(QObject):
    """The recent paths (newest first) and the menu that lists them."""

    open_requested = Signal(str)  # a path picked in the menu

    def __init__(self, settings: QSettings, menu: QMenu, parent: QObject | None = None):
        super().__init__(parent)
        self._settings = settings
        self._menu = menu
        self.update_menu()

    def paths(self) -> list[str]:
        value = self._settings.value(KEY, [])
        if isinstance(value, str):
            value = [value]
        return [str(v) for v in (value or [])]

    def add(self, path: str | Path) -> None:
        path = str(Path(path).resolve())
        items = [p for p in self.paths() if p != path]
        self._settings.setValue(KEY, [path, *items][:MAX_RECENT])
        self.update_menu()

    def update_menu(self) -> None:
        self._menu.clear()
        items = self.paths()
        for i, path in enumerate(items):
            a = self._menu.addAction(f"&{i + 1} {path}")
            a.setObjectName(f"action_recent_{i}")
            a.triggered.connect(lambda _=False, p=path: self.open_requested.emit(p))
        self._menu.setEnabled(bool(items))

    def set_allowed(self, allowed: bool) -> None:
        """Enabled when there is something to open and opening is allowed now."""
        self._menu.setEnabled(bool(self.paths()) and allowed)
