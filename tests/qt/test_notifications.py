"""Desktop notifications (qt/notifications.py): a tray message for an alert or the run's end while
the window is not the active one, none while it is, one per kind and run per few minutes."""

from __future__ import annotations

from PySide6.QtGui import QAction
from PySide6.QtWidgets import QApplication, QWidget

from ganstudio.core.run.events import Alert, Failed, Finished, RunStarted
from ganstudio.core.run.notify import RateLimit
from ganstudio.qt.notifications import DesktopNotifications
from ganstudio.qt.run_model import RunModel
from tests.qt.conftest import WAIT_MS


class FakeTray:
    def __init__(self):
        self.messages: list[tuple[str, str]] = []

    def showMessage(self, title, text, *args):  # noqa: N802 (Qt's name)
        self.messages.append((title, text))


def _started() -> RunStarted:
    return RunStarted(run_dir=None, config={}, device="cpu", step=0, total_steps=100, threads=1)


def _alert(kind: str, step: int) -> Alert:
    return Alert(step=step, kind=kind, message=f"{kind} at {step}")


def _setup(qtbot, active: bool, now: list[float] | None = None):
    window = QWidget()
    qtbot.addWidget(window)
    model = RunModel(window)
    tray = FakeTray()
    clock = (lambda: now[0]) if now is not None else None
    limit = RateLimit(300.0, clock=clock) if clock else None
    notes = DesktopNotifications(window, model, tray, active=lambda: active, limit=limit)
    return model, tray, notes


def test_an_inactive_window_gets_one_message_per_kind(qtbot):
    model, tray, _ = _setup(qtbot, active=False)
    model.apply([_started()])
    model.apply([_alert("d_wins", 10), _alert("d_wins", 20), _alert("collapse", 20)])
    model.apply([_alert("config", 30)])  # an answer to a request made here: no message
    model.apply([_alert("d_wins", 40)])
    model.apply([Failed(step=50, message="CUDA out of memory")])
    titles = [t for t, _ in tray.messages]
    assert titles == [
        "GAN Studio — Discriminator winning",
        "GAN Studio — Collapse",
        "GAN Studio — Run failed",
    ]
    assert tray.messages[0][1] == "the run, step 10: d_wins at 10"
    assert "CUDA out of memory" in tray.messages[2][1]


def test_an_active_window_gets_none(qtbot):
    model, tray, _ = _setup(qtbot, active=True)
    model.apply([_started()])
    model.apply([_alert("d_wins", 10), Finished(step=100, reason="completed")])
    assert tray.messages == []


def test_rate_limit_per_kind_and_run(qtbot):
    now = [0.0]
    model, tray, _ = _setup(qtbot, active=False, now=now)
    model.apply([_started()])
    model.apply([_alert("d_wins", 10)])
    now[0] = 299.0
    model.apply([_alert("d_wins", 20)])
    now[0] = 301.0
    model.apply([_alert("d_wins", 30)])
    assert [text for _, text in tray.messages] == [
        "the run, step 10: d_wins at 10",
        "the run, step 30: d_wins at 30",
    ]
    model.start_over()  # another run: its own count
    model.apply([_started()])
    model.apply([_alert("d_wins", 5)])
    assert len(tray.messages) == 3


def test_history_read_when_a_run_is_opened_is_not_news(qtbot):
    model, tray, _ = _setup(qtbot, active=False)
    model.apply([_started(), _alert("d_wins", 10), Finished(step=100, reason="completed")])  # a finished run
    model.apply([_alert("collapse", 100)])
    assert tray.messages == []


def test_no_tray_no_message(qtbot):
    window = QWidget()
    qtbot.addWidget(window)
    model = RunModel(window)
    DesktopNotifications(window, model, None, active=lambda: False)
    model.apply([_started(), _alert("d_wins", 1)])
    model.apply([_alert("collapse", 2)])  # nothing to show it on, and no error


def test_the_window_tells_a_run_finished_while_another_window_is_active(qtbot, make_window):
    """The real window, trained through its Start action: inactive, the tray gets the alert and the
    end; the notifications object is the one build_window made."""
    window = make_window(health__grad_max=1e-9)
    tray = FakeTray()
    window.notifications.tray = tray
    other = QWidget()
    qtbot.addWidget(other)
    other.show()
    other.activateWindow()
    qtbot.waitUntil(lambda: not window.isActiveWindow(), timeout=WAIT_MS)
    window.findChild(QAction, "action_start").trigger()
    qtbot.waitUntil(lambda: window.session.model.state.status == "finished", timeout=WAIT_MS)
    QApplication.processEvents()
    titles = [t for t, _ in tray.messages]
    assert titles == ["GAN Studio — Exploding gradients", "GAN Studio — Run finished"]
