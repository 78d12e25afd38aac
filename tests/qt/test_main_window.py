"""The real main window, driven through its actions and widgets on tiny digits runs.

Every wait is for a signal or a condition (qtbot.waitUntil / waitSignal) with a generous timeout;
a typical wait ends within a second.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QTimer, QUrl
from PySide6.QtGui import QAction, QDragEnterEvent, QDropEvent, QKeySequence
from PySide6.QtWidgets import QApplication, QLineEdit, QListWidget, QMessageBox, QProgressBar, QWidget

from ganstudio.core import config as cfgmod
from ganstudio.core.checkpoint import io as checkpoints
from ganstudio.core.run.events import CheckpointSaved, Stats
from ganstudio.core.run.history import History
from ganstudio.core.train.trainer import Trainer
from ganstudio.qt import worker as worker_module
from ganstudio.qt.app import main
from ganstudio.qt.run_handle import NEW_RUN_HINT
from tests.qt.conftest import LONG_RUN, WAIT_MS, collect, has_events, stop_and_wait

ACTIONS = (
    "action_start",
    "action_pause",
    "action_step",
    "action_stop",
    "action_save_checkpoint",
    "action_open_checkpoint",
)


# ----- helpers -----------------------------------------------------------------------------------


def action(window, name: str) -> QAction:
    a = window.findChild(QAction, name)
    assert a is not None, f"no QAction named {name!r}"
    return a


def field(window, key: str) -> QWidget:
    w = window.findChild(QWidget, key)
    assert w is not None, f"no field named {key!r}"
    return w


def type_value(qtbot, window, key: str, text: str) -> None:
    """Replace a line edit's text by typing, then press Return (which commits the edit)."""
    w = field(window, key)
    assert isinstance(w, QLineEdit)
    w.selectAll()
    qtbot.keyClicks(w, text)
    qtbot.keyClick(w, Qt.Key.Key_Return)


def dialogs(window, name: str) -> list[QMessageBox]:
    return [b for b in window.findChildren(QMessageBox) if b.objectName() == name and b.isVisible()]


def wait_dialog(qtbot, window, name: str, containing: str = "") -> QMessageBox:
    qtbot.waitUntil(lambda: any(containing in b.text() for b in dialogs(window, name)), timeout=WAIT_MS)
    return next(b for b in dialogs(window, name) if containing in b.text())


def start_and_wait(qtbot, window, steps: int = 4) -> None:
    """Start through the action and wait until `steps` steps are in the window's history."""
    action(window, "action_start").trigger()
    qtbot.waitUntil(
        lambda: window.session.state == "running" and window.session.step >= steps, timeout=WAIT_MS
    )


def curve_len(window, title: str = "Losses", key: str = "loss_d") -> int:
    x, _ = window.plots.curve(title, key).getData()
    return 0 if x is None else len(x)


def threads_running() -> list:
    out = []
    for t in list(worker_module.THREADS):
        try:
            if t.isRunning():
                out.append(t)
        except RuntimeError:  # deleted, so finished
            pass
    return out


# ----- initial state -----------------------------------------------------------------------------


def test_initial_state_has_every_action_and_field(window):
    for name in ACTIONS:
        action(window, name)
    for key in cfgmod.KEYS:
        assert field(window, key).objectName() == key
    assert action(window, "action_start").isEnabled()
    assert action(window, "action_start").text() == "&Start"
    assert not action(window, "action_pause").isEnabled()
    assert not action(window, "action_stop").isEnabled()
    assert not action(window, "action_save_checkpoint").isEnabled()
    assert action(window, "action_open_checkpoint").isEnabled()
    assert window.session.state == "idle"
    assert action(window, "action_pause").shortcut() == QKeySequence("Space")


