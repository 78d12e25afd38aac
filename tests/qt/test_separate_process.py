"""Training › Train in a Separate Process: a new run trains in a child process of the app
(`ganstudio train` in its run folder), followed and steered through the folder like any run; the
choice is kept in the settings, and off (the default) the app trains on its worker thread."""

from __future__ import annotations

from PySide6.QtGui import QAction

from ganstudio.core.run.folder import RunFolder
from ganstudio.qt import window_settings
from ganstudio.qt.folder_run import FolderRun
from ganstudio.qt.run_handle import LocalRun


def action(window, name: str) -> QAction:
    a = window.findChild(QAction, name)
    assert a is not None, name
    return a


def test_off_by_default_a_run_trains_on_the_worker_thread(qtbot, make_window, settings):
    window = make_window(train__steps=5)
    assert not action(window, "action_separate_process").isChecked()
    action(window, "action_start").trigger()
    qtbot.waitUntil(lambda: window.session.state == "stopped", timeout=60_000)
    assert isinstance(window.session.handle, LocalRun)
    assert window.forks.running() == 0
    assert not window_settings.separate_process(settings)


def test_on_a_new_run_trains_in_a_child_process_followed_and_stopped(qtbot, make_window, settings):
    window = make_window(train__steps=1_000_000, log__sample_every=0, log__checkpoint_every=0)
    s = window.session
    action(window, "action_separate_process").trigger()
    assert window_settings.separate_process(settings)  # kept for the next session
    action(window, "action_start").trigger()
    assert isinstance(s.handle, FolderRun) and s.following
    assert window.forks.running() == 1
    qtbot.waitUntil(lambda: len(s.history) >= 3, timeout=60_000)  # drawn as the process logs
    action(window, "action_pause").trigger()  # steered through the folder's control file
    qtbot.waitUntil(lambda: s.run.status == "paused", timeout=60_000)
    action(window, "action_stop").trigger()
    qtbot.waitUntil(lambda: s.run.status == "stopped", timeout=60_000)
    assert RunFolder(s.run_dir).latest_checkpoint() is not None  # the process saved, then ended
    qtbot.waitUntil(lambda: window.forks.running() == 0, timeout=60_000)
    # Start now continues the followed run from its checkpoint (a run, not a new one): no process.
    assert not s.starts_new_run()


def test_the_choice_is_read_back_from_the_settings(make_window, settings):
    window_settings.set_separate_process(settings, True)
    window = make_window()
    assert action(window, "action_separate_process").isChecked()
