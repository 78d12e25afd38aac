"""The window's status bar: the run's status, progress, rate and where it trains (StatusView, a
view of the session's run), and messages that never run into those widgets (StatusBar).

QStatusBar clips a message at the first permanent widget, mid-word ("…a dif|Following · Paused").
StatusBar draws the message elided to the room there is ("…a diff…"), and keeps the whole text in
its tooltip while the message shows; `currentMessage()` is still the whole text.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QRect, Qt, Slot
from PySide6.QtGui import QPainter, QPaintEvent
from PySide6.QtWidgets import QLabel, QProgressBar, QStatusBar, QStyle, QStyleOption, QWidget

from ganstudio.core.run.listing import fmt_duration
from ganstudio.core.run.state import FAILED, FINISHED, NEW, STALE
from ganstudio.qt.states import PAUSED, RUNNING, STARTING, STOPPED, STOPPING

if TYPE_CHECKING:
    from ganstudio.qt.session import Session

# One vocabulary: the run's own status (RunState's) in the window's words, for any run; while a
# start or a stop is pending, that; with no model at all, "Ready".
RUN_STATUS = {
    "running": "Training",
    "paused": "Paused",
    "finished": "Finished",
    "stopped": "Stopped",
    "failed": "Failed",
    "stale": "Stale",
    "new": "Waiting",
}
PENDING = {STARTING: "Starting…", STOPPING: "Stopping…"}


def status_text(s: Session) -> str:
    """What the run is doing, in RUN_STATUS's words (with the reason it ended, where it ended)."""
    run = s.run
    if s.state in PENDING:
        return PENDING[s.state]
    if not s.has_model:
        return "Ready"
    if s.state in (RUNNING, PAUSED):
        return RUN_STATUS[s.state]
    status = run.status
    if status in (RUNNING, PAUSED) or (status == NEW and not s.following):
        status = STOPPED  # the run says it was training when saved; here it trains no more
    if status == STALE:
        return RUN_STATUS[STALE] + " (no heartbeat: the process died, or the folder stopped syncing)"
    if status == FINISHED and run.finish_reason:
        return f"Finished ({run.finish_reason})"
    if status == FAILED and run.failure is not None:
        return f"Failed: {run.failure.message[:80]}"
    return RUN_STATUS.get(status, status)


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
        painter.drawText(
            self.message_rect(),
            Qt.AlignmentFlag.AlignLeading | Qt.AlignmentFlag.AlignVCenter | Qt.TextFlag.TextSingleLine,
            self.shown_message(),
        )

    @Slot(str)
    def _on_message_changed(self, text: str) -> None:
        self.setToolTip(text)


class StatusView:
    """The permanent widgets of the status bar, drawn from the session's run: its status (the
    session's state for the app's own run, the run's for a followed one), the progress, epoch,
    rate and ETA, and where it trains."""

    def __init__(self, session: Session, bar: StatusBar):
        self._session = session
        self.state = QLabel("Ready", objectName="status_state")
        self.progress = QProgressBar(objectName="status_progress")
        self.progress.setMaximumWidth(220)
        self.epoch = QLabel(objectName="status_epoch")
        self.rate = QLabel(objectName="status_rate")
        self.eta = QLabel(objectName="status_eta")
        self.device = QLabel(objectName="status_device")
        for w in (self.state, self.progress, self.epoch, self.rate, self.eta, self.device):
            bar.addPermanentWidget(w)
        self.update_progress()

    def update_state(self, text: str | None = None) -> None:
        """The status text now, or `text` (such as "Saving and stopping…" while closing)."""
        s = self._session
        if text is not None:
            self.state.setText(text)
            return
        said = status_text(s)
        if not s.following:
            self.state.setToolTip("")
            self.state.setText(said)
            return
        self.state.setText(("Watching · " if s.watch_only else "Following · ") + said)
        self.state.setToolTip(f"{s.run_dir}\n{s.watch_only}" if s.watch_only else str(s.run_dir))

    def update_progress(self) -> None:
        s = self._session
        # A followed run says its own planned steps (an imported one: those it logged).
        total = max(1, s.total_steps if s.following else s.config.train.steps)
        step = s.step
        self.progress.setMaximum(total)
        # The text is set as a literal: with a "%v" format, QProgressBar repaints synchronously on
        # every setValue (0.6 ms, 20 times a second while training); this way it just updates.
        self.progress.setFormat(f"{step} / {total}")
        self.progress.setValue(min(step, total))
        last = s.run.last_stats
        if last is not None and s.history is not None and len(s.history):
            # An imported run's epochs are not known (its data is not).
            known = s.run.config is not None or not s.following
            self.epoch.setText(f"epoch {last.epoch:.1f}" if known else "epoch —")
            if s.state == RUNNING:
                rate = last.values.get("steps_per_s", 0.0)
                self.rate.setText(f"{rate:,.0f} it/s")
                eta = (total - step) / rate if rate > 0 else float("nan")
                self.eta.setText(f"ETA {fmt_duration(eta, '—')}")
            else:  # the last rate is not what training does now: paused, nothing at all
                self.rate.setText("paused" if s.state == PAUSED else "— it/s")
                self.eta.setText("ETA —")
        else:
            self.epoch.setText("epoch —")
            self.rate.setText("— it/s")
            self.eta.setText("ETA —")
        if not self.device.text():
            self.device.setText("device: " + s.config.train.device)

    def update_where(self) -> None:
        """Where the run trains: device and threads; for a run followed, its host and processes."""
        s, run = self._session, self._session.run
        parts = []
        if s.following and run.host:
            parts.append(run.host + (f" (pid {run.pid})" if run.pid else ""))
        if run.device:
            parts.append(run.device)
        if run.world_size > 1:
            parts.append(f"{run.world_size} processes ({run.backend or 'distributed'})")
        elif run.threads:
            parts.append(f"{run.threads} thread{'s' if run.threads != 1 else ''}")
        self.device.setText(" · ".join(parts))

    def clear_where(self) -> None:
        self.device.setText("")
