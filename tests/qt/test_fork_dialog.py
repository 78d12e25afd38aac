"""The fork dialog (Fork from a checkpoint, What If): what it starts from, and how it reads."""

from __future__ import annotations

from PySide6.QtWidgets import QDialogButtonBox

from ganstudio.core.config import Config
from ganstudio.qt.fork import EDITED, SHOWN_KEYS, ForkDialog


def test_fork_from_shows_the_checkpoints_values_not_the_runs_now(make_window, trained_run):
    # The window's config has another lr_d (as after a live edit past the checkpoint's step).
    window = make_window(optim__lr_d=0.0015)
    asked = []
    window.ask_forks = lambda cfg, count, title, base_label: asked.append((cfg, base_label)) and None
    window.fork_from(str(trained_run / "checkpoints" / "step-000000010.pt"))
    [(cfg, label)] = asked
    assert cfg.optim.lr_d == 0.0002 and label == "step 10"


def test_fork_from_a_damaged_checkpoint_says_so_and_asks_nothing(make_window, tmp_path):
    window = make_window()
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    asked = []
    window.ask_forks = lambda *args: asked.append(args)
    window.fork_from(str(bad))
    assert not asked
    [box] = window._dialogs
    assert "Cannot fork from it" in box.text() and "bad.pt" in box.text()


def test_every_fork_column_is_in_view_and_edited_values_are_marked(qtbot):
    dialog = ForkDialog(Config(), 2, "What If", base_label="step 4,000")
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)
    table = dialog.table
    header = table.horizontalHeader()
    assert [table.horizontalHeaderItem(c).text() for c in range(3)] == ["step 4,000", "fork A", "fork B"]
    last = table.columnCount() - 1
    # Fork B's column ends inside the visible part of the table: nothing to scroll to.
    assert header.sectionViewportPosition(last) + header.sectionSize(last) <= table.viewport().width()
    assert table.horizontalScrollBar().maximum() == 0

    row = SHOWN_KEYS.index("optim.lr_d")
    cell = table.item(row, 2)
    cell.setText("0.001")
    assert cell.background().color() == EDITED and cell.font().bold()
    assert not table.item(row, 1).font().bold()  # fork A's untouched value is not marked
    assert dialog.overrides() == [[], ["optim.lr_d=0.001"]]
    cell.setText("0.0002")  # back to the checkpoint's value: no longer marked
    assert not cell.font().bold() and dialog.overrides() == [[], []]
    cell.setText("-1")
    assert not dialog.buttons.button(QDialogButtonBox.StandardButton.Ok).isEnabled()
    assert "fork B" in dialog.problem.text() and "optim.lr_d" in dialog.problem.text()
