"""File › Export from the window: the writing runs on a worker thread, and what it says comes back
to the GUI thread (the status bar, a dialog). The thread guard in conftest fails these tests should
any of it touch a widget from the worker thread, as lambdas connected to the worker's signals did."""

from __future__ import annotations

import csv
import sys

from PySide6.QtWidgets import QApplication, QMessageBox

from ganstudio.core.run.tensorboard import INSTALL
from tests.qt.conftest import WAIT_MS


def _opened(qtbot, make_window, trained_run):
    """A window following the finished `trained_run`, with the status bar's messages in
    `window.messages` (a later message may replace one before a check sees it)."""
    window = make_window()
    window.open_run(trained_run)
    qtbot.waitUntil(lambda: window.action_export_csv.isEnabled(), timeout=WAIT_MS)
    window.messages = []
    window.statusBar().messageChanged.connect(window.messages.append)
    return window


def _said(window, text: str) -> str | None:
    return next((m for m in window.messages if text in m), None)


def test_csv_export_says_where_in_the_status_bar(qtbot, make_window, trained_run, tmp_path):
    window = _opened(qtbot, make_window, trained_run)
    target = tmp_path / "out" / "curves.csv"
    window.export_run("csv", target)
    assert not window.action_export_csv.isEnabled()  # one export at a time
    qtbot.waitUntil(
        lambda: bool(_said(window, "Exported")) and window.action_export_csv.isEnabled(), timeout=WAIT_MS
    )
    assert str(target) in _said(window, "Exported")
    with open(target, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    assert rows[0][:3] == ["step", "epoch", "wall"] and len(rows) == 11
    assert [p.name for p in target.parent.iterdir()] == ["curves.csv"]  # no temporary file left


def test_tensorboard_export_writes_event_files(qtbot, make_window, trained_run, tmp_path):
    window = _opened(qtbot, make_window, trained_run)
    window.export_run("tensorboard", tmp_path / "tb")
    qtbot.waitUntil(lambda: _said(window, "Exported to") is not None, timeout=WAIT_MS)
    assert any((tmp_path / "tb" / trained_run.name).glob("events.out.tfevents.*"))


def test_tensorboard_missing_is_a_dialog_of_the_window_and_leaves_no_folder(
    qtbot, make_window, trained_run, tmp_path, monkeypatch
):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)
    window = _opened(qtbot, make_window, trained_run)
    target = tmp_path / "new" / "tb"
    window.export_run("tensorboard", target)

    def dialog():
        boxes = [b for b in window.findChildren(QMessageBox) if b.objectName() == "error_dialog"]
        return boxes[0] if boxes else None

    qtbot.waitUntil(lambda: dialog() is not None, timeout=WAIT_MS)
    box = dialog()
    # Made by the GUI thread, as a child of the window: in front of it, taking Return and Escape.
    assert box.thread() is QApplication.instance().thread() and box.parent() is window
    assert "needs the tensorboard package" in box.text() and INSTALL in box.text()
    assert 'pip install -e ".[tensorboard]"' in box.text()  # the README's words
    qtbot.waitUntil(lambda: window.action_export_tensorboard.isEnabled(), timeout=WAIT_MS)
    assert not (tmp_path / "new").exists()


def test_a_failed_csv_export_keeps_the_old_file_and_makes_no_folder(
    qtbot, make_window, trained_run, tmp_path, monkeypatch
):
    import ganstudio.core.run.export as export

    window = _opened(qtbot, make_window, trained_run)
    old = tmp_path / "curves.csv"
    old.write_text("the old export\n")

    def full_disk(*_args, **_kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(export.os, "replace", full_disk)

    def error_dialog():
        boxes = window.findChildren(QMessageBox)
        return boxes[0] if boxes else None

    window.export_run("csv", old)
    qtbot.waitUntil(lambda: error_dialog() is not None, timeout=WAIT_MS)
    box = error_dialog()
    assert "Export failed" in box.text() and "disk is full" in box.text() and not box.detailedText()
    assert old.read_text() == "the old export\n"
    assert not list(tmp_path.glob(".*.tmp"))
    box.close()
    qtbot.waitUntil(lambda: error_dialog() is None and window.action_export_csv.isEnabled(), timeout=WAIT_MS)
    window.export_run("csv", tmp_path / "made" / "deeper" / "curves.csv")
    qtbot.waitUntil(lambda: error_dialog() is not None, timeout=WAIT_MS)
    assert not (tmp_path / "made").exists()
