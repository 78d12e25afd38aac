"""File › Import… in the window: the import runs on a worker thread, the run it made opens as the
current run and is listed in the Runs dock; what needs a config or a checkpoint is disabled with
the reason; a bad file is a dialog and changes nothing."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtWidgets import QLabel, QLineEdit, QMessageBox, QProgressBar

from ganstudio.core.run.listing import IMPORTED
from ganstudio.core.run.state import FINISHED
from tests.qt.conftest import WAIT_MS

pytest.importorskip("tensorboard", reason="the test extra installs tensorboard")


def _dialogs(window, text: str) -> list[QMessageBox]:
    return [
        b for b in window.findChildren(QMessageBox) if b.objectName() == "error_dialog" and text in b.text()
    ]


def _log(tmp_path):
    """A TensorBoard log of another program: foreign tags and a sample image per step."""
    from torch.utils.tensorboard import SummaryWriter

    logdir = tmp_path / "other" / "logs"
    with SummaryWriter(str(logdir)) as w:
        for step in range(0, 50, 10):
            w.add_scalar("Loss/D", 1.0 / (step + 1), step)
            w.add_scalar("Loss/G", 0.5 + step, step)
            w.add_image("samples", np.full((3, 8, 8), 10 * step // 10, np.uint8), step)
    return logdir


def test_an_imported_run_opens_with_what_it_cannot_do_disabled_and_said(qtbot, make_window, tmp_path):
    window = make_window()
    s = window.session
    log = _log(tmp_path)
    assert window.files.import_path(log)
    qtbot.waitUntil(lambda: s.run_dir is not None and len(s.history) == 5, timeout=WAIT_MS)
    assert s.run_dir.parent == tmp_path / "runs" and s.run.status == FINISHED and s.run.config is None
    assert not _dialogs(window, "")
    # The status bar: the steps it logged are all it ran; its epochs are not known.
    qtbot.waitUntil(
        lambda: window.findChild(QProgressBar, "status_progress").text() == "40 / 40", timeout=WAIT_MS
    )
    assert window.findChild(QLabel, "status_epoch").text() == "epoch —"
    # Its series, by their own names, in the Logged tab; its sample grids in the timeline.
    assert "Logged" in window.plots.titles()
    window.plots.show_tab("Logged")
    window.plots.refresh()
    x, y = window.plots.curve("Logged", "Loss/G", raw=True).getData()
    assert list(x) == [0, 10, 20, 30, 40] and list(y) == [0.5, 10.5, 20.5, 30.5, 40.5]
    qtbot.waitUntil(
        lambda: s.run.latest_samples is not None and s.run.latest_samples.step == 40, timeout=WAIT_MS
    )
    # No config, no checkpoint: each such action disabled, its tooltip saying why.
    for action in (
        window.action_start,
        window.action_what_if,
        window.action_save_checkpoint,
        window.action_pause,
    ):
        assert not action.isEnabled() and "imported from" in action.toolTip(), action.objectName()
    assert window.action_export_csv.isEnabled()  # its curves export like any run's
    imported_note = window.findChild(QLabel, "imported_note")
    assert imported_note.isVisible() and f"imported from {log}" in imported_note.text()
    lr = window.hyperparams.findChild(QLineEdit, "optim.lr_g")
    assert not lr.isEnabled() and "imported from" in lr.toolTip()
    assert "imported from" in s.handle.edit_problem()
    assert "no generator to explore" in s.handle.generator().note
    # Listed in the Runs dock as an imported run, with where it came from.
    qtbot.waitUntil(lambda: window.runs.info(s.run_dir) is not None, timeout=WAIT_MS)
    info = window.runs.info(s.run_dir)
    assert info.arch == IMPORTED and info.status == FINISHED and "imported from" in info.note
    # File › New Run: a config of its own again, editable.
    s.new_run()
    assert not imported_note.isVisible() and s.handle.edit_problem() == ""


def test_a_file_that_cannot_be_imported_is_a_dialog_and_changes_nothing(qtbot, make_window, tmp_path):
    window = make_window()
    bad = tmp_path / "curves.csv"
    bad.write_text("epoch,loss\n1,0.5\n")
    assert window.files.import_path(bad)
    qtbot.waitUntil(lambda: bool(_dialogs(window, "has no 'step' column")), timeout=WAIT_MS)
    (box,) = _dialogs(window, "Import failed")
    assert not box.detailedText()  # bad input: the message says it all, no traceback
    assert window.session.run_dir is None
    assert not (tmp_path / "runs").exists() or not list((tmp_path / "runs").iterdir())
    qtbot.waitUntil(lambda: not window.files.importer.busy, timeout=WAIT_MS)
