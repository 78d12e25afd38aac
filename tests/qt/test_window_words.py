"""What the window says about itself: why an action is disabled, the status bar's messages beside
its permanent widgets, the title naming the run and preset, the View menu's names, and dialogs
naming fields as the window does."""

from __future__ import annotations

import pytest
from PySide6.QtWidgets import QMessageBox

from ganstudio.core.config import presets
from ganstudio.core.run.events import Alert
from tests.qt.conftest import LONG_RUN, WAIT_MS, stop_and_wait
from tests.qt.test_main_window import action, type_value


def menu_actions(window) -> list:
    """Every action the menus and the toolbar offer (with a 'tip': the window's own)."""
    return [a for a in window.actions() if a.property("tip")]


def unexplained(window) -> list[str]:
    """Disabled actions whose tooltip does not say why."""
    return [
        a.objectName()
        for a in menu_actions(window)
        if not a.isEnabled() and "not now:" not in a.toolTip().lower()
    ]


def test_every_disabled_action_says_why_in_every_state(qtbot, make_window, trained_run):
    window = make_window(train__steps=LONG_RUN)
    s = window.session
    assert len(menu_actions(window)) >= 15
    assert unexplained(window) == []  # a fresh window: Pause, Stop, Save... say "nothing is training"
    assert "press Start" in action(window, "action_pause").toolTip()
    processes = action(window, "action_start_processes")
    assert processes.isEnabled()

    action(window, "action_start").trigger()
    qtbot.waitUntil(lambda: s.state == "running", timeout=WAIT_MS)
    assert unexplained(window) == []
    assert "training is running" in action(window, "action_open_checkpoint").toolTip()
    action(window, "action_pause").trigger()
    qtbot.waitUntil(lambda: s.state == "paused", timeout=WAIT_MS)
    assert unexplained(window) == []
    stop_and_wait(qtbot, window)
    assert unexplained(window) == []
    # A model exists: Start on N Processes (a new run) says how to get there.
    assert not processes.isEnabled() and "File › New Run" in processes.toolTip()

    window.open_run(trained_run)  # a finished run of 20 steps, followed
    qtbot.waitUntil(lambda: s.following and s.run.status == "finished", timeout=WAIT_MS)
    assert unexplained(window) == []
    # Nothing enabled that would refuse: Continue at train.steps is off, and says what to do.
    start = action(window, "action_start")
    assert not start.isEnabled() and "raise Steps" in start.toolTip()
    type_value(qtbot, window, "train.steps", "30")
    qtbot.waitUntil(start.isEnabled, timeout=WAIT_MS)
    assert "not now" not in start.toolTip() and "Continue this run" in start.toolTip()


def test_a_long_message_is_elided_before_the_permanent_widgets(qtbot, window):
    window.resize(760, 500)
    window.status_state.setText("Following · Paused")
    bar = window.statusBar()
    text = "Exported 10 rows to /a/rather/long/path/that/does/not/fit/beside/the/permanent/widgets/curves.csv"
    bar.showMessage(text)
    qtbot.waitUntil(lambda: bar.message_rect().width() > 0, timeout=WAIT_MS)
    shown = bar.shown_message()
    assert shown.endswith("…") and shown != text
    assert bar.fontMetrics().horizontalAdvance(shown) <= bar.message_rect().width()
    assert bar.message_rect().right() < window.status_state.x()
    assert bar.currentMessage() == text and bar.toolTip() == text  # all of it, on hover
    bar.showMessage("Saved")
    assert bar.shown_message() == "Saved"


def test_the_title_names_the_run_and_the_preset(qtbot, make_window, trained_run, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the preset writes its run folders under the relative "runs"
    cfg = presets.get("ring8")
    window = make_window(config=cfg)
    s = window.session
    assert window.windowTitle() == "ring8 — GAN Studio"
    action(window, "action_start").trigger()
    qtbot.waitUntil(lambda: s.run_dir is not None and s.step > 0, timeout=WAIT_MS)
    assert window.windowTitle() == f"{s.run_dir.name} · ring8 — GAN Studio"
    stop_and_wait(qtbot, window)
    assert s.run_dir.name in window.windowTitle()
    window.open_run(trained_run)
    qtbot.waitUntil(lambda: s.following and trained_run.name in window.windowTitle(), timeout=WAIT_MS)


def test_the_view_menu_names_the_alerts_dock_whatever_its_tab_counts(window):
    dock = window._docks["alerts"]
    window.session.model.apply([Alert(step=5, kind="d_wins", message="D wins", evidence={})])
    assert dock.windowTitle() == "⚠ 1" and dock.toggleViewAction().text() == "Alerts"
    view = next(a.menu() for a in window.menuBar().actions() if a.text() == "&View")
    assert "Alerts" in [a.text() for a in view.actions()]
    assert not any(a.text().startswith("⚠") for a in view.actions())


@pytest.mark.parametrize("problem", ["file", "unwritable"])
def test_a_bad_runs_folder_is_named_as_the_field_is(qtbot, make_window, tmp_path, problem, monkeypatch):
    out = tmp_path / "out"
    out.write_text("a file where the runs folder should be")
    window = make_window(log__out=str(out / "runs") if problem == "unwritable" else str(out))
    action(window, "action_start").trigger()

    def dialog():
        boxes = window.findChildren(QMessageBox)
        return boxes[0] if boxes else None

    qtbot.waitUntil(lambda: dialog() is not None and not window.session.busy, timeout=WAIT_MS)
    text = dialog().text()
    assert "runs folder (log.out)" in text.lower() and "--out" not in text
