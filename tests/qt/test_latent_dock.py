"""The latent explorer dock on the app's own run, a checkpoint and a followed run: picks from either
grid, the interpolation strip and its export, truncation, G beside its EMA, nearest real images,
the 2D mesh, and a thread that computes only the latest request."""

from __future__ import annotations

import json
import shutil

import numpy as np
from PIL import Image
from PySide6.QtCore import QPoint, Qt
from PySide6.QtWidgets import QApplication, QDockWidget, QLabel, QSlider, QTabWidget

from ganstudio.core.events import CheckpointSaved
from ganstudio.core.runfolder import RunFolder
from ganstudio.qt.panels.latent import LatentPanel
from ganstudio.qt.panels.samples import grid_index
from tests.qt.conftest import WAIT_MS

EMA_RUN = {"train__ema": 0.9, "optim__lr_g": 0.01, "optim__lr_d": 0.01}  # samples that differ


def open_dock(window) -> LatentPanel:
    dock = window.findChild(QDockWidget, "latent_dock")
    assert dock is not None and not dock.isVisible()  # closed until asked for
    dock.show()
    dock.raise_()
    return window.latent


def wait_drawn(qtbot, panel: LatentPanel, kind: str, action=None):
    """Run `action` and wait until the panel has drawn a `kind` result."""
    with qtbot.waitSignal(panel.redrawn, timeout=WAIT_MS, check_params_cb=lambda k: k == kind):
        if action is not None:
            action()


def cell(grid: np.ndarray, i: int, side: int) -> np.ndarray:
    r, c = divmod(i, 8)
    y, x = 1 + r * (side + 1), 1 + c * (side + 1)
    return grid[y : y + side, x : x + side]


def click_cell(qtbot, view, shape: tuple[int, ...], i: int, side: int) -> None:
    """A real mouse click on the middle of sample i of the grid (of `shape`) a view shows."""
    h, w = shape[:2]
    scale = min(view.width() / w, view.height() / h)
    x0, y0 = (view.width() - w * scale) / 2, (view.height() - h * scale) / 2
    r, c = divmod(i, 8)
    px = 1 + c * (side + 1) + side / 2
    py = 1 + r * (side + 1) + side / 2
    qtbot.mouseClick(view, Qt.MouseButton.LeftButton, pos=QPoint(int(x0 + px * scale), int(y0 + py * scale)))


def finished_run(qtbot, window) -> None:
    window.start()
    qtbot.waitUntil(lambda: window.session.state == "stopped" and not window.session.busy, timeout=WAIT_MS)


def test_grid_index_follows_the_trainers_layout():
    shape = (73, 73, 1)  # 8 x 8 digits of 8 px with 1 px padding
    assert grid_index(shape, 1, 1) == 0
    assert grid_index(shape, 8.9, 1) == 0 and grid_index(shape, 9.5, 5) is None  # padding
    assert grid_index(shape, 10, 1) == 1
    assert grid_index(shape, 72.5, 72.5) is None and grid_index(shape, 71.9, 71.9) == 63
    assert grid_index(shape, -1, 3) is None and grid_index(shape, 80, 3) is None


def test_the_dock_on_the_apps_run(qtbot, make_window, tmp_path):
    window = make_window(**EMA_RUN)
    panel = open_dock(window)
    assert panel.findChild(QLabel, "latent_source").text().startswith("No generator yet")
    finished_run(qtbot, window)
    qtbot.waitUntil(lambda: panel.grid_step == 20, timeout=WAIT_MS)
    # The explorer's grid is the samples panel's latest grid: the same generator, the same noise.
    assert np.array_equal(panel.grid_array(), window.samples.current_array()[:, :, 0])
    assert "drawn with its EMA" in panel.findChild(QLabel, "latent_source").text()

    # Two clicks pick A and B: one in the Samples panel's grid, one in the explorer's own.
    side, grid = 8, panel.grid_array()
    samples_dock = window.findChild(QDockWidget, "dock_samples_panel")
    samples_dock.raise_()
    qtbot.waitUntil(lambda: window.samples.isVisible())
    click_cell(qtbot, window.samples._grid_view, grid.shape, 3, side)
    window.findChild(QDockWidget, "latent_dock").raise_()
    qtbot.waitUntil(lambda: panel._grid_view.isVisible())
    wait_drawn(qtbot, panel, "strip", lambda: click_cell(qtbot, panel._grid_view, grid.shape, 40, side))
    assert panel.picks == [("sample", 3), ("sample", 40)]
    grid = panel.grid_array()
    frames = panel.strip_frames
    assert len(frames) == 12
    for frame, i in ((frames[0], 3), (frames[-1], 40)):  # BLAS may round batches of 12 and 64 apart
        assert np.abs(frame[:, :, 0].astype(int) - cell(grid, i, side).astype(int)).max() <= 1

    panel.export_png(str(tmp_path / "strip.png"))
    panel.export_gif(str(tmp_path / "strip.gif"))
    png = np.asarray(Image.open(tmp_path / "strip.png"))
    assert png.shape == (side + 2, 12 * (side + 1) + 1)
    gif = Image.open(tmp_path / "strip.gif")
    assert gif.n_frames >= 2 and gif.size[0] >= 128
    gif.seek(0)
    k = gif.size[0] // side
    assert np.array_equal(np.asarray(gif.convert("L"))[::k, ::k], frames[0][:, :, 0])

    # Truncation 0: every latent is the mean, so every sample is the same image.
    psi = panel.findChild(QSlider, "latent_truncation")
    wait_drawn(qtbot, panel, "grid", lambda: psi.setValue(0))
    flat = panel.grid_array()
    assert all(np.array_equal(cell(flat, i, side), cell(flat, 0, side)) for i in range(64))
    assert not all(np.array_equal(cell(grid, i, side), cell(grid, 0, side)) for i in range(64))

    # G beside its EMA on the same latents (the picks), with the difference per pixel.
    tabs = panel.findChild(QTabWidget, "latent_tabs")
    wait_drawn(qtbot, panel, "compare", lambda: tabs.setCurrentIndex(1))
    titles = [lab.text().split("\n")[0] for lab, _ in panel._compare_views.values()]
    assert titles == ["G", "EMA", "G_ψ", "|G − EMA|", "|G − G_ψ|"]
    g, ema = (panel._compare_views[k][1].array for k in ("G", "EMA"))
    assert g.shape == (2 * (side + 1) + 1, side + 2) and not np.array_equal(g, ema)

    # The nearest real images of pick A, in the classifier's features and in pixels.
    wait_drawn(qtbot, panel, "nearest", lambda: tabs.setCurrentIndex(2))
    for key in ("features", "pixels"):
        label, view = panel._nearest_views[key]
        assert view.array.shape == (side + 2, 8 * (side + 1) + 1) and "distances" in label.text()


