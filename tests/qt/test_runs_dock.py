"""Runs side by side, through the real window: the Runs dock (columns, tree, trash), runs overlaid on
every plot tab, the samples compare at one step, the config diff, and forks trained in their own
processes from the Checkpoints tab and from "What If"."""

from __future__ import annotations

import dataclasses
import json
import shutil
import time
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QDockWidget, QLabel, QLineEdit, QListWidget, QMessageBox, QPushButton, QTreeView

from ganstudio.cli import EXIT_OK, main
from ganstudio.core.config import Config
from ganstudio.core.run.folder import TRASH, RunFolder
from ganstudio.core.run.listing import RunInfo, fmt_duration
from ganstudio.core.run.log import read_metrics
from ganstudio.qt.panels.runs import RunsPanel
from ganstudio.qt.widgets.runs_tree import HEADERS
from tests.core.conftest import tiny_cli
from tests.qt.conftest import WAIT_MS, tiny_config

FORK_WAIT_MS = 120_000  # a fork is a new Python process: importing torch alone takes seconds
TINY = tiny_cli({"log.sample_every": 5, "log.checkpoint_every": 10, "metrics.samples": 50})


@pytest.fixture(scope="module")
def runs_dir(tmp_path_factory) -> Path:
    """Three finished runs: "base" (20 steps, quality metrics at 10 and 20), "hinge" (the same
    with another loss) and "base-lr" (a fork of base at step 10 with another lr_g)."""
    out = tmp_path_factory.mktemp("runs-dock") / "runs"
    for name, extra in (("base", []), ("hinge", ["--set", "loss.kind=hinge"])):
        assert (
            main(
                [
                    "train",
                    "--steps",
                    "20",
                    "--out",
                    str(out),
                    "--set",
                    f"log.name={name}",
                    "--set",
                    "metrics.every=10",
                    *extra,
                    *TINY,
                ]
            )
            == EXIT_OK
        )
    base = _run(out, "base")
    assert (
        main(
            [
                "train",
                "--fork",
                str(base.checkpoints.path_for(10)),
                "--set",
                "optim.lr_g=0.001",
                "--set",
                "log.name=base-lr",
                *TINY,
            ]
        )
        == EXIT_OK
    )
    return out


def _run(out: Path, name: str) -> RunFolder:
    return RunFolder(next(p for p in sorted(out.iterdir()) if p.name.endswith(f"-{name}")))


def _stats(folder: RunFolder, after: int) -> list[dict]:
    return [r for r in read_metrics(folder.metrics_path) if r["event"] == "stats" and r["step"] > after]


@pytest.fixture
def dock_window(make_window, runs_dir, qtbot):
    window = make_window(log__out=str(runs_dir))
    qtbot.waitUntil(lambda: len(window.runs.rows()) == 3, timeout=WAIT_MS)
    return window