def test_2d_lab_is_built_after_the_first_paint_or_when_asked_for(qtbot, settings):
    """The hidden 2D lab is left out of start-up: the window paints first, then builds it. Code
    that asks for `lab2d` earlier gets the real panel at once, and the same one afterwards."""
    from ganstudio.qt.app import build_window
    from ganstudio.qt.panels.lab2d import Lab2DPanel

    window = build_window(None, settings)
    qtbot.addWidget(window)
    dock = window._docks["lab2d"]
    assert dock.widget() is None  # not built yet
    assert dock.objectName() == "dock_lab2d_panel"  # the name saved window states use
    window.show()
    qtbot.waitUntil(lambda: dock.widget() is not None, timeout=WAIT_MS)
    assert isinstance(window.lab2d, Lab2DPanel) and window.lab2d is dock.widget()
    assert dock.isHidden()  # still hidden until 2D data comes

    unshown = build_window(None, settings)
    qtbot.addWidget(unshown)
    lab = unshown.lab2d  # never painted: built on demand
    assert isinstance(lab, Lab2DPanel) and unshown._docks["lab2d"].widget() is lab
    assert unshown.lab2d is lab


# ----- training --------------------------------------------------------------------------------


def test_start_trains_and_updates_every_view(qtbot, make_window):
    window = make_window(train__steps=LONG_RUN, log__sample_every=5)
    with qtbot.waitSignal(window.session.model.changed, check_params_cb=has_events(Stats), timeout=WAIT_MS):
        action(window, "action_start").trigger()
    qtbot.waitUntil(
        lambda: window.session.step >= 10 and len(window.samples.steps) > 0 and curve_len(window) > 0,
        timeout=WAIT_MS,
    )

    n = len(window.session.history)
    qtbot.waitUntil(lambda: len(window.session.history) > n, timeout=WAIT_MS)
    assert window.session.state == "running"
    assert window.samples.current_array() is not None
    assert window.samples.current_array().ndim == 3  # an HxWxC grid
    progress = window.findChild(QProgressBar, "status_progress")
    qtbot.waitUntil(lambda: progress.value() > 0, timeout=WAIT_MS)
    assert progress.maximum() == LONG_RUN
    assert progress.text() == f"{progress.value()} / {LONG_RUN}"

    assert not action(window, "action_start").isEnabled()
    assert action(window, "action_pause").isEnabled()
    assert action(window, "action_stop").isEnabled()
    assert not action(window, "action_open_checkpoint").isEnabled()
    assert not field(window, "data.dataset").isEnabled()  # not live: fixed by the models
    assert not field(window, "model.width").isEnabled()
    assert field(window, "optim.lr_g").isEnabled()  # live
    assert field(window, "train.steps").isEnabled()
    stop_and_wait(qtbot, window)


def test_pause_single_step_resume_and_stop(qtbot, make_window):
    window = make_window(train__steps=LONG_RUN, log__sample_every=1000, log__checkpoint_every=0)
    s = window.session
    start_and_wait(qtbot, window)

    action(window, "action_pause").trigger()
    qtbot.waitUntil(lambda: s.state == "paused", timeout=WAIT_MS)
    assert action(window, "action_pause").text() == "&Resume"
    assert action(window, "action_step").isEnabled()
    paused_at = s.trainer.step  # the worker thread waits between steps now

    with qtbot.waitSignal(s.model.changed, check_params_cb=has_events(Stats), timeout=WAIT_MS) as blocker:
        action(window, "action_step").trigger()
    assert [ev.step for ev in blocker.args[0].of_type(Stats)][-1] == paused_at + 1
    # A single step also draws samples; once they are in, the trainer is waiting again.
    qtbot.waitUntil(lambda: window.samples.steps[-1:] == [paused_at + 1], timeout=WAIT_MS)
    assert s.trainer.step == paused_at + 1
    assert s.step == paused_at + 1
    assert int(s.history.steps()[-1]) == paused_at + 1
    assert s.state == "paused"

    action(window, "action_pause").trigger()  # resume
    qtbot.waitUntil(lambda: s.state == "running" and s.step >= paused_at + 5, timeout=WAIT_MS)
    assert action(window, "action_pause").text() == "&Pause"

    action(window, "action_stop").trigger()
    assert s.state in ("stopping", "stopped")
    assert not action(window, "action_stop").isEnabled() or s.state == "stopped"
    qtbot.waitUntil(lambda: not s.busy, timeout=WAIT_MS)
    assert s.state == "stopped"
    assert action(window, "action_start").text() == "&Continue"
    assert action(window, "action_start").isEnabled()
    assert not action(window, "action_pause").isEnabled()
    assert not action(window, "action_stop").isEnabled()


