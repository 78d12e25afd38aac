"""The window following a run that another process trains: `ganstudio train` in a subprocess,
opened with MainWindow.open_run, drawn as it grows, and steered through its folder's control file.
Also the ways to open a run (menu, drop, recent, --run) and what the follower survives."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QAction, QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication, QLineEdit, QMessageBox

from ganstudio.core.checkpoint import io as checkpoints
from ganstudio.core.run.events import Alert, Marker, Paused, Stats
from ganstudio.core.run.folder import RunFolder
from ganstudio.core.run.log import read_metrics
from ganstudio.core.run.steer import ControlFile
from tests.qt.conftest import WAIT_MS

TRAIN = [
    "--set",
    "train.threads=1",
    "--set",
    "train.device=cpu",
    "--set",
    "train.batch_size=16",
    "--set",
    "model.width=8",
    "--set",
    "model.latent_dim=16",
    "--set",
    "log.every=2",
    "--set",
    "metrics.every=0",
    "--set",
    "log.sample_every=10",
    "--set",
    "log.checkpoint_every=0",
    "--quiet",
]


def action(window, name: str) -> QAction:
    a = window.findChild(QAction, name)
    assert a is not None, name
    return a


def records(folder: RunFolder) -> list[dict]:
    try:
        return read_metrics(folder.metrics_path)
    except FileNotFoundError:
        return []


@pytest.fixture
def headless(tmp_path):
    """start(steps) -> (process, RunFolder): `ganstudio train` in its own process, its folder ready."""
    procs = []

    def start(steps: int = 10_000_000, *extra: str):
        folder = RunFolder(tmp_path / "headless-run")
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "ganstudio",
                "train",
                "--run-dir",
                str(folder.path),
                "--steps",
                str(steps),
                *TRAIN,
                *extra,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        procs.append(proc)
        return proc, folder

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()


def _wait_folder(qtbot, folder: RunFolder) -> None:
    qtbot.waitUntil(lambda: folder.config_path.exists() and folder.metrics_path.exists(), timeout=WAIT_MS)


def field(window, key: str):
    return window.findChild(QLineEdit, key)


def test_a_headless_run_is_followed_and_steered_from_the_window(qtbot, make_window, headless):
    proc, folder = headless()
    window = make_window()
    s = window.session
    _wait_folder(qtbot, folder)
    window.open_run(folder.path)
    assert s.following and s.followed == folder
    # Its curves and sample timeline grow, as if the window trained it.
    qtbot.waitUntil(lambda: len(s.history) >= 5 and window.samples.steps[-1:] >= [10], timeout=WAIT_MS)
    n = len(s.history)
    qtbot.waitUntil(lambda: len(s.history) > n, timeout=WAIT_MS)
    qtbot.waitUntil(lambda: s.state == "running", timeout=WAIT_MS)
    assert "Following" in window.status_state.text() and "Training" in window.status_state.text()
    assert s.run.pid == proc.pid
    assert not action(window, "action_start").isEnabled()  # it trains elsewhere

    # Pause from the window: the process stops stepping.
    action(window, "action_pause").trigger()
    qtbot.waitUntil(lambda: s.state == "paused", timeout=WAIT_MS)
    paused_at = s.run.step
    logged = [r["step"] for r in records(folder) if r["event"] == "stats"][-1]
    qtbot.wait(800)  # a paused run does not advance (a negative check needs some time)
    assert [r["step"] for r in records(folder) if r["event"] == "stats"][-1] == logged <= paused_at
    assert action(window, "action_pause").text() == "&Resume" and action(window, "action_step").isEnabled()

    # A live edit: a line in metrics.jsonl, the field once the run applied it, the next checkpoint.
    edit = field(window, "optim.lr_g")
    assert edit.isEnabled()
    edit.selectAll()
    qtbot.keyClicks(edit, "0.001")
    qtbot.keyClick(edit, Qt.Key.Key_Return)
    assert window.hyperparams.pending() == {"optim.lr_g"}  # sent; shown applied once the run says so
    qtbot.waitUntil(
        lambda: s.config.optim.lr_g == 0.001 and not window.hyperparams.pending(), timeout=WAIT_MS
    )
    changes = [r for r in records(folder) if r["event"] == "hparams"]
    assert changes[-1]["changes"] == {"optim.lr_g": [0.0002, 0.001]}
    assert field(window, "optim.lr_g").text() == "0.001"
    action(window, "action_save_checkpoint").trigger()
    qtbot.waitUntil(lambda: any(c.manual for c in s.run.checkpoints), timeout=WAIT_MS)
    saved = next(c for c in s.run.checkpoints if c.manual)
    ck = checkpoints.load(folder.resolve(saved.path))
    assert ck["optimizers"]["G"]["param_groups"][0]["lr"] == 0.001
    qtbot.waitUntil(lambda: str(folder.resolve(saved.path)) in window.checkpoints.paths(), timeout=WAIT_MS)

    # A request the run refuses (a key fixed by its models), from another watcher: readable.
    ControlFile(folder).request("set", values={"model.width": 64})
    qtbot.waitUntil(lambda: any(a.kind == "config" for a in s.run.alerts), timeout=WAIT_MS)
    refusal = next(a for a in s.run.alerts if a.kind == "config")
    assert "model.width cannot change while training runs" in refusal.message
    qtbot.waitUntil(lambda: any("model.width" in t for t in window.alerts.texts()), timeout=WAIT_MS)

    # Step, resume, then stop: the process ends with a final checkpoint.
    assert s.state == "paused", (s.state, s.run.status, action(window, "action_step").isEnabled())
    action(window, "action_step").trigger()
    qtbot.waitUntil(lambda: s.run.step == paused_at + 1, timeout=WAIT_MS)
    action(window, "action_pause").trigger()  # Resume
    qtbot.waitUntil(lambda: s.state == "running" and s.run.step > paused_at + 4, timeout=WAIT_MS)
    action(window, "action_stop").trigger()
    qtbot.waitUntil(lambda: s.run.status == "stopped", timeout=WAIT_MS)
    assert proc.wait(timeout=60) == 0
    assert checkpoints.load(folder.latest_checkpoint())["step"] == s.run.step
    assert s.state == "stopped"
    assert action(window, "action_start").isEnabled() and action(window, "action_start").text() == "&Continue"


def test_a_finished_run_continues_in_the_app_with_its_history(qtbot, make_window, headless):
    proc, folder = headless(12)
    assert proc.wait(timeout=120) == 0
    window = make_window()
    s = window.session
    window.open_run(folder.path)
    qtbot.waitUntil(lambda: s.run.status == "finished" and len(s.history) == 6, timeout=WAIT_MS)
    assert s.state == "stopped" and not action(window, "action_pause").isEnabled()
    steps = field(window, "train.steps")  # raise the steps, as a user would, then Continue
    steps.selectAll()
    qtbot.keyClicks(steps, "16")
    qtbot.keyClick(steps, Qt.Key.Key_Return)
    assert s.config.train.steps == 16 and action(window, "action_start").isEnabled()
    action(window, "action_start").trigger()
    qtbot.waitUntil(
        lambda: not s.following and s.trainer is not None and s.trainer.step == 16 and s.state == "stopped",
        timeout=WAIT_MS,
    )
    assert s.history.steps().tolist() == [2, 4, 6, 8, 10, 12, 14, 16]  # the same history, continued
    assert s.run_dir != folder.path


def test_a_read_only_run_is_watched_with_the_controls_off(qtbot, make_window, headless, monkeypatch):
    proc, folder = headless()
    window = make_window()
    _wait_folder(qtbot, folder)
    import ganstudio.core.run.steer as steer

    real = steer.os.access
    monkeypatch.setattr(steer.os, "access", lambda p, mode: False if mode == os.W_OK else real(p, mode))
    window.open_run(folder.path)
    s = window.session
    qtbot.waitUntil(lambda: s.state == "running", timeout=WAIT_MS)
    assert s.watch_only and "read-only" in s.watch_only
    for name in ("action_pause", "action_stop", "action_save_checkpoint"):
        a = action(window, name)
        assert not a.isEnabled() and "read-only" in a.toolTip()
    lr = field(window, "optim.lr_g")
    assert not lr.isEnabled() and "read-only" in lr.toolTip()
    assert window.status_state.text().startswith("Watching")
    window.session.new_run()  # stop following before the process is killed
    qtbot.waitUntil(lambda: not s.following, timeout=WAIT_MS)


def test_torn_lines_a_rewritten_log_and_a_deleted_folder_are_survived(
    qtbot, make_window, trained_run, tmp_path
):
    run = tmp_path / "copy"
    shutil.copytree(trained_run, run)
    folder = RunFolder(run)
    window = make_window()
    s = window.session
    window.open_run(run)
    qtbot.waitUntil(lambda: len(s.history) == 10 and s.run.status == "finished", timeout=WAIT_MS)
    with open(folder.metrics_path, "a", encoding="utf-8") as f:
        f.write('{"event": "stats", "step": 22, "loss_d": 1.0}\n{"event": "sta')  # torn last line
    qtbot.waitUntil(lambda: len(s.history) == 11, timeout=WAIT_MS)
    with open(folder.metrics_path, "a", encoding="utf-8") as f:
        f.write('ts", "step": 24, "loss_d": 2.0}\nnot json\n')
    qtbot.waitUntil(
        lambda: len(s.history) == 12 and "could not be read" in s.run.source_problem, timeout=WAIT_MS
    )
    assert s.history.steps().tolist()[-2:] == [22, 24]
    shutil.rmtree(run)
    qtbot.waitUntil(lambda: "disappeared" in s.run.source_problem, timeout=WAIT_MS)
    assert len(s.history) == 12 and window.isVisible()  # what was read stays shown
    assert window.plots.curve("Losses", "loss_d").getData()[0] is not None


def test_alerts_and_nan_markers_survive_a_checkpoint_and_a_reopen(qtbot, make_window, tmp_path):
    from ganstudio.core.run.driver import RunDriver
    from tests.qt.conftest import tiny_config

    cfg = tiny_config(tmp_path / "runs", train__steps=8)
    driver = RunDriver(cfg, steer=False)
    trainer = driver.prepare()
    for ev in driver.events():
        if isinstance(ev, Stats) and ev.step == 4:
            trainer.state.apply(Alert(step=4, kind="d_wins", message="D wins"))
            driver.writer.handle(Alert(step=4, kind="d_wins", message="D wins"))
            trainer.state.apply(Marker(4, "nan", "loss_d became NaN"))
            driver.writer.handle(Paused(step=4, reason="loss_d became NaN"))
    driver.close()
    folder = driver.folder
    ck = checkpoints.load(folder.latest_checkpoint())
    kinds = [e["kind"] for e in ck["events"] if e["event"] in ("alert", "marker")]
    assert kinds == ["d_wins", "nan"]
    # Reopened as a checkpoint...
    window = make_window()
    window.open_checkpoint(folder.latest_checkpoint())
    s = window.session
    qtbot.waitUntil(lambda: s.checkpoint_path is not None and not s.busy, timeout=WAIT_MS)
    assert {m.kind for m in s.history.markers} == {"d_wins", "nan"}  # (its own save comes after it)
    assert window.alerts.count() == 1 and "D wins" in window.alerts.texts()[0]
    # ...and as a run folder.
    window.open_run(folder.path)
    qtbot.waitUntil(lambda: s.following and s.run.status == "finished", timeout=WAIT_MS)
    assert {m.kind for m in s.history.markers} >= {"d_wins", "nan", "checkpoint"}
    assert window.alerts.count() == 1


def test_every_way_to_open_a_run(qtbot, make_window, trained_run, monkeypatch):
    window = make_window()
    s = window.session
    # File › Open Run… (Ctrl+Shift+O)
    a = action(window, "action_open_run")
    assert a.shortcut().toString() == "Ctrl+Shift+O"
    monkeypatch.setattr(
        "ganstudio.qt.file_dialogs.QFileDialog.getExistingDirectory", lambda *args, **kw: str(trained_run)
    )
    a.trigger()
    qtbot.waitUntil(lambda: s.following and len(s.history) == 10, timeout=WAIT_MS)
    # Open Recent lists it, and opens it again.
    window.session.new_run()
    recent = window.findChild(QAction, "action_recent_0")
    assert str(trained_run.resolve()) in recent.text()
    recent.trigger()
    qtbot.waitUntil(lambda: s.following and len(s.history) == 10, timeout=WAIT_MS)
    # A folder dropped on the window.
    window.session.new_run()
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(trained_run))])
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
    qtbot.waitUntil(lambda: s.following and len(s.history) == 10, timeout=WAIT_MS)
    # A folder that is not a run: a message, and the current run stays.
    window.open_run(trained_run / "samples")
    qtbot.waitUntil(
        lambda: any("Cannot open" in b.text() for b in window.findChildren(QMessageBox)), timeout=WAIT_MS
    )
    assert s.following and len(s.history) == 10


def test_ganstudio_dash_dash_run_opens_it(qtbot, make_window, trained_run, monkeypatch):
    from ganstudio.qt import app as app_module

    window = make_window()
    monkeypatch.setattr(app_module, "build_window", lambda config=None, settings=None: window)
    monkeypatch.setattr(app_module.system_libs, "problem", lambda **kw: None)
    monkeypatch.setattr(type(QApplication.instance()), "exec", lambda self: 0)
    assert app_module.main(["--run", str(trained_run)]) == 0
    qtbot.waitUntil(lambda: window.session.following and len(window.session.history) == 10, timeout=WAIT_MS)


def test_a_newer_run_folder_is_refused_by_name(qtbot, make_window, tmp_path):
    run = tmp_path / "future"
    run.mkdir()
    (run / "run.json").write_text(json.dumps({"format": "ganstudio-run", "version": 7}))
    (run / "config.toml").write_text("")
    window = make_window()
    window.open_run(run)
    qtbot.waitUntil(
        lambda: any("newer GAN Studio" in b.text() for b in window.findChildren(QMessageBox)), timeout=WAIT_MS
    )
    assert not window.session.following


def test_start_on_two_processes_runs_torchrun_and_follows_it(qtbot, make_window):
    window = make_window(train__steps=1_000_000, log__sample_every=0, log__checkpoint_every=0)
    s = window.session
    window.ask_processes = lambda: 3
    action(window, "action_start_processes").trigger()  # 16 does not divide by 3: said, nothing starts
    qtbot.waitUntil(
        lambda: any("must divide by the 3 processes" in b.text() for b in window.findChildren(QMessageBox)),
        timeout=WAIT_MS,
    )
    assert not s.following
    window.ask_processes = lambda: 2
    action(window, "action_start_processes").trigger()
    assert s.following
    qtbot.waitUntil(lambda: s.run.world_size == 2 and len(s.history) >= 3, timeout=60_000)
    assert "2 processes (gloo)" in window.status_device.text()
    action(window, "action_stop").trigger()  # through the folder, to every rank
    qtbot.waitUntil(lambda: s.run.status == "stopped", timeout=60_000)
    assert RunFolder(s.run_dir).latest_checkpoint() is not None
    qtbot.waitUntil(lambda: window.forks.running() == 0, timeout=60_000)
