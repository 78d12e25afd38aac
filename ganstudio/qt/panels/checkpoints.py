"""The current run's checkpoints, newest first, with their steps; double-click or Open to load one."""

from __future__ import annotations

import datetime
from pathlib import Path

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from ganstudio.core.checkpoint.store import CheckpointStore


class CheckpointsPanel(QWidget):
    open_requested = Signal(str)  # path
    fork_requested = Signal(str)  # path: a new run from it, with changed keys

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("checkpoints_panel")
        self._folder: Path | None = None
        self._label = QLabel("No run folder yet.")
        self._label.setWordWrap(True)
        self._label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self._list = QListWidget()
        self._list.setObjectName("checkpoints_list")
        self._list.itemDoubleClicked.connect(self._on_list_activated)
        self._list.currentRowChanged.connect(self._on_list_selection)
        self._open = QPushButton("Open")
        self._open.setObjectName("checkpoints_open")
        self._open.setEnabled(False)
        self._open.setToolTip("Open the selected checkpoint, ready to resume (training must be stopped)")
        self._open.clicked.connect(self._on_open_clicked)
        self._fork = QPushButton("Fork…")
        self._fork.setObjectName("checkpoints_fork")
        self._fork.setEnabled(False)
        self._fork.setToolTip(
            "Start a new run from the selected checkpoint with changed settings, trained "
            "beside this one and drawn on its plots"
        )
        self._fork.clicked.connect(self._on_fork_clicked)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self._fork)
        buttons.addWidget(self._open)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(self._label)
        layout.addWidget(self._list, 1)
        layout.addLayout(buttons)

    def set_folder(self, folder: str | Path | None) -> None:
        self._folder = Path(folder) if folder is not None else None
        self.refresh()

    def paths(self) -> list[str]:
        return [self._list.item(i).data(Qt.ItemDataRole.UserRole) for i in range(self._list.count())]

    @Slot()
    def refresh(self) -> None:
        self._list.clear()
        if self._folder is None:
            self._label.setText("No run folder yet: checkpoints appear here as training saves them.")
            self._open.setEnabled(False)
            self._fork.setEnabled(False)
            return
        self._label.setText(f"In {self._folder}")
        store = CheckpointStore(self._folder)
        for c in reversed(store.files()):
            try:
                when = datetime.datetime.fromtimestamp(c.path.stat().st_mtime).strftime("%H:%M:%S")
            except OSError:
                continue
            kept = "   saved by you, kept" if c.manual else ""
            item = QListWidgetItem(f"step {c.step:,}   ({when}){kept}")
            item.setData(Qt.ItemDataRole.UserRole, str(c.path))
            item.setToolTip(str(c.path) + ("\nSaved on request: never rotated away" if c.manual else ""))
            self._list.addItem(item)
        latest = store.latest
        if latest.exists():
            item = QListWidgetItem("latest")
            item.setData(Qt.ItemDataRole.UserRole, str(latest))
            item.setToolTip(str(latest))
            self._list.insertItem(0, item)
        self._open.setEnabled(self._list.currentRow() >= 0)
        self._fork.setEnabled(self._list.currentRow() >= 0)

    @Slot(QListWidgetItem)
    def _on_list_activated(self, item: QListWidgetItem) -> None:
        self.open_requested.emit(item.data(Qt.ItemDataRole.UserRole))

    @Slot(int)
    def _on_list_selection(self, row: int) -> None:
        self._open.setEnabled(row >= 0)
        self._fork.setEnabled(row >= 0)

    @Slot()
    def _on_fork_clicked(self) -> None:
        item = self._list.currentItem()
        if item is not None:
            self.fork_requested.emit(item.data(Qt.ItemDataRole.UserRole))

    @Slot()
    def _on_open_clicked(self) -> None:
        item = self._list.currentItem()
        if item is not None:
            self.open_requested.emit(item.data(Qt.ItemDataRole.UserRole))
