"""Health alerts of the run (discriminator winning, exploding gradients, collapse, NaN), newest
first, each with its step and evidence. Non-modal: training goes on while they are read."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import QLabel, QListWidget, QListWidgetItem, QVBoxLayout, QWidget

from ganstudio.core.events import Alert

TITLES = {
    "d_wins": "Discriminator winning",
    "grad_explode": "Exploding gradients",
    "collapse": "Collapse",
    "nan": "NaN / Inf",
    "metrics": "Metrics",
    "config": "Configuration",
}


class AlertsPanel(QWidget):
    count_changed = Signal(int)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("alerts_panel")
        self._hint = QLabel("No alerts. GAN Studio warns here when the discriminator wins outright, "
                            "gradients explode or the samples collapse.")
        self._hint.setWordWrap(True)
        self._list = QListWidget()
        self._list.setObjectName("alerts_list")
        self._list.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(self._hint)
        layout.addWidget(self._list, 1)

    def count(self) -> int:
        return self._list.count()

    def texts(self) -> list[str]:
        return [self._list.item(i).text() for i in range(self._list.count())]

    @Slot(object)
    def add_alert(self, ev: Alert) -> None:
        title = TITLES.get(ev.kind, ev.kind)
        item = QListWidgetItem(f"step {ev.step:,} — {title}: {ev.message}")
        if ev.evidence:
            item.setToolTip("\n".join(f"{k} = {v:.4g}" if isinstance(v, float) else f"{k} = {v}"
                                      for k, v in ev.evidence.items()))
        item.setData(Qt.ItemDataRole.UserRole, ev.kind)
        self._list.insertItem(0, item)
        self._hint.setVisible(False)
        self.count_changed.emit(self._list.count())

    @Slot()
    def clear(self) -> None:
        self._list.clear()
        self._hint.setVisible(True)
        self.count_changed.emit(0)