def test_step_from_idle_runs_exactly_one_step(qtbot, make_window):
    window = make_window(log__sample_every=0)
    s = window.session
    action(window, "action_step").trigger()
    qtbot.waitUntil(lambda: s.state == "paused" and len(s.history) == 1, timeout=WAIT_MS)
    assert int(s.history.steps()[-1]) == 1
    assert s.trainer.step == 1
    stop_and_wait(qtbot, window)
    # From stopped, Step continues the same model by one step and stays paused.
    action(window, "action_step").trigger()
    qtbot.waitUntil(lambda: s.state == "paused" and len(s.history) == 2, timeout=WAIT_MS)
    assert s.history.steps().tolist() == [1, 2]
    assert s.trainer.step == 2


def test_space_toggles_pause(qtbot, make_window):
    window = make_window(train__steps=LONG_RUN)
    start_and_wait(qtbot, window)
    window.activateWindow()
    window.plots.setFocus()  # not a text field, which would take the space itself
    qtbot.keyClick(window.plots, Qt.Key.Key_Space)
    qtbot.waitUntil(lambda: window.session.state == "paused", timeout=WAIT_MS)
    qtbot.keyClick(window.plots, Qt.Key.Key_Space)
    qtbot.waitUntil(lambda: window.session.state == "running", timeout=WAIT_MS)


# ----- hyperparameters ---------------------------------------------------------------------------


def test_live_edit_reaches_the_trainer_plots_and_run_folder(qtbot, make_window):
    window = make_window(train__steps=LONG_RUN, log__sample_every=0, log__checkpoint_every=0)
    s = window.session
    start_and_wait(qtbot, window)

    type_value(qtbot, window, "optim.lr_g", "0.001")
    # Sent, and marked pending until the run applies it (its HyperparamsChanged comes back): the
    # same protocol as for a run another process trains.
    assert window.hyperparams.pending() == {"optim.lr_g"} and s.config.optim.lr_g == 2e-4
    assert field(window, "optim.lr_g").property("pending")
    qtbot.waitUntil(
        lambda: s.config.optim.lr_g == 0.001 and not window.hyperparams.pending(), timeout=WAIT_MS
    )
    assert not field(window, "optim.lr_g").property("pending")
    qtbot.waitUntil(lambda: any(m.kind == "hparams" for m in s.history.markers), timeout=WAIT_MS)
    marker = next(m for m in s.history.markers if m.kind == "hparams")
    assert "optim.lr_g" in marker.text
    qtbot.waitUntil(lambda: len(window.plots.marker_layer("Losses").x) > 0, timeout=WAIT_MS)
    qtbot.waitUntil(lambda: s.history.last("lr_g") == 0.001, timeout=WAIT_MS)

    stop_and_wait(qtbot, window)
    assert s.trainer.opt_g.param_groups[0]["lr"] == 0.001
    assert s.trainer.opt_d.param_groups[0]["lr"] == 2e-4
    assert cfgmod.load(s.run_dir / "config.toml").optim.lr_g == 0.001


def test_a_locked_key_is_refused_by_name_with_the_way_out_and_nothing_applied(qtbot, window):
    s = window.session
    action(window, "action_start").trigger()
    qtbot.waitUntil(lambda: s.state == "stopped" and s.step == 20, timeout=WAIT_MS)
    said = []
    s.error.connect(lambda message, _details: said.append(message))
    s.set_config(cfgmod.with_values(s.config, {"model.width": 64, "optim.lr_g": 1e-3}))
    assert said == [cfgmod.locked_message("model.width") + ".\n\n" + NEW_RUN_HINT]
    assert s.config.model.width != 64 and s.config.optim.lr_g == 2e-4  # the edit as a whole refused
    assert field(window, "optim.lr_g").text() == "0.0002" and not window.hyperparams.pending()


