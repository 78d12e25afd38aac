"""A bug's exception that nothing caught is said in the window (message, traceback behind Details),
from the GUI thread's slots and from other threads, one message per burst; the hooks it replaced
still run and come back when it is uninstalled."""

from __future__ import annotations

import sys
import threading

import pytest
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QMessageBox

from ganstudio.qt import unexpected
from ganstudio.qt.unexpected import UnexpectedErrors
from tests.qt.conftest import WAIT_MS


def error_boxes(window) -> list[QMessageBox]:
    return [b for b in window.findChildren(QMessageBox, "error_dialog") if b.isVisible()]


@pytest.mark.qt_no_exception_capture
def test_an_exception_in_a_slot_and_in_a_thread_is_a_message_in_the_window(window, qtbot, monkeypatch):
    seen: list[type] = []
    monkeypatch.setattr(sys, "excepthook", lambda t, e, tb: seen.append(t))
    monkeypatch.setattr(threading, "excepthook", lambda args: seen.append(args.exc_type))
    monkeypatch.setattr(unexpected, "MIN_GAP_S", 0.0)
    window.unexpected.install()
    try:

        def clicked() -> None:
            raise ValueError("the slot's own bug")

        QTimer.singleShot(0, clicked)  # as a button's slot would run
        qtbot.waitUntil(lambda: len(error_boxes(window)) == 1, timeout=WAIT_MS)
        box = error_boxes(window)[0]
        assert "unexpected error: ValueError: the slot's own bug." in box.text()
        assert "run folder and its checkpoints are on disk" in box.text()
        assert "in clicked" in box.detailedText() and "Traceback" not in box.text()
        box.close()

        def work() -> None:
            raise KeyError("from a thread")

        thread = threading.Thread(target=work, name="some-reader")
        thread.start()
        thread.join()
        qtbot.waitUntil(lambda: len(error_boxes(window)) == 1, timeout=WAIT_MS)
        assert "in the thread 'some-reader'" in error_boxes(window)[0].text()
        assert "KeyError" in error_boxes(window)[0].text()
    finally:
        window.unexpected.uninstall()
    assert seen == [ValueError, KeyError]  # the hooks it replaced still ran
    assert sys.excepthook is not window.unexpected._hook


def test_a_burst_is_one_message_and_the_next_says_how_many_were_not_shown(qtbot, monkeypatch):
    errors = UnexpectedErrors()
    said: list[str] = []
    errors.occurred.connect(lambda message, _details: said.append(message))
    for i in range(30):  # a paint that fails every frame
        errors.report(RuntimeError, RuntimeError(f"frame {i}"), None)
    assert len(said) == 1 and "frame 0" in said[0] and "more unexpected" not in said[0]
    monkeypatch.setattr(unexpected, "MIN_GAP_S", 0.0)
    errors.report(RuntimeError, RuntimeError("later"), None)
    assert len(said) == 2 and "(29 more unexpected error(s) came before this one" in said[1]
