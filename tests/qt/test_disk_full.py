"""A full disk in the app: when no checkpoint could be written for 3 checkpoint intervals in a row,
the run pauses and a dialog says where, how much space is free and what to do (the CLI stops with
the same message); freed, Resume goes on and the checkpoints are written again."""

from __future__ import annotations

import errno
import os

from PySide6.QtGui import QAction
from PySide6.QtWidgets import QMessageBox

from tests.qt.conftest import LONG_RUN, WAIT_MS, stop_and_wait


def _action(window, name: str) -> QAction:
    a = window.findChild(QAction, name)
    assert a is not None, f"no QAction named {name!r}"
    return a


def _dialog(window, name: str, containing: str) -> QMessageBox | None:
    return next(
        (
            b
            for b in window.findChildren(QMessageBox)
            if b.objectName() == name and b.isVisible() and containing in b.text()
        ),
        None,
    )


def test_checkpoints_that_cannot_be_written_pause_the_run_with_a_dialog(qtbot, make_window, monkeypatch):
    real = os.replace
    disk = {"full": True, "saves": 0}

    def replace(src, dst, *a, **k):  # the rename that finishes each checkpoint's atomic save
        if str(dst).endswith(".pt"):
            disk["saves"] += 1
            if disk["full"] and disk["saves"] > 2:  # step-2.pt and latest.pt fit, then nothing
                raise OSError(errno.ENOSPC, "No space left on device")
        return real(src, dst, *a, **k)

    monkeypatch.setattr(os, "replace", replace)
    window = make_window(train__steps=LONG_RUN, log__checkpoint_every=2, log__sample_every=0)
    _action(window, "action_start").trigger()
    qtbot.waitUntil(
        lambda: _dialog(window, "error_dialog", "no checkpoint could be written") is not None, timeout=WAIT_MS
    )
    qtbot.waitUntil(lambda: window.session.state == "paused", timeout=WAIT_MS)
    text = _dialog(window, "error_dialog", "no checkpoint could be written").text()
    checkpoints_dir = window.session.folder.checkpoints_dir
    for words in (
        "Training is paused",
        "3 checkpoint intervals in a row (steps 4, 6, 8)",
        f"in {checkpoints_dir} (",
        " free there)",
        "Free some space on that disk, then press Resume",
        f"The last checkpoint written, {checkpoints_dir / 'latest.pt'}, is kept",
    ):
        assert words in text, (words, text)
    halts = [a for a in window.session.run.alerts if "no checkpoint could be written" in a.message]
    assert len(halts) == 1 and halts[0].message in text  # the run's one alert: the same message

    disk["full"] = False  # space freed: Resume goes on, and the next checkpoint tells the count
    _dialog(window, "error_dialog", "no checkpoint could be written").close()
    _action(window, "action_pause").trigger()
    qtbot.waitUntil(
        lambda: any("writing works again" in a.message for a in window.session.run.alerts), timeout=WAIT_MS
    )
    (told,) = [a for a in window.session.run.alerts if "writing works again" in a.message]
    assert told.message.startswith("2 more checkpoint writes failed after the first (steps 6 to 8)"), told
    assert window.session.state == "running"
    stop_and_wait(qtbot, window)