def test_edit_while_starting_reaches_the_trainer(qtbot, make_window):
    # Loading data takes a moment after Start; an edit made then must not be lost.
    window = make_window(train__steps=LONG_RUN, log__sample_every=0, log__checkpoint_every=0)
    s = window.session
    action(window, "action_start").trigger()
    assert s.state == "starting"
    type_value(qtbot, window, "optim.lr_d", "0.003")
    qtbot.waitUntil(lambda: s.state == "running" and s.history.last("lr_d") == 0.003, timeout=WAIT_MS)
    stop_and_wait(qtbot, window)
    assert s.trainer.opt_d.param_groups[0]["lr"] == 0.003
    assert s.trainer.cfg.optim.lr_d == 0.003


def test_raising_steps_after_the_end_continues_in_the_same_run_folder(qtbot, window):
    s = window.session
    action(window, "action_start").trigger()
    qtbot.waitUntil(lambda: s.state == "stopped" and s.step == 20, timeout=WAIT_MS)
    assert not action(window, "action_start").isEnabled()  # train.steps reached
    run_dir = s.run_dir

    type_value(qtbot, window, "train.steps", "26")
    assert action(window, "action_start").isEnabled()
    assert any(m.kind == "hparams" and "train.steps" in m.text for m in s.history.markers)
    # The run folder's config follows edits made while stopped, as it does while training.
    assert cfgmod.load(run_dir / "config.toml").train.steps == 26

    action(window, "action_start").trigger()
    qtbot.waitUntil(lambda: s.state == "stopped" and s.step == 26, timeout=WAIT_MS)
    assert s.run_dir == run_dir
    assert cfgmod.load(run_dir / "config.toml").train.steps == 26
    assert checkpoints.load(run_dir / "checkpoints" / "latest.pt")["step"] == 26


def test_edit_while_a_failed_open_runs_applies_on_continue(qtbot, window, tmp_path):
    s = window.session
    action(window, "action_step").trigger()
    qtbot.waitUntil(lambda: s.state == "paused" and s.step == 1, timeout=WAIT_MS)
    stop_and_wait(qtbot, window)

    window.open_checkpoint(tmp_path / "missing.pt")
    assert s.state == "starting"
    type_value(qtbot, window, "optim.lr_g", "0.0007")  # while the (failing) open runs
    wait_dialog(qtbot, window, "error_dialog", "missing.pt")
    qtbot.waitUntil(lambda: not s.busy, timeout=WAIT_MS)
    assert s.config.optim.lr_g == 0.0007

    action(window, "action_step").trigger()  # continue by one step
    qtbot.waitUntil(lambda: s.state == "paused" and s.step == 2, timeout=WAIT_MS)
    assert s.history.last("lr_g") == 0.0007
    stop_and_wait(qtbot, window)
    assert s.trainer.opt_g.param_groups[0]["lr"] == 0.0007


@pytest.mark.parametrize("bad", ["abc", "nan", "-1"])
def test_invalid_value_marks_the_field_and_blocks_start(qtbot, window, bad):
    start = action(window, "action_start")
    type_value(qtbot, window, "optim.lr_g", bad)
    errors = window.hyperparams.errors()
    assert "optim.lr_g" in errors
    assert field(window, "optim.lr_g").property("invalid") is True
    assert not start.isEnabled()
    assert not action(window, "action_step").isEnabled()
    window.start()  # even called directly, an invalid config does not train
    assert window.session.state == "idle"
    assert window.session.config.optim.lr_g == 2e-4  # the last valid value is kept

    type_value(qtbot, window, "optim.lr_g", "0.0005")
    assert window.hyperparams.errors() == {}
    assert not field(window, "optim.lr_g").property("invalid")
    assert start.isEnabled()
    assert window.session.config.optim.lr_g == 0.0005
    for box in dialogs(window, "error_dialog"):
        box.close()


# ----- checkpoints -------------------------------------------------------------------------------


def test_save_checkpoint_while_running(qtbot, make_window):
    window = make_window(train__steps=LONG_RUN, log__checkpoint_every=0)
    s = window.session
    start_and_wait(qtbot, window)
    with qtbot.waitSignal(
        s.model.changed, check_params_cb=has_events(CheckpointSaved), timeout=WAIT_MS
    ) as blocker:
        action(window, "action_save_checkpoint").trigger()
    path = Path(blocker.args[0].of_type(CheckpointSaved)[0].path)
    assert path.exists()
    assert path.parent == s.run_dir / "checkpoints"
    assert s.state == "running"
    listed = window.findChild(QListWidget, "checkpoints_list")
    qtbot.waitUntil(lambda: str(path) in window.checkpoints.paths(), timeout=WAIT_MS)
    assert listed.count() >= 1
    assert any(m.kind == "checkpoint" for m in s.history.markers)
    stop_and_wait(qtbot, window)