def test_the_runs_dock_lists_three_runs_with_their_columns_and_forks_as_a_tree(dock_window, runs_dir, qtbot):
    window = dock_window
    dock = window.findChild(QDockWidget, "runs_dock")
    assert dock is not None and dock.widget() is window.runs and dock.isVisible()
    rows = {r["Name"]: r for r in window.runs.rows()}
    assert set(rows) == {"base", "hinge", "base-lr"}
    base = rows["base"]
    assert (base["Dataset"], base["Arch"], base["Loss"], base["Steps"], base["Status"]) == (
        "digits",
        "mlp",
        "nonsaturating",
        "20 / 20",
        "finished",
    )
    assert base["Started"] and base["Duration"] and base["Metric"].startswith("fd ")
    assert rows["hinge"]["Loss"] == "hinge"
    assert all(r["Folder"] == Path(r["path"]).name for r in rows.values())  # told apart by folder
    # The Steps column has room for a running run's count at its end, not only for the text it
    # had when the tree was built ("3,580 / 5,..." in a screenshot).
    panel = RunsPanel()
    qtbot.addWidget(panel)
    info = RunInfo(path=runs_dir / "fresh", name="fresh", step=10, total=1_000_000, status="running")
    panel._infos = {info.path: info}
    panel._apply_layout()
    tree = panel.findChild(QTreeView, "runs_tree")
    assert [r["Steps"] for r in panel.rows()] == ["10 / 1,000,000"]
    end = tree.fontMetrics().horizontalAdvance("1,000,000 / 1,000,000")
    assert tree.columnWidth(HEADERS.index("Steps")) >= end
    # A text that grows in place (a first metric: "modes..." in a screenshot) widens its column.
    metric = HEADERS.index("Metric")
    before = tree.columnWidth(metric)
    panel._infos = {info.path: dataclasses.replace(info, metric=("modes_covered", 8.0), duration=3725.0)}
    panel._apply_layout()
    assert [r["Metric"] for r in panel.rows()] == ["modes_covered 8"]
    assert tree.columnWidth(metric) > before
    assert tree.columnWidth(metric) >= tree.fontMetrics().horizontalAdvance("modes_covered 8")
    # The current run's row, refreshed live between scans, widens its Steps column too ("4,020 /
    # ..." in a screenshot: the scan had listed it at "120 / 5,000", before the count grew).
    grown = dataclasses.replace(info, step=12_345_678_901, total=98_765_432_109)
    tree.refresh_row(grown, None)
    assert [r["Steps"] for r in panel.rows()] == ["12,345,678,901 / 98,765,432,109"]
    steps = tree.columnWidth(HEADERS.index("Steps"))
    assert steps >= tree.fontMetrics().horizontalAdvance("12,345,678,901 / 98,765,432,109")
    # The fork is a child of its parent; the others are roots.
    assert (rows["base"]["depth"], rows["base-lr"]["depth"], rows["hinge"]["depth"]) == (0, 1, 0)
    ordered = [r["Name"] for r in window.runs.rows()]
    assert ordered.index("base-lr") == ordered.index("base") + 1
    # Filtering by text keeps a matching child with its parent.
    text = window.runs.findChild(QLineEdit, "runs_filter")
    text.setText("lr")
    assert [r["Name"] for r in window.runs.rows()] == ["base", "base-lr"]
    text.clear()
    # A new run appears by itself (the dock looks again every few seconds).
    shutil.copytree(_run(runs_dir, "hinge").path, runs_dir / "copied-run")
    try:
        qtbot.waitUntil(
            lambda: "copied-run" in {Path(r["path"]).name for r in window.runs.rows()}, timeout=WAIT_MS
        )
    finally:
        shutil.rmtree(runs_dir / "copied-run")


def _overlaid(window) -> list:
    return window.plots.overlays()


def test_two_runs_overlaid_in_two_colours_on_every_tab(dock_window, runs_dir, qtbot):
    window = dock_window
    base, hinge = _run(runs_dir, "base"), _run(runs_dir, "hinge")
    window.runs.set_ticked(base.path, True)
    window.runs.set_ticked(hinge.path, True)
    qtbot.waitUntil(
        lambda: (
            len(_overlaid(window)) == 2
            and all(len(o.history) == 10 and o.history.has("fd") for o in _overlaid(window))
        ),
        timeout=WAIT_MS,
    )
    overlays = _overlaid(window)
    assert [o.name for o in overlays] == ["base", "hinge"]
    assert overlays[0].color != overlays[1].color
    plots = window.plots
    for title in plots.titles():
        plots.show_tab(title)
        plots.refresh()
        legend = [label.text for _, label in plots.plot_widget(title).getPlotItem().legend.items]
        for o in overlays:
            curves = plots.overlay_curves(title, o)
            assert curves and all(len(c.x) for c in curves), f"{o.name} not drawn on {title}"
            # Tints of the run's colour (a tab's later series are paler): the same hue.
            assert all(abs(c.pen.color().hsvHue() - QColor(o.color).hsvHue()) <= 3 for c in curves), title
            assert o.name in legend, (title, legend)
    for title in plots.titles():  # two runs, two colours, series by series
        a, b = (plots.overlay_curves(title, o) for o in overlays)
        assert [c.label for c in a] == [c.label for c in b]
        assert all(x.pen.color() != y.pen.color() for x, y in zip(a, b, strict=True))
    # Hover says which run a curve belongs to: the mouse on the middle of each run's curve.
    plots.show_tab("Losses")
    plots.refresh()
    layer = plots.compare_layer("Losses")
    for o in overlays:
        c = plots.overlay_curves("Losses", o)[0]
        i = len(c.x) // 2
        assert layer.nearest(float(c.x[i]), float(c.y[i])).name == o.name
    assert plots.overlay_curves("Losses", overlays[0])[0].pen.color().name() == overlays[0].color
    # The current run stays in front: its curves are drawn wider while others are compared.
    assert plots.curve("Losses", "loss_d").opts["pen"].width() == 2
    # Unticked: gone from the plots.
    window.runs.set_ticked(hinge.path, False)
    assert [o.name for o in _overlaid(window)] == ["base"]
    assert plots.overlay_curves("Losses", overlays[1]) == []


