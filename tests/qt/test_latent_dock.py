"""The latent explorer dock on the app's own run, a checkpoint and a followed run: picks from either
grid, the interpolation strip and its export, truncation, G beside its EMA, nearest real images,
the 2D mesh, and a thread that computes only the latest request."""

from __future__ import annotations

import json
import shutil

import numpy as np
from PIL import Image
from PySide6.QtCore import QObject, QPoint, QPointF, Qt, Slot
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (
    QApplication,
    QCheckBox,
    QDockWidget,
    QLabel,
    QPushButton,
    QSlider,
    QTabBar,
    QTabWidget,
)

from ganstudio.core.run.events import CheckpointSaved
from ganstudio.core.run.folder import RunFolder
from ganstudio.qt.latent_thread import ExplorerThread, Reply
from ganstudio.qt.panels.latent import LatentPanel
from ganstudio.qt.widgets.grid_view import PICK_COLORS, GridView, grid_index
from tests.qt.conftest import WAIT_MS, tiny_config

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


def outlined(samples, i: int, side: int) -> str:
    """The colour a grab of the Samples panel has on the middle of sample i's top edge."""
    view = samples.findChild(GridView, "samples_grid")
    target = view._target()
    k = target.width() / view.array.shape[1]
    r, c = divmod(i, 8)
    at = view.mapTo(
        samples,
        QPoint(
            int(target.x() + (1 + c * (side + 1) + side / 2) * k), int(target.y() + (1 + r * (side + 1)) * k)
        ),
    )
    return samples.grab().toImage().pixelColor(at).name()


def click_point(qtbot, plot, xy) -> None:
    """A real mouse click on the plane's data point `xy`."""
    vb = plot.getPlotItem().getViewBox()
    plot.grab()  # a paint: the view's automatic range, left until then, is what is on screen
    at = plot.mapFromScene(vb.mapViewToScene(QPointF(float(xy[0]), float(xy[1]))))
    qtbot.mouseClick(plot.viewport(), Qt.MouseButton.LeftButton, pos=at)


def has_mesh(panel: LatentPanel) -> bool:
    return panel._explore.plane is not None and "mesh" in panel._explore.plane.layers


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
    qtbot.waitUntil(lambda: panel._explore.grid_view.isVisible())
    grid_view = panel._explore.grid_view
    wait_drawn(qtbot, panel, "strip", lambda: click_cell(qtbot, grid_view, grid.shape, 40, side))
    assert panel.picks == [("sample", 3), ("sample", 40)]
    # The Samples grid outlines both picks, the one clicked in the explorer too.
    assert window.samples.marks == [(3, "A"), (40, "B")]
    samples_dock.raise_()
    qtbot.waitUntil(lambda: window.samples.isVisible())
    assert outlined(window.samples, 40, side) == PICK_COLORS["B"].name()
    assert outlined(window.samples, 3, side) == PICK_COLORS["A"].name()
    window.samples.grab().save(str(tmp_path / "samples-with-picks.png"))
    window.findChild(QDockWidget, "latent_dock").raise_()
    qtbot.waitUntil(lambda: panel._explore.grid_view.isVisible())
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
    titles = [lab.text().split("\n")[0] for lab, _ in panel._compare.views.values()]
    assert titles == ["G", "EMA", "G_ψ", "|G − EMA|", "|G − G_ψ|"]
    g, ema = (panel._compare.views[k][1].array for k in ("G", "EMA"))
    assert g.shape == (2 * (side + 1) + 1, side + 2) and not np.array_equal(g, ema)
    # Each map's legend says what it shows: white at its largest difference (psi 0: far from G).
    for title in ("|G − EMA|", "|G − G_ψ|"):
        label, view = panel._compare.views[title]
        assert "black 0, white " in label.text() and view.array[1:-1, 1:-1].max() == 255
    # psi = 1 truncates nothing: a black map, and a legend that says so (not "white = 0").
    wait_drawn(qtbot, panel, "compare", lambda: psi.setValue(100))
    label, view = panel._compare.views["|G − G_ψ|"]
    assert view.array[1:-1, 1:-1].max() == 0
    assert label.text() == "|G − G_ψ|\nψ = 1 truncates nothing: no difference"

    # The nearest real images of pick A, in the classifier's features and in pixels.
    wait_drawn(qtbot, panel, "nearest", lambda: tabs.setCurrentIndex(2))
    for key in ("features", "pixels"):
        label, view = panel._nearest.views[key]
        assert view.array.shape == (side + 2, 8 * (side + 1) + 1) and "distances" in label.text()
    # Clear: no picks, none outlined in the Samples grid either.
    qtbot.mouseClick(panel.findChild(QPushButton, "latent_clear_picks"), Qt.MouseButton.LeftButton)
    assert panel.picks == [] and window.samples.marks == []
    assert outlined(window.samples, 40, side) != PICK_COLORS["B"].name()

    # Whatever it shows, the explorer never needs more width than the Samples panel it is
    # tabbed with: more would be taken from the hyperparameters' dock.
    for index in range(3):
        tabs.setCurrentIndex(index)
        assert panel.minimumSizeHint().width() <= window.samples.minimumSizeHint().width()


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
    qtbot.waitUntil(lambda: has_mesh(panel), timeout=WAIT_MS)
    assert panel.info["is_2d"]
    x, y = panel._explore.plane.layers["mesh"].getData()
    assert len(x) == 2 * 21 * 22  # 21 rows and 21 columns of 21 points, a gap after each
    points, _ = panel._explore.plane.layers["points"].getData()
    assert len(points) == 1024
    # A real click on a point of the plane picks it, and the Samples scatter rings it.
    points = panel._explore.plane.layers["points"].getData()
    xy = np.c_[points]
    click_point(qtbot, panel._explore.plane.widget, xy[0])
    assert len(panel.picks) == 1
    kind, index = panel.picks[0]
    assert kind == "sample" and np.linalg.norm(xy[index] - xy[0]) < 0.2 * np.ptp(xy[:, 0])
    assert window.samples.marks == [(index, "A")]
    rings = window.samples._marks_item
    assert np.allclose(np.c_[rings.data["x"], rings.data["y"]], window.samples.current_array()[[index]])
    wait_drawn(qtbot, panel, "strip", lambda: panel.pick(5))
    path_x, _ = panel._explore.plane.layers["path"].getData()
    assert len(path_x) == 12
    assert not panel.findChild(QTabWidget, "latent_tabs").isTabEnabled(2)  # nearest: image data only


