"""The window's dialogs: errors and the health pause (window-modal message boxes that never block
training), the questions it asks (quit while training? how many processes? which keys each fork
changes?), About and Help › Keyboard Shortcuts."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QObject, Qt, Slot
from PySide6.QtWidgets import QDialog, QInputDialog, QMainWindow, QMessageBox

from ganstudio import __version__
from ganstudio.core.config import Config
from ganstudio.qt import shortcuts
from ganstudio.qt.fork import ForkDialog
from ganstudio.qt.panels.hyperparams import with_labels
from ganstudio.qt.space_key import SPACE_RULE


class Dialogs(QObject):
    """Dialogs parented to `window`; the message boxes open are in `boxes` (closed on quit)."""

    def __init__(self, window: QMainWindow):
        super().__init__(window)
        self._window = window
        self.boxes: list[QMessageBox] = []
        self._shortcuts: shortcuts.ShortcutsDialog | None = None  # built when first asked for

    def message_box(self, icon, title: str, text: str) -> QMessageBox:
        # Window-modal and non-blocking: training goes on while the user reads it.
        box = QMessageBox(icon, title, text, QMessageBox.StandardButton.NoButton, self._window)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.finished.connect(lambda _=0, b=box: self.boxes.remove(b) if b in self.boxes else None)
        self.boxes.append(box)
        if icon != QMessageBox.Icon.Warning or not box.buttons():
            box.setStandardButtons(QMessageBox.StandardButton.Ok)
        return box

    @Slot(str, str)
    def error(self, message: str, details: str = "") -> None:
        # Keys named as the window names them ("Runs folder (log.out)"), whoever wrote the message.
        box = self.message_box(QMessageBox.Icon.Warning, "GAN Studio", with_labels(message))
        box.setObjectName("error_dialog")
        if details:
            box.setDetailedText(details)
        box.open()

    def health_paused(self, reason: str, last: Path | None, roll_back: Callable[[Path], None]) -> None:
        """Training paused itself: say why, and offer the last good checkpoint, if any."""
        box = self.message_box(QMessageBox.Icon.Warning, "Training paused", reason)
        box.setObjectName("health_dialog")
        if last is not None:
            rollback = box.addButton("Open Last Good Checkpoint", QMessageBox.ButtonRole.AcceptRole)
            rollback.setObjectName("health_rollback")
            rollback.clicked.connect(lambda: roll_back(last))
        box.addButton("Keep Paused", QMessageBox.ButtonRole.RejectRole)
        box.open()

    def close_all(self) -> None:
        for box in list(self.boxes):
            box.close()

    @Slot()
    def show_shortcuts(self) -> None:
        if self._shortcuts is None:
            self._shortcuts = shortcuts.ShortcutsDialog(self._window, SPACE_RULE)
        self._shortcuts.refresh(shortcuts.rows(self._window.menuBar()))
        self._shortcuts.show()  # not modal: it can stay open while training runs
        self._shortcuts.raise_()

    @Slot()
    def about(self) -> None:
        QMessageBox.about(
            self._window,
            "About GAN Studio",
            f"<b>GAN Studio</b> {__version__}<br>Train generative adversarial networks and watch them train.",
        )

    def ask_close(self) -> str:
        """'save', 'quit' or 'cancel' — asked when closing while training runs."""
        box = QMessageBox(
            QMessageBox.Icon.Question,
            "GAN Studio",
            "Training is running. Save a checkpoint before quitting?",
            parent=self._window,
        )
        save = box.addButton("Save and Quit", QMessageBox.ButtonRole.AcceptRole)
        quit_ = box.addButton("Quit", QMessageBox.ButtonRole.DestructiveRole)
        box.addButton(QMessageBox.StandardButton.Cancel)
        box.exec()
        clicked = box.clickedButton()
        return "save" if clicked is save else "quit" if clicked is quit_ else "cancel"

    def ask_processes(self) -> int | None:
        """How many processes for Start on N Processes; None if cancelled."""
        cores = os.cpu_count() or 1
        n, ok = QInputDialog.getInt(
            self._window,
            "Start on N Processes",
            "Processes (one per GPU on a GPU machine; else CPU processes sharing the cores).\n"
            "train.batch_size is the global batch and must divide by N.",
            2,
            2,
            max(8, cores),
        )
        return n if ok else None

    def ask_forks(self, cfg: Config, count: int, title: str, base_label: str) -> list[list[str]] | None:
        """Per fork, the `--set` arguments chosen in the fork dialog, whose first column (headed
        `base_label`) shows `cfg`; None if cancelled."""
        dialog = ForkDialog(cfg, count, title, self._window, base_label=base_label)
        return dialog.overrides() if dialog.exec() == QDialog.DialogCode.Accepted else None