def test_samples_compare_at_one_step_and_the_config_diff(dock_window, runs_dir, qtbot):
    window = dock_window
    base, hinge = _run(runs_dir, "base"), _run(runs_dir, "hinge")
    window.open_run(base.path)  # the current run
    window.runs.set_ticked(hinge.path, True)
    compare = window.compare
    qtbot.waitUntil(
        lambda: (
            compare.steps() == [0, 5, 10, 15, 20]
            and len(compare.runs()) == 2
            # every run read to its end: a run half read shows its nearest earlier frame
            and all(r.steps == [0, 5, 10, 15, 20] for r in compare.runs())
        ),
        timeout=WAIT_MS,
    )
    window.findChild(QDockWidget, "compare_dock").raise_()
    compare.set_step(12)  # no samples at 12: each run shows its nearest step at or below
    assert compare.step() == 10
    assert compare.shown() == [("base", 10), ("hinge", 10)]  # the current run first
    for i in range(2):
        pixmap = compare.tile_pixmap(i)
        assert pixmap is not None and not pixmap.isNull() and pixmap.width() >= 73
    assert window.plots.cursor_x("Losses") == 10  # the plots' cursor follows the step
    # One slider and Play drive every run together, to the end.
    window.findChild(QPushButton, "compare_play").click()
    qtbot.waitUntil(lambda: compare.step() == 20, timeout=WAIT_MS)
    assert compare.shown() == [("base", 20), ("hinge", 20)]
    # The config diff: the keys in which they differ.
    diff = compare.diff_rows()
    assert diff[0] == ["key", "base", "hinge"]
    assert ["loss.kind", "nonsaturating", "hinge"] in diff
    assert not any(row[0] == "optim.lr_g" for row in diff)
    # A fork's own change shows with its step.
    window.runs.set_ticked(_run(runs_dir, "base-lr").path, True)
    lr_row = ["optim.lr_g", "0.0002", "0.0002", "0.0002 → 0.001 @ 10"]
    qtbot.waitUntil(lambda: lr_row in compare.diff_rows(), timeout=WAIT_MS)


def test_a_fork_from_the_checkpoints_tab_continues_exactly_and_differs_with_another_lr(
    dock_window, runs_dir, qtbot, tmp_path
):
    window = dock_window
    # A parent of our own: its forks land beside it, in this test's folder.
    out = tmp_path / "fork-runs"
    shutil.copytree(_run(runs_dir, "base").path, out / "20260101-000000-parent")
    parent = RunFolder(out / "20260101-000000-parent")
    window.runs.add_root(out)
    window.open_run(parent.path)
    qtbot.waitUntil(
        lambda: any(p.endswith("step-000000010.pt") for p in window.checkpoints.paths()), timeout=WAIT_MS
    )
    asked = []
    answers = [[], ["optim.lr_g=0.005"]]  # the same settings, then another learning rate
    window.ask_forks = lambda cfg, count, title, *_: asked.append((count, title)) or [answers.pop(0)]
    checkpoints_list = window.checkpoints.findChild(QListWidget, "checkpoints_list")
    fork_button = window.checkpoints.findChild(QPushButton, "checkpoints_fork")
    for _ in range(2):
        row = next(i for i, p in enumerate(window.checkpoints.paths()) if p.endswith("step-000000010.pt"))
        checkpoints_list.setCurrentRow(row)
        assert fork_button.isEnabled()
        fork_button.click()
    assert asked == [(1, "Fork from step-000000010.pt")] * 2

    def children():
        return [r for r in window.runs.rows() if r["depth"] == 1 and Path(r["path"]).parent == out]

    qtbot.waitUntil(
        lambda: len(children()) == 2 and all(r["Status"] == "finished" for r in children()),
        timeout=FORK_WAIT_MS,
    )
    qtbot.waitUntil(lambda: window.forks.running() == 0, timeout=WAIT_MS)
    same, other = sorted(
        (RunFolder(Path(r["path"])) for r in children()), key=lambda f: f.load_config().optim.lr_g
    )
    assert all(r["checked"] for r in children())  # ticked: drawn on the plots as they train
    qtbot.waitUntil(lambda: len(_overlaid(window)) == 2, timeout=WAIT_MS)
    for child in (same, other):
        meta = child.meta()["parent"]
        assert meta["step"] == 10 and Path(meta["run"]) == parent.path.resolve()
    continuation = _stats(parent, 10)
    keys = ("loss_d", "loss_g", "d_real", "d_fake", "grad_d", "grad_g")
    assert [[r[k] for k in keys] for r in _stats(same, 10)] == [[r[k] for k in keys] for r in continuation]
    assert _stats(other, 10)[0]["lr_g"] == 0.005
    assert [r["loss_g"] for r in _stats(other, 12)] != [r["loss_g"] for r in continuation[1:]]


