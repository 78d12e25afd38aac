"""Desktop notifications: a system tray message when the run the window shows raises an alert,
finishes or fails while the window is not the active one (another app in front, minimised).

Fed by the run model's change notifications, like the Alerts panel: whatever the run's source (the
app's training thread, a followed folder), the same events arrive. A run's history read when it is
opened or first followed is not news: only what arrives once the run was seen live is told. At most
one message per kind and run every RATE_S seconds (core.run.notify.RateLimit). Nothing where the
desktop has no system tray.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, Slot
from PySide6.QtWidgets import QSystemTrayIcon, QWidget

from ganstudio.core.config import run_name
from ganstudio.core.run.events import Alert, Failed, Finished
from ganstudio.core.run.notify import FAILED_KIND, RateLimit
from ganstudio.core.run.state import COMPLETED
from ganstudio.qt.panels.alerts import TITLES
from ganstudio.qt.run_model import RunChanges, RunModel

RATE_S = 300.0
MESSAGE_MS = 10_000
BODY_MAX = 240


def tray_for(window: QWidget) -> QSystemTrayIcon | None:
    """The app's tray icon (shown: some desktops show messages only from a visible one), or None
    where the desktop has no system tray."""
    if not QSystemTrayIcon.isSystemTrayAvailable():
        return None
    tray = QSystemTrayIcon(window.windowIcon(), window)
    tray.setToolTip("GAN Studio")
    tray.show()
    return tray


class DesktopNotifications(QObject):
    """Shows the model's news on `tray` (anything with showMessage(title, text, icon, ms); None:
    nothing) while `active()` (default: the window is the active window) is False."""

    def __init__(
        self,
        window: QWidget,
        model: RunModel,
        tray: Any = None,
        *,
        active: Callable[[], bool] | None = None,
        limit: RateLimit | None = None,
    ):
        super().__init__(window)
        self._window = window
        self._model = model
        self.tray = tray
        self._active = active or window.isActiveWindow
        self._limit = limit or RateLimit(RATE_S)
        self._run = 0  # which run the model shows: a new one is counted apart by the rate limit
        self._live = False  # the run was seen training: what arrives now is news
        model.changed.connect(self._on_model_changed)
        model.reset.connect(self._on_model_reset)

    @Slot()
    def _on_model_reset(self) -> None:
        self._run += 1
        self._live = False

    @Slot(object)
    def _on_model_changed(self, changes: RunChanges) -> None:
        news = self._live
        self._live = self._live or self._model.state.alive
        if not news or self.tray is None:
            return
        for ev in changes.events:
            said = _describe(ev)
            if said is None or self._active():
                continue
            kind, title, text = said
            if self._limit.allow((self._run, kind)):
                self._show(title, text, ev)

    def _show(self, title: str, text: str, ev: Any) -> None:
        cfg = self._model.state.config
        name = run_name(cfg) if cfg is not None else "the run"
        body = f"{name}, step {ev.step:,}: {text}"
        if len(body) > BODY_MAX:
            body = body[: BODY_MAX - 1] + "…"
        failed = isinstance(ev, Failed)
        icon = QSystemTrayIcon.MessageIcon.Critical if failed else QSystemTrayIcon.MessageIcon.Warning
        if isinstance(ev, Finished):
            icon = QSystemTrayIcon.MessageIcon.Information
        self.tray.showMessage(f"GAN Studio — {title}", body, icon, MESSAGE_MS)


def _describe(ev: Any) -> tuple[str, str, str] | None:
    """(kind for the rate limit, title, text) for news worth a message; None otherwise."""
    if isinstance(ev, Alert):
        if ev.kind in Alert.REQUEST_KINDS or ev.kind == FAILED_KIND:
            return None  # an answer to a request made here; the webhook's own trouble
        return ev.kind, TITLES.get(ev.kind, ev.kind), ev.message
    if isinstance(ev, Finished):
        if ev.reason == COMPLETED:
            return "finished", "Run finished", "training completed"
        return None  # stopped: by someone here, or with an alert that says why
    if isinstance(ev, Failed):
        return "failed", "Run failed", ev.message
    return None
