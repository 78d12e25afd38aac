"""Help › Keyboard Shortcuts: the shortcuts as the app has them, read from its menus' actions."""

from __future__ import annotations

import html
import re

from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QLabel, QMenu, QMenuBar, QVBoxLayout, QWidget


def plain(text: str) -> str:
    """An action's text as read: no mnemonic ampersands ("&&" is a literal one) or ellipsis."""
    return re.sub("&(.)", r"\1", text).rstrip("…")


def rows(menu_bar: QMenuBar) -> list[tuple[str, str, str]]:
    """(menu, action, shortcut) for every action in the menus that has a shortcut, read from the
    actions themselves, in menu order."""
    out = []

    def walk(menu: QMenu, title: str) -> None:
        for a in menu.actions():
            if a.menu() is not None:
                walk(a.menu(), title)
            elif not a.isSeparator() and not a.shortcut().isEmpty():
                keys = ", ".join(k.toString(QKeySequence.SequenceFormat.NativeText) for k in a.shortcuts())
                out.append((title, plain(a.text()), keys))

    for top in menu_bar.actions():
        if top.menu() is not None:
            walk(top.menu(), plain(top.text()))
    return out


class ShortcutsDialog(QDialog):
    """A window of its own, not modal; it carries the window's actions, so their shortcuts still
    reach training while it has the focus."""

    def __init__(self, window: QWidget, note: str):
        super().__init__(window, objectName="shortcuts_dialog")
        self.setWindowTitle("Keyboard Shortcuts")
        self._note = note
        self.text = QLabel(objectName="shortcuts_text")
        self.text.setTextFormat(Qt.TextFormat.RichText)
        self.text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.text.setWordWrap(True)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.close)
        layout = QVBoxLayout(self)
        layout.addWidget(self.text)
        layout.addWidget(buttons)
        self.addActions(window.actions())

    def refresh(self, shortcut_rows: list[tuple[str, str, str]]) -> None:
        """Rebuilt each time it is shown: the shortcuts are the actions' own, whatever they are now."""
        cells = "".join(
            f"<tr><td>{html.escape(menu)}</td><td>{html.escape(name)}</td>"
            f"<td><b>{html.escape(keys)}</b></td></tr>"
            for menu, name, keys in shortcut_rows
        )
        table = f"<table cellspacing='0' cellpadding='3'>{cells}</table>"
        self.text.setText(f"{table}<p>{html.escape(self._note)}</p>")