def test_what_if_pauses_and_trains_two_forks_drawn_on_the_plots(make_window, qtbot, tmp_path, monkeypatch):
    # The default log.out is the relative "runs": the checkpoint saved for the forks was once
    # resolved against the run folder a second time (runs/<run>/runs/<run>/checkpoints/...).
    monkeypatch.chdir(tmp_path)
    window = make_window(tiny_config(Path("runs"), train__steps=30))
    s = window.session
    window.ask_forks = lambda cfg, count, title, *_: [["optim.lr_g=0.001"], ["loss.kind=hinge"]][:count]
    s.start()
    qtbot.waitUntil(lambda: s.state == "running" and s.step >= 4, timeout=WAIT_MS)
    window.findChild(type(window.action_what_if), "action_what_if").trigger()
    qtbot.waitUntil(lambda: s.state == "paused", timeout=WAIT_MS)
    qtbot.waitUntil(lambda: len(_overlaid(window)) == 2, timeout=FORK_WAIT_MS)
    forks = _overlaid(window)
    assert (
        {o.name for o in forks}
        == {name for _, name in window.runs.ticked()}
        == {"digits-mlp-nonsaturating-fork-a", "digits-mlp-nonsaturating-fork-b"}
    )
    qtbot.waitUntil(lambda: all(o.history.steps()[-1:].tolist() == [30] for o in forks), timeout=FORK_WAIT_MS)
    step = s.run.checkpoints[-1].step
    configs = [window.overlays.get(p).model.state.config for p, _ in window.runs.ticked()]
    chosen = sorted((c.optim.lr_g, c.loss.kind) for c in configs)
    assert chosen == [(0.0002, "hinge"), (0.001, "nonsaturating")]
    for o in forks:  # both carry the parent's history up to the fork, then their own
        assert o.history.steps()[0] == 2
        assert any(m.kind == "hparams" and m.step == step for m in o.history.markers)
    s.stop()
    qtbot.waitUntil(lambda: not s.busy, timeout=WAIT_MS)