def test_the_dock_on_a_checkpoint(qtbot, make_window, trained_run):
    window = make_window()
    panel = open_dock(window)
    path = RunFolder(trained_run).latest_checkpoint()
    window.open_checkpoint(path)
    qtbot.waitUntil(lambda: panel.grid_step == 20, timeout=WAIT_MS)
    assert panel.info["step"] == 20 and not panel.info["has_ema"]
    assert panel.findChild(QLabel, "latent_source").text().startswith("checkpoint latest.pt · step 20")
    assert np.array_equal(panel.grid_array(), window.samples.current_array()[:, :, 0])
    # Seeds instead of grid samples.
    wait_drawn(qtbot, panel, "strip", lambda: panel.set_seeds(5, 6))
    assert panel.picks == [("seed", 5), ("seed", 6)] and len(panel.strip_frames) == 12


def test_the_dock_on_a_followed_run_reloads_its_new_checkpoints(qtbot, make_window, trained_run, tmp_path):
    run = tmp_path / "followed"
    shutil.copytree(trained_run, run)
    folder = RunFolder(run)
    newest = folder.checkpoints_dir / "step-000000020.pt"
    kept = tmp_path / "step-20.pt"
    shutil.move(newest, kept)
    (folder.checkpoints_dir / "latest.pt").unlink()
    window = make_window()
    panel = open_dock(window)
    window.open_run(run)
    qtbot.waitUntil(lambda: panel.grid_step == 10, timeout=WAIT_MS)
    # The run writes a new checkpoint: the explorer moves to it.
    shutil.copy(kept, newest)
    with open(folder.metrics_path, "a", encoding="utf-8") as f:
        f.write(json.dumps(CheckpointSaved(step=20, path="checkpoints/step-000000020.pt").record()) + "\n")
    qtbot.waitUntil(lambda: panel.grid_step == 20, timeout=WAIT_MS)
    assert panel.findChild(QLabel, "latent_source").text().startswith("checkpoint step-000000020.pt")


def test_a_dragged_slider_computes_the_latest_value_not_a_backlog(qtbot, make_window, trained_run):
    window = make_window()
    panel = open_dock(window)
    window.open_checkpoint(RunFolder(trained_run).latest_checkpoint())
    qtbot.waitUntil(lambda: panel.grid_step == 20, timeout=WAIT_MS)
    drawn = []
    panel.redrawn.connect(drawn.append)
    psi = panel.findChild(QSlider, "latent_truncation")
    # A fast drag: 100 moves while the thread is held (its lock) as if busy with a long request.
    with panel._thread._cond:
        for value in range(99, -1, -1):
            psi.setValue(value)
    qtbot.waitUntil(lambda: panel._thread.idle, timeout=WAIT_MS)
    QApplication.processEvents()  # the last reply, sent before the thread fell idle
    assert drawn.count("grid") == 1  # the latest value, not a backlog of 100
    flat = panel.grid_array()
    assert all(np.array_equal(cell(flat, i, 8), cell(flat, 0, 8)) for i in range(64))  # psi = 0


def test_the_2d_mesh_and_picks_on_the_plane(qtbot, make_window):
    window = make_window(data__dataset="ring8", model__latent_dim=2, model__width=16, train__batch_size=64)
    panel = open_dock(window)
    finished_run(qtbot, window)
    window.findChild(QDockWidget, "latent_dock").raise_()  # the 2D Lab raised itself over it
    qtbot.waitUntil(lambda: panel._plane is not None and "mesh" in panel._plane.layers, timeout=WAIT_MS)
    assert panel.info["is_2d"]
    x, y = panel._plane.layers["mesh"].getData()
    assert len(x) == 2 * 21 * 22  # 21 rows and 21 columns of 21 points, a gap after each
    points, _ = panel._plane.layers["points"].getData()
    assert len(points) == 1024
    wait_drawn(qtbot, panel, "strip", lambda: (panel.pick(0), panel.pick(5)))
    path_x, _ = panel._plane.layers["path"].getData()
    assert len(path_x) == 12
    assert not panel.findChild(QTabWidget, "latent_tabs").isTabEnabled(2)  # nearest: image data only


def test_a_closed_dock_asks_nothing_of_training(qtbot, make_window):
    window = make_window(train__steps=10)
    finished_run(qtbot, window)
    assert not getattr(window.session.trainer, "share_generator", False)
    assert window.session.run.latest_samples.generator is None
    assert window.latent._thread is None  # no thread until the dock is opened
