"""Health alerts of the run (discriminator winning, exploding gradients, collapse, NaN), newest
first, each with its step and evidence; and the banner that makes a new one impossible to miss.
Non-modal: training goes on while they are read."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from ganstudio.core.run.events import Alert

TITLES = {
    "d_wins": "Discriminator winning",
    "d_overfit": "Discriminator memorising",
    "disk": "Disk",
    "control": "Request",
    "grad_explode": "Exploding gradients",
    "collapse": "Collapse",
    "nan": "NaN / Inf",
    "metrics": "Metrics",
    "config": "Configuration",
    "compile": "Not compiled",
    "stalled": "Stalled",
    "throughput_drop": "Slower training",
    "notify_failed": "Notification not sent",
}


# Amber with dark text, the same in light and dark themes: a warning reads as one in either.
BANNER_STYLE = """
QFrame#alert_banner { background: #fff3bf; border: 1px solid #f59f00; border-radius: 3px; }
QFrame#alert_banner QLabel { color: #5c3c00; background: transparent; border: none; }
"""


def describe(ev: Alert) -> str:
    """One line for an alert: its step, what kind of problem, and the message."""
    return f"step {ev.step:,} — {TITLES.get(ev.kind, ev.kind)}: {ev.message}"


class AlertBanner(QFrame):
    """A strip above the plots for alerts the user has not dismissed yet: how many, the newest one,
    a Show button (the window raises the Alerts list) and Dismiss. It stays until dismissed, and
    never takes the focus or blocks training."""

    show_requested = Signal()
    dismissed = Signal()

    def __init__(self, model=None, parent: QWidget | None = None):
        """`model`: the window's RunModel; the alerts that arrive in it are shown."""
        super().__init__(parent)
        self.setObjectName("alert_banner")
        self.setStyleSheet(BANNER_STYLE)
        self._count = 0
        icon = QLabel("⚠")
        icon.setStyleSheet("font-size: 16px;")
        self._text = QLabel(objectName="alert_banner_text")
        self._text.setWordWrap(True)
        self._text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self._show = QPushButton("Show", objectName="alert_banner_show")
        self._show.setToolTip("Show every alert of this run in the Alerts list")
        self._dismiss = QPushButton("Dismiss", objectName="alert_banner_dismiss")
        self._dismiss.setToolTip("Hide this notice until the next alert (the Alerts list keeps them)")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(8, 4, 4, 4)
        layout.addWidget(icon)
        layout.addWidget(self._text, 1)
        layout.addWidget(self._show)
        layout.addWidget(self._dismiss)
        self._show.clicked.connect(self.show_requested)
        self._dismiss.clicked.connect(self.dismiss)
        self.hide()
        if model is not None:
            model.changed.connect(self._on_model_changed)
            model.reset.connect(self.dismiss)

    def _on_model_changed(self, changes) -> None:
        for ev in changes.events:
            if isinstance(ev, Alert):
                self.add_alert(ev)

    def count(self) -> int:
        """Alerts since the banner was last dismissed."""
        return self._count

    def text(self) -> str:
        return self._text.text()

    @Slot(object)
    def add_alert(self, ev: Alert) -> None:
        self._count += 1
        line = describe(ev)
        if self._count == 1:
            self._text.setText(line[0].upper() + line[1:])
        else:
            self._text.setText(f"{self._count} alerts. Newest: {line}")
        self._text.setToolTip(describe(ev))
        self.show()

    @Slot()
    def dismiss(self) -> None:
        self._count = 0
        self.hide()
        self.dismissed.emit()


class AlertsPanel(QWidget):
    count_changed = Signal(int)

    def __init__(self, model=None, parent: QWidget | None = None):
        """`model`: the window's RunModel, whose alerts it lists (all of them after a reset, such
        as an opened checkpoint's)."""
        super().__init__(parent)
        self.setObjectName("alerts_panel")
        self._model = model
        self._hint = QLabel(
            "No alerts. GAN Studio warns here when the discriminator wins outright, "
            "gradients explode or the samples collapse."
        )
        self._hint.setWordWrap(True)
        self._list = QListWidget()
        self._list.setObjectName("alerts_list")
        self._list.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(self._hint)
        layout.addWidget(self._list, 1)
        if model is not None:
            model.changed.connect(self._on_model_changed)
            model.reset.connect(self._on_model_reset)

    def _on_model_changed(self, changes) -> None:
        for ev in changes.events:
            if isinstance(ev, Alert):
                self.add_alert(ev)

    def _on_model_reset(self) -> None:
        self.clear()
        for ev in self._model.state.alerts:
            self.add_alert(ev)

    def count(self) -> int:
        return self._list.count()

    def texts(self) -> list[str]:
        return [self._list.item(i).text() for i in range(self._list.count())]

    @Slot(object)
    def add_alert(self, ev: Alert) -> None:
        item = QListWidgetItem(describe(ev))
        if ev.evidence:
            item.setToolTip(
                "\n".join(
                    f"{k} = {v:.4g}" if isinstance(v, float) else f"{k} = {v}" for k, v in ev.evidence.items()
                )
            )
        item.setData(Qt.ItemDataRole.UserRole, ev.kind)
        self._list.insertItem(0, item)
        self._hint.setVisible(False)
        self.count_changed.emit(self._list.count())

    def select_newest(self) -> None:
        if self._list.count():
            self._list.setCurrentRow(0)
            self._list.scrollToTop()

    @Slot()
    def clear(self) -> None:
        self._list.clear()
        self._hint.setVisible(True)
        self.count_changed.emit(0)