def test_trash_refuses_a_running_run_and_moves_a_finished_one(dock_window, runs_dir, qtbot, tmp_path):
    window = dock_window
    out = tmp_path / "trash-runs"
    live, done = out / "20260101-000000-live", out / "20260101-000001-done"
    shutil.copytree(_run(runs_dir, "hinge").path, live)
    shutil.copytree(_run(runs_dir, "hinge").path, done)
    folder = RunFolder(live)  # training in another process: no end in its log, a fresh heartbeat
    lines = [x for x in folder.metrics_path.read_text().splitlines(keepends=True) if '"finished"' not in x]
    folder.metrics_path.write_text("".join(lines))
    beat = {"time": time.time(), "step": 20, "status": "running", "pid": 1}
    folder.heartbeat_path.write_text(json.dumps(beat))
    window.runs.add_root(out)
    qtbot.waitUntil(lambda: {Path(r["path"]) for r in window.runs.rows()} >= {live, done}, timeout=WAIT_MS)
    assert next(r for r in window.runs.rows() if Path(r["path"]) == live)["Status"] == "running"
    window.runs.select(live)
    button = window.runs.trash_button()
    assert not button.isEnabled() and "stop it first" in button.toolTip()
    confirmed = []
    window.runs.confirm = lambda text: confirmed.append(text) or True
    window.runs.trash(live)  # asked anyway (a menu, a script): refused with why, and nothing moves
    assert confirmed == [] and live.exists()
    window.runs.select(done)
    assert button.isEnabled()
    button.click()
    assert len(confirmed) == 1 and "nothing is deleted" in confirmed[0]
    assert (out / TRASH / done.name).is_dir() and not done.exists()
    qtbot.waitUntil(lambda: done not in {Path(r["path"]) for r in window.runs.rows()}, timeout=WAIT_MS)


def test_the_current_runs_row_shows_the_windows_step_and_status_not_the_last_scans(
    make_window, tmp_path, qtbot
):
    """The app's own run: its row says what the status bar says, without waiting for the next scan
    of the folder (a screenshot had 3,580 in the dock at step 4,080, and "running" while paused)."""
    from PySide6.QtCore import QTimer
    from PySide6.QtGui import QAction

    from tests.qt.conftest import LONG_RUN

    window = make_window(log__out=str(tmp_path / "own"), train__steps=LONG_RUN, log__checkpoint_every=0)
    s = window.session
    window.findChild(QAction, "action_start").trigger()
    qtbot.waitUntil(lambda: len(window.runs.rows()) == 1 and s.step >= 4, timeout=WAIT_MS)
    window.runs.findChild(QTimer, "runs_scan_timer").stop()  # no more scans: what the row shows is live
    qtbot.waitUntil(lambda: not window.runs.scanning, timeout=WAIT_MS)
    step = s.step
    qtbot.waitUntil(lambda: s.step >= step + 20, timeout=WAIT_MS)
    s.toggle_pause()
    qtbot.waitUntil(lambda: s.state == "paused", timeout=WAIT_MS)
    row = window.runs.rows()[0]
    assert row["Steps"] == f"{s.step:,} / {LONG_RUN:,}" and row["Status"] == "paused"
    assert row["Duration"] == fmt_duration(s.run.last_stats.wall)
    s.stop()
    qtbot.waitUntil(lambda: not s.busy, timeout=WAIT_MS)
    # Stopped long before train.steps: "stopped", not "finished", in the row and when scanned.
    qtbot.waitUntil(lambda: window.runs.rows()[0]["Status"] == "stopped", timeout=WAIT_MS)
    window.runs.rescan()
    qtbot.waitUntil(
        lambda: window.runs.info(s.run_dir) is not None and window.runs.info(s.run_dir).status == "stopped",
        timeout=WAIT_MS,
    )


def _modals(window) -> list[QMessageBox]:
    return [b for b in window.findChildren(QMessageBox) if b.isVisible()]


