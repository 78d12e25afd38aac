"""Space pauses and resumes training wherever the focus is (SPACE_RULE): a filter on the window's
focused line edit leaves a bare Space to the window's shortcut unless a value is being typed there.

Only the focused line edit's events are filtered, not the whole application's: every event through
Python would take the GIL from the training thread ~1,000 times a second."""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, Qt, Slot
from PySide6.QtWidgets import QApplication, QLineEdit, QWidget

SPACE_RULE = (
    "Space pauses and resumes training wherever the focus is, also in a text field whose "
    "value was committed (Return, or focus moved on), except while a value is being typed "
    "there: then it types a space. Shortcuts with Ctrl work everywhere."
)


class SpaceKeyFilter(QObject):
    """Follows the application's focus and filters the line edit focused in `window`."""

    def __init__(self, window: QWidget):
        super().__init__(window)
        self._window = window
        QApplication.instance().focusChanged.connect(self._on_app_focus_changed)

    @Slot(QWidget, QWidget)
    def _on_app_focus_changed(self, old: QWidget | None, new: QWidget | None) -> None:
        if isinstance(old, QLineEdit):
            old.removeEventFilter(self)
        if isinstance(new, QLineEdit) and new.window() is self._window:
            new.installEventFilter(self)

    def eventFilter(self, watched, event) -> bool:  # noqa: N802 (Qt's name)
        """SPACE_RULE: a line edit takes a bare Space only while it holds an uncommitted edit (its
        `isModified()`; the hyperparameter panel clears it on commit). Otherwise the Space is left
        to the shortcut map, which pauses or resumes."""
        if (
            event.type() == QEvent.Type.ShortcutOverride
            and isinstance(watched, QLineEdit)
            and event.key() == Qt.Key.Key_Space
            and event.modifiers() == Qt.KeyboardModifier.NoModifier
            and not watched.isModified()
            and watched.window() is self._window
        ):
            event.ignore()  # not overridden: the window's Space shortcut gets it
            return True
        return super().eventFilter(watched, event)