def test_a_closed_dock_asks_nothing_of_training(qtbot, make_window):
    window = make_window(train__steps=10)
    finished_run(qtbot, window)
    assert not getattr(window.session.trainer, "share_generator", False)
    assert window.session.run.latest_samples.generator is None
    assert window.latent._thread is None  # no thread until the dock is opened


# ----- a run change starts the explorer over --------------------------------------------------

RING8 = {"data__dataset": "ring8", "model__latent_dim": 2, "model__width": 16, "train__batch_size": 64}


def train_another(qtbot, window, tmp_path, **keys) -> None:
    """File › New Run, another configuration, Start, and wait for the run to finish."""
    window.findChild(QAction, "action_new_run").trigger()
    window.session.set_config(tiny_config(tmp_path / "runs", **keys))
    finished_run(qtbot, window)


def assert_no_plane_left(panel: LatentPanel) -> None:
    """Nothing of a 2D run is drawn or kept: no points, mesh, picks or path, no 2D comparison."""
    for plane in (panel._explore.plane, panel._compare.plane):
        if plane is not None:
            for key, item in plane.layers.items():
                x = item.getData()[0]
                assert x is None or len(x) == 0, key
    assert panel._explore.plane_points is None


def assert_image_mode(qtbot, panel: LatentPanel, window) -> None:
    dock = window.findChild(QDockWidget, "latent_dock")
    dock.raise_()  # the 2D Lab raised itself over the explorer for a 2D run, then hid: Samples in front
    qtbot.waitUntil(
        lambda: (
            panel.info is not None
            and not panel.info["is_2d"]
            and panel.grid_step == window.samples.current_step
        ),
        timeout=WAIT_MS,
    )
    stack = panel._explore.grid_view.parentWidget()
    assert stack.currentWidget() is panel._explore.grid_view and panel._explore.grid_view.isVisible()
    assert np.array_equal(panel.grid_array(), window.samples.current_array()[:, :, 0])
    assert panel.findChild(QCheckBox, "latent_mesh").isHidden()
    assert panel.findChild(QTabWidget, "latent_tabs").isTabEnabled(2)
    assert_no_plane_left(panel)