def test_open_checkpoint_in_a_new_window_restores_and_continues(qtbot, make_window):
    first = make_window(optim__lr_g=3e-4)
    action(first, "action_start").trigger()
    qtbot.waitUntil(lambda: first.session.state == "stopped" and first.session.step == 20, timeout=WAIT_MS)
    ckpt = first.session.run_dir / "checkpoints" / "step-000000010.pt"
    assert ckpt.exists()
    saved_history = History.from_state_dict(checkpoints.load(ckpt)["history"])

    window = make_window(optim__lr_g=1e-4, train__seed=7)  # a different config, replaced on open
    s = window.session
    window.open_checkpoint(ckpt)
    qtbot.waitUntil(lambda: s.state == "stopped" and s.checkpoint_path is not None, timeout=WAIT_MS)
    assert s.config == first.session.config
    assert field(window, "optim.lr_g").text() == "0.0003"
    assert len(s.history) == len(saved_history) == 5
    assert s.history.steps().tolist() == saved_history.steps().tolist()
    qtbot.waitUntil(lambda: curve_len(window) == len(saved_history), timeout=WAIT_MS)
    assert window.samples.steps == [0, 5, 10]
    assert s.step == 10
    assert action(window, "action_start").text() == "&Continue"
    qtbot.waitUntil(lambda: window.findChild(QAction, "action_recent_0") is not None, timeout=WAIT_MS)
    assert str(ckpt.resolve()) in window.findChild(QAction, "action_recent_0").text()

    batches = []
    s.model.changed.connect(lambda changes: batches.append(changes.of_type(Stats)))
    action(window, "action_start").trigger()
    qtbot.waitUntil(lambda: s.state == "stopped" and s.step == 20, timeout=WAIT_MS)
    resumed_steps = [ev.step for batch in batches for ev in batch]
    assert resumed_steps[0] == 12  # from the checkpoint's step, not from 0
    assert resumed_steps == list(range(12, 21, 2))
    assert s.trainer.step == 20
    assert len(s.history) == 10
    assert s.run_dir != first.session.run_dir  # a resumed model gets a run folder of its own
    assert (s.run_dir / "checkpoints" / "latest.pt").exists()
    # ...beside the run it continues, whose run.json names what it continued.
    assert s.run_dir.parent == first.session.run_dir.parent
    parent = json.loads((s.run_dir / "run.json").read_text())["parent"]
    assert parent["step"] == 10 and Path(parent["checkpoint"]) == ckpt.resolve()
    assert Path(parent["run"]) == first.session.run_dir.resolve()


def test_open_bad_or_missing_checkpoint_changes_nothing(qtbot, make_window, tmp_path):
    window = make_window()
    s = window.session
    action(window, "action_start").trigger()
    qtbot.waitUntil(lambda: s.state == "stopped" and s.step == 20, timeout=WAIT_MS)
    trainer, n, cfg, run_dir = s.trainer, len(s.history), s.config, s.run_dir

    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(random.Random(0).randbytes(4096))
    for path in (corrupt, tmp_path / "missing.pt"):
        window.open_checkpoint(path)
        box = wait_dialog(qtbot, window, "error_dialog", path.name)
        assert "checkpoint" in box.text().lower()
        qtbot.waitUntil(lambda: not s.busy, timeout=WAIT_MS)
        box.close()
        assert s.trainer is trainer
        assert len(s.history) == n
        assert s.config == cfg
        assert s.run_dir == run_dir
        assert s.checkpoint_path is None
        assert s.state == "stopped"
        qtbot.waitUntil(lambda: curve_len(window) == n, timeout=WAIT_MS)  # drawn at the next redraw
    assert window.findChild(QAction, "action_recent_0") is None  # failed opens are not recent


