"""The window's status bar: a temporary message never runs into the permanent widgets on the right.

QStatusBar clips a message at the first permanent widget, mid-word ("…a dif|Following · Paused").
This one draws the message elided to the room there is ("…a diff…"), and keeps the whole text in
its tooltip while the message shows; `currentMessage()` is still the whole text.
"""

from __future__ import annotations

from PySide6.QtCore import QRect, Qt, Slot
from PySide6.QtGui import QPainter, QPaintEvent
from PySide6.QtWidgets import QStatusBar, QStyle, QStyleOption, QWidget

GAP = 8  # px between the message's end and the first permanent widget


class StatusBar(QStatusBar):
    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("status_bar")
        self._permanent: list[QWidget] = []
        self.messageChanged.connect(self._on_message_changed)

    def addPermanentWidget(self, widget: QWidget, stretch: int = 0) -> None:  # noqa: N802 (Qt's name)
        super().addPermanentWidget(widget, stretch)
        self._permanent.append(widget)

    def message_rect(self) -> QRect:
        """Where the message is drawn: from the left edge to just before the permanent widgets."""
        right = self.width() - GAP
        shown = [w.x() for w in self._permanent if w.isVisible()]
        if shown:
            right = min(shown) - GAP
        return QRect(6, 0, max(0, right - 6), self.height())

    def shown_message(self) -> str:
        """The message as drawn: elided to the room left of the permanent widgets."""
        rect = self.message_rect()
        return self.fontMetrics().elidedText(self.currentMessage(), Qt.TextElideMode.ElideRight, rect.width())

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 (Qt's name)
        if not self.currentMessage():
            super().paintEvent(event)
            return
        # As QStatusBar paints a message (panel, then the text), but elided instead of clipped.
        painter = QPainter(self)
        option = QStyleOption()
        option.initFrom(self)
        self.style().drawPrimitive(QStyle.PrimitiveElement.PE_PanelStatusBar, option, painter, self)
        painter.setPen(self.palette().windowText().color())
        painter.drawText(self.message_rect(), Qt.AlignmentFlag.AlignLeading | Qt.AlignmentFlag.AlignVCenter
                         | Qt.TextFlag.TextSingleLine, self.shown_message())

    @Slot(str)
    def _on_message_changed(self, text: str) -> None:
        self.setToolTip(text)