def test_a_digits_run_after_a_2d_run_shows_digits(qtbot, make_window, trained_run):
    window = make_window(**RING8)
    panel = open_dock(window)
    finished_run(qtbot, window)
    window.findChild(QDockWidget, "latent_dock").raise_()  # the 2D Lab raised itself over it
    qtbot.waitUntil(lambda: has_mesh(panel), timeout=WAIT_MS)
    wait_drawn(qtbot, panel, "strip", lambda: (panel.pick(0), panel.pick(5)))
    tabs = panel.findChild(QTabWidget, "latent_tabs")
    wait_drawn(qtbot, panel, "compare", lambda: tabs.setCurrentIndex(1))
    tabs.setCurrentIndex(0)
    assert window.samples.marks == [(0, "A"), (5, "B")]

    # New Run: nothing of the ring8 run is left, and nothing is drawn.
    window.findChild(QAction, "action_new_run").trigger()
    assert panel.picks == [] and panel.info is None and panel.grid_array() is None
    assert window.samples.marks == []
    assert_no_plane_left(panel)
    assert panel._explore.grid_view.parentWidget().currentWidget() is panel._explore.grid_view

    # A digits checkpoint opened: the digits grid, not the ring8 plane.
    window.open_checkpoint(RunFolder(trained_run).latest_checkpoint())
    assert_image_mode(qtbot, panel, window)
    wait_drawn(qtbot, panel, "compare", lambda: tabs.setCurrentIndex(1))
    assert panel._compare.box.parentWidget().currentWidget() is panel._compare.box
    assert [t.split("\n")[0] for t in compare_titles(panel)] == ["G", "G_ψ", "|G − G_ψ|"]


def test_a_2d_run_after_a_digits_run_shows_the_plane(qtbot, make_window, tmp_path):
    window = make_window(**EMA_RUN)
    panel = open_dock(window)
    finished_run(qtbot, window)
    qtbot.waitUntil(lambda: panel.grid_step == 20, timeout=WAIT_MS)
    wait_drawn(qtbot, panel, "strip", lambda: (panel.pick(3), panel.pick(40)))
    tabs = panel.findChild(QTabWidget, "latent_tabs")
    wait_drawn(qtbot, panel, "nearest", lambda: tabs.setCurrentIndex(2))
    wait_drawn(qtbot, panel, "compare", lambda: tabs.setCurrentIndex(1))
    assert len(compare_titles(panel)) == 5

    # New Run: no digits results are left in any tab.
    window.findChild(QAction, "action_new_run").trigger()
    assert compare_titles(panel) == [] and panel.strip_frames == []
    assert panel._explore.strip_view.array is None
    assert all(view.array is None for _, view in panel._nearest.views.values())
    assert panel._nearest.query.array is None and panel.grid_array() is None
    train_another(qtbot, window, tmp_path, **RING8)
    window.findChild(QDockWidget, "latent_dock").raise_()
    qtbot.waitUntil(lambda: panel.info is not None and panel.info["is_2d"], timeout=WAIT_MS)
    assert panel.picks == [] and panel.strip_frames == []
    # The comparison is the 2D one: no digits columns left beside it.
    qtbot.waitUntil(
        lambda: panel._compare.plane is not None and panel._compare.plane.widget.isVisible(), timeout=WAIT_MS
    )
    assert compare_titles(panel) == []
    tabs.setCurrentIndex(0)
    qtbot.waitUntil(
        lambda: (
            panel._explore.plane is not None
            and panel._explore.plane.widget.isVisible()
            and "mesh" in panel._explore.plane.layers
        ),
        timeout=WAIT_MS,
    )
    assert panel._explore.strip_view.array is None and not panel._explore.grid_view.isVisible()
    assert not tabs.isTabEnabled(2)

    # And back to digits, trained this time.
    train_another(qtbot, window, tmp_path, **EMA_RUN)
    window.findChild(QDockWidget, "latent_dock").raise_()
    assert_image_mode(qtbot, panel, window)


def compare_titles(panel: LatentPanel) -> list[str]:
    return [label.text() for label, _ in panel._compare.views.values()]


# ----- the layout: opened from the View menu ---------------------------------------------------


def current_tab(window, dock: QDockWidget) -> str:
    """The title of the tab in front of `dock`'s tab group."""
    for bar in window.findChildren(QTabBar):
        titles = [bar.tabText(i) for i in range(bar.count())]
        if bar.isVisible() and dock.windowTitle() in titles:
            return bar.tabText(bar.currentIndex())
    raise AssertionError(f"{dock.windowTitle()} is in no visible tab group")


def settled(qtbot, window) -> None:
    qtbot.waitExposed(window)
    QApplication.processEvents()  # the sizes set as it was shown (_fit_docks, restoreState)