def test_a_run_being_made_is_starting_and_a_scan_that_fails_is_said_in_the_dock(make_window, tmp_path, qtbot):
    """A run folder between its creation and its config (every new run, for a moment) is a row
    that says "starting"; what a background scan finds wrong is in the dock, never a dialog."""
    out = tmp_path / "runs"
    window = make_window(log__out=str(out))
    panel = window.runs
    starting = RunFolder.create(Config(), out)  # run.json only: its process builds data and models
    qtbot.waitUntil(lambda: [r["Status"] for r in panel.rows()] == ["starting"], timeout=WAIT_MS)
    row = panel.rows()[0]
    assert row["Folder"] == starting.path.name and row["Note"] == ""
    assert not _modals(window) and not panel.notice()
    # Its config written: an ordinary run; a torn log and a job's processes say so in the row.
    shutil.copytree(_trained(tmp_path), out / "20260101-000000-job")
    job = RunFolder(out / "20260101-000000-job")
    job.heartbeat_path.write_text(json.dumps({"time": 1.0, "status": "finished", "rank_steps": [20, 20]}))
    with open(job.metrics_path, "a") as f:
        f.write('{"event": "stats", "step": 22, "lo\n')
    starting.save_config(Config())
    qtbot.waitUntil(
        lambda: {r["Status"] for r in panel.rows()} == {"new", "damaged (2 processes)"}, timeout=WAIT_MS
    )
    damaged = next(r for r in panel.rows() if r["Folder"] == job.path.name)
    assert "torn line" in damaged["Note"]
    tree = panel.findChild(QTreeView, "runs_tree")
    index = next(
        tree.model().index(i, HEADERS.index("Status"))
        for i in range(2)
        if tree.model().index(i, HEADERS.index("Status")).data() == damaged["Status"]
    )
    assert "torn line" in index.data(Qt.ItemDataRole.ToolTipRole)
    # A scan that fails (a bug): said under the filter, the rows kept; no dialog, however often.
    real = panel._scanner.scan

    def broken(roots, now=None):
        raise AttributeError("'NoneType' object has no attribute 'data'")

    panel._scanner.scan = broken
    scans = []
    panel.scanned.connect(lambda: scans.append(1))
    for _ in range(3):
        panel.rescan()
        qtbot.waitUntil(lambda: not panel.scanning, timeout=WAIT_MS)
    label = panel.findChild(QLabel, "runs_notice")
    assert label.isVisible() and "Listing the runs failed (AttributeError" in label.text()
    assert "Traceback" in label.toolTip() and len(panel.rows()) == 2 and not scans
    assert not _modals(window)
    panel._scanner.scan = real
    panel.rescan()
    qtbot.waitUntil(lambda: bool(scans) and not label.isVisible(), timeout=WAIT_MS)


def _trained(tmp_path) -> Path:
    out = tmp_path / "trained"
    assert main(["train", "--steps", "4", "--out", str(out), *TINY]) == EXIT_OK
    return next(out.iterdir())


def test_untick_all_and_runs_of_another_dataset_unticked_when_the_current_run_changes(
    dock_window, runs_dir, qtbot, tmp_path
):
    window = dock_window
    panel = window.runs
    toys = tmp_path / "toys"
    assert (
        main(
            ["train", "--steps", "4", "--out", str(toys), "--preset", "ring8", "--set", "log.name=toy", *TINY]
        )
        == EXIT_OK
    )
    toy = next(toys.iterdir())
    panel.add_root(toys)
    qtbot.waitUntil(lambda: len(panel.rows()) == 4, timeout=WAIT_MS)
    base, hinge, lr = (_run(runs_dir, n).path for n in ("base", "hinge", "base-lr"))
    window.open_run(base)
    untick = panel.findChild(QPushButton, "runs_untick_all")
    assert not untick.isEnabled()
    # Ticked by hand while base is current: compared, whatever its dataset (the user asked).
    for path in (hinge, lr, toy):
        panel.set_ticked(path, True)
    qtbot.waitUntil(
        lambda: {o.name for o in _overlaid(window)} == {"hinge", "base-lr", "toy"}, timeout=WAIT_MS
    )
    assert untick.isEnabled() and not panel.notice()
    # Another current run (digits): the ring8 one is unticked, and the dock says so.
    window.open_run(hinge)
    qtbot.waitUntil(lambda: window.session.run_dir == hinge, timeout=WAIT_MS)
    assert [p for p, _ in panel.ticked()] == [hinge, lr]
    qtbot.waitUntil(lambda: [o.name for o in _overlaid(window)] == ["base-lr"], timeout=WAIT_MS)
    said = "Unticked toy (ring8): another dataset than the current run's (digits)"
    assert said in panel.notice() and panel.findChild(QLabel, "runs_notice").isVisible()
    assert not next(r for r in panel.rows() if Path(r["path"]) == toy)["checked"]
    # Untick All: nothing compared, in one go.
    told = []
    panel.ticked_changed.connect(told.append)
    untick.click()
    assert told == [[]] and panel.ticked() == [] and not untick.isEnabled()
    assert not any(r["checked"] for r in panel.rows()) and not panel.notice()
    qtbot.waitUntil(lambda: _overlaid(window) == [], timeout=WAIT_MS)