def test_open_while_training_is_refused_and_the_run_goes_on(qtbot, make_window, trained_run):
    window = make_window(train__steps=LONG_RUN)
    s = window.session
    start_and_wait(qtbot, window)
    trainer = s.trainer
    window.open_checkpoint(trained_run / "checkpoints" / "latest.pt")
    wait_dialog(qtbot, window, "error_dialog", "Stop training")
    step = s.step
    qtbot.waitUntil(lambda: s.step > step + 4, timeout=WAIT_MS)
    assert s.state == "running"
    assert s.trainer is trainer
    assert s.checkpoint_path is None
    stop_and_wait(qtbot, window)


def test_drop_a_checkpoint_opens_it(qtbot, window, trained_run):
    path = trained_run / "checkpoints" / "step-000000020.pt"
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path))])
    enter = QDragEnterEvent(
        QPoint(10, 10),
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    window.dragEnterEvent(enter)
    assert enter.isAccepted()
    drop = QDropEvent(
        QPointF(10, 10),
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    window.dropEvent(drop)
    qtbot.waitUntil(
        lambda: window.session.checkpoint_path == path and not window.session.busy, timeout=WAIT_MS
    )
    assert window.session.step == 20
    assert window.session.state == "stopped"
    assert not action(window, "action_start").isEnabled()  # it already reached train.steps

    other = QMimeData()
    other.setUrls([QUrl.fromLocalFile(str(trained_run / "config.toml"))])
    enter = QDragEnterEvent(
        QPoint(10, 10),
        Qt.DropAction.CopyAction,
        other,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    enter.setAccepted(False)
    window.dragEnterEvent(enter)
    assert not enter.isAccepted()


# ----- failures ----------------------------------------------------------------------------------


def test_training_error_shows_a_dialog_and_keeps_the_data(qtbot, make_window, monkeypatch):
    original = Trainer.train_step

    def failing_step(self):
        if self.step == 6:
            raise RuntimeError("boom in the generator")
        original(self)

    monkeypatch.setattr(Trainer, "train_step", failing_step)
    window = make_window(train__steps=LONG_RUN)
    s = window.session
    action(window, "action_start").trigger()
    box = wait_dialog(qtbot, window, "error_dialog", "boom in the generator")
    assert "step 6" in box.text()
    assert "Traceback" in box.detailedText()
    assert "RuntimeError" in box.detailedText()
    qtbot.waitUntil(lambda: not s.busy, timeout=WAIT_MS)
    assert s.state == "stopped"
    assert s.history.steps().tolist() == [2, 4, 6]
    qtbot.waitUntil(lambda: curve_len(window) == 3, timeout=WAIT_MS)
    assert window.isVisible()
    assert not threads_running()


def test_nan_losses_pause_and_show_the_health_dialog(qtbot, make_window, monkeypatch):
    original = Trainer.train_step

    def nan_step(self):
        original(self)
        if self.step >= 5:
            self._acc.fill_(float("nan"))

    monkeypatch.setattr(Trainer, "train_step", nan_step)
    window = make_window(train__steps=LONG_RUN, log__checkpoint_every=0)
    s = window.session
    action(window, "action_start").trigger()
    box = wait_dialog(qtbot, window, "health_dialog")
    assert "NaN" in box.text()
    assert s.state == "paused"
    assert any(m.kind == "nan" for m in s.history.markers)
    assert s.step == 6
    assert action(window, "action_pause").text() == "&Resume"
    stop_and_wait(qtbot, window)
    assert not any((s.run_dir / "checkpoints").glob("*.pt"))  # nothing saved from NaN weights


# ----- closing ---------------------------------------------------------------------------------


def test_close_while_training_cancel_keeps_running(qtbot, make_window):
    window = make_window(train__steps=LONG_RUN)
    start_and_wait(qtbot, window)
    window.ask_close = lambda: "cancel"
    assert not window.close()
    assert window.isVisible()
    step = window.session.step
    qtbot.waitUntil(lambda: window.session.step > step + 4, timeout=WAIT_MS)
    assert window.session.state == "running"
    assert action(window, "action_stop").isEnabled()
    stop_and_wait(qtbot, window)


def test_close_while_training_quit_waits_for_the_worker(qtbot, make_window):
    window = make_window(train__steps=LONG_RUN, log__checkpoint_every=0)
    s = window.session
    start_and_wait(qtbot, window)
    saved = collect(s.model, CheckpointSaved, [])
    visible_when_thread_ended = []
    s.thread_finished.connect(lambda: visible_when_thread_ended.append(window.isVisible()))
    window.ask_close = lambda: "quit"
    assert not window.close()  # not yet: the worker finishes its step first
    assert window.isVisible()
    assert not action(window, "action_start").isEnabled()
    qtbot.waitUntil(lambda: not window.isVisible(), timeout=WAIT_MS)
    assert visible_when_thread_ended == [True]
    assert not s.busy
    assert not threads_running()
    # Quit (unlike Save and Quit) leaves no final checkpoint behind.
    assert saved == []
    assert not (s.run_dir / "checkpoints" / "latest.pt").exists()


def test_close_while_training_save_and_quit_writes_a_checkpoint(qtbot, make_window):
    window = make_window(train__steps=LONG_RUN, log__checkpoint_every=0)
    s = window.session
    start_and_wait(qtbot, window)
    saved = collect(s.model, CheckpointSaved, [])
    window.ask_close = lambda: "save"
    window.close()
    assert window.isVisible()
    qtbot.waitUntil(lambda: not window.isVisible(), timeout=WAIT_MS)
    assert not s.busy
    assert saved and saved[0].step == s.trainer.step
    latest = s.run_dir / "checkpoints" / "latest.pt"
    assert checkpoints.load(latest)["step"] == s.trainer.step
    assert not threads_running()


# ----- settings ----------------------------------------------------------------------------------


def test_last_config_and_recent_files_persist(qtbot, make_window, trained_run, settings):
    first = make_window()
    type_value(qtbot, first, "optim.lr_g", "0.00042")
    assert first.session.config.optim.lr_g == 0.00042
    assert first.close()

    second = make_window(False)  # no config: the settings' last one
    assert field(second, "optim.lr_g").text() == "0.00042"
    assert second.session.config.optim.lr_g == 0.00042
    assert second.findChild(QAction, "action_recent_0") is None

    path = trained_run / "checkpoints" / "latest.pt"
    second.open_checkpoint(path)
    qtbot.waitUntil(lambda: second.findChild(QAction, "action_recent_0") is not None, timeout=WAIT_MS)
    assert second.recent_menu.isEnabled()
    assert second.close()

    third = make_window(False)
    recent = third.findChild(QAction, "action_recent_0")
    assert recent is not None and str(path.resolve()) in recent.text()
    recent.trigger()  # opens it again
    qtbot.waitUntil(
        lambda: third.session.checkpoint_path is not None and not third.session.busy, timeout=WAIT_MS
    )
    assert third.session.step == 20


# ----- app.main ----------------------------------------------------------------------------------


@pytest.mark.parametrize("content", ["[optim]\nlr_g = -1\n", None])
def test_main_with_a_bad_config_says_why_in_a_window_and_returns_2(qapp, tmp_path, capsys, content):
    """Started from a desktop launcher, nobody sees the terminal: the reason is shown in a window
    (naming the field as the window does), then the app exits with 2 as from a terminal."""
    path = tmp_path / "bad.toml"
    if content is not None:
        path.write_text(content)
    shown = []

    def close_modal():  # record the box main() opened, and close it so that main() returns
        box = QApplication.activeModalWidget()
        if isinstance(box, QMessageBox):
            shown.append((box.objectName(), box.text(), box.informativeText()))
            box.close()

    timer = QTimer()
    timer.timeout.connect(close_modal)
    timer.start(100)
    try:
        assert main(["--config", str(path)]) == 2
    finally:
        timer.stop()
    [(name, text, info)] = shown
    assert name == "startup_error" and str(path) in text
    assert ("Learning rate G (optim.lr_g)" in info) if content else ("does not exist" in info)
    err = capsys.readouterr().err
    assert str(path) in err
    assert ("optim.lr_g" in err) if content else ("does not exist" in err)