def test_opening_the_explorer_raises_it_and_keeps_the_left_docks_width(qtbot, make_window, settings):
    window = make_window()
    settled(qtbot, window)
    left = window._docks["hyperparams"]
    width = left.width()
    dock = window.findChild(QDockWidget, "latent_dock")
    view = window.menuBar().actions()[2].menu()
    assert view.title() == "&View" and dock.toggleViewAction() in view.actions()

    dock.toggleViewAction().trigger()  # View › Latent Explorer
    settled(qtbot, window)
    assert current_tab(window, dock) == "Latent Explorer"
    assert abs(left.width() - width) <= 2, (width, left.width())

    # The next start restores that layout: the explorer in front, the left docks as wide. (This
    # offscreen screen is 800 px wide: the window's saved geometry would be cut down to it, so the
    # next window keeps its default size; the docks' sizes are in the saved state.)
    window.save_settings()
    settings.remove("window/geometry")
    again = make_window(config=False)
    settled(qtbot, again)
    assert again.size() == window.size()
    assert current_tab(again, again.findChild(QDockWidget, "latent_dock")) == "Latent Explorer"
    assert abs(again._docks["hyperparams"].width() - width) <= 2, (width, again._docks["hyperparams"].width())

    # Another closed dock opened from the menu comes to the front too, not behind the tab shown.
    compare = window.findChild(QDockWidget, "compare_dock")
    compare.toggleViewAction().trigger()  # closed
    settled(qtbot, window)
    compare.toggleViewAction().trigger()  # opened again
    settled(qtbot, window)
    assert current_tab(window, compare) == "Compare"


class Collector(QObject):
    """Replies, received on the GUI thread (queued from the explorer's thread)."""

    def __init__(self):
        super().__init__()
        self.replies: list[Reply] = []

    @Slot(object)
    def add(self, reply: Reply) -> None:
        self.replies.append(reply)


def test_the_thread_forgets_the_last_runs_generator_and_its_waiting_requests(qtbot, trained_run):
    thread, collector = ExplorerThread(), Collector()
    replies = collector.replies
    thread.replied.connect(collector.add)
    checkpoint = str(RunFolder(trained_run).latest_checkpoint())
    common = {"psi": 1.0, "walk": [], "picks": [], "mesh": False}
    try:
        thread.submit("source", 1, {"checkpoint": checkpoint})
        thread.submit("grid", 1, common)
        qtbot.waitUntil(lambda: [r.kind for r in replies] == ["source", "grid"], timeout=WAIT_MS)
        # Another run: requests still waiting for the old generator are dropped, and the
        # generator itself, so that nothing more is drawn from it.
        with thread._cond:  # held: the thread cannot start on anything meanwhile
            thread.submit("grid", 1, common)
            thread.forget()
        thread.submit("grid", 2, common)
        qtbot.waitUntil(lambda: thread.idle, timeout=WAIT_MS)
        QApplication.processEvents()
        assert [r.kind for r in replies] == ["source", "grid"]
        # A newer source makes what waits for an older one pointless: it is not computed.
        with thread._cond:
            thread.submit("grid", 2, common)
            thread.submit("source", 3, {"checkpoint": checkpoint})
        qtbot.waitUntil(lambda: thread.idle and len(replies) == 3, timeout=WAIT_MS)
        QApplication.processEvents()
        assert [(r.kind, r.generation) for r in replies[2:]] == [("source", 3)]
    finally:
        thread.close()


def test_a_conditional_checkpoint_gets_a_class_picker(qtbot, make_window, tmp_path):
    from PySide6.QtWidgets import QSpinBox

    from ganstudio.core.train.trainer import Trainer

    cfg = tiny_config(tmp_path / "runs", model__conditional=True, optim__lr_g=0.05)
    t = Trainer(cfg)
    for _ in range(3):
        t.train_step()
    path = tmp_path / "conditional.pt"
    t.save_checkpoint(path)
    window = make_window()
    panel = open_dock(window)
    window.open_checkpoint(path)
    qtbot.waitUntil(lambda: panel.grid_step == 3, timeout=WAIT_MS)
    spin = panel.findChild(QSpinBox, "latent_class_value")
    assert panel.info["num_classes"] == 10 and spin.isVisible() and spin.maximum() == 9
    zeros = panel.grid_array().copy()
    wait_drawn(qtbot, panel, "grid", lambda: spin.setValue(7))  # same z, another class
    assert not np.array_equal(panel.grid_array(), zeros)
