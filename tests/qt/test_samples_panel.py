"""SamplesPanel: the timeline, its bound, the views and the PNG / GIF files it writes."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
import pytest
from PIL import Image
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QFileDialog,
    QLabel,
    QMessageBox,
    QPushButton,
    QSlider,
    QStackedWidget,
)

from ganstudio.core.events import Samples
from ganstudio.qt.panels.samples import SamplesPanel


def grid(step: int, channels: int = 1, size: int = 18) -> np.ndarray:
    """A small grid whose pixels encode its step, so frames can be told apart."""
    rng = np.random.default_rng(step)
    return rng.integers(0, 256, (size, size + 4, channels), dtype=np.uint8)


@pytest.fixture
def panel(qtbot) -> SamplesPanel:
    p = SamplesPanel()
    qtbot.addWidget(p)
    p.resize(400, 450)
    p.show()
    qtbot.waitExposed(p)
    return p


def parts(panel: SamplesPanel):
    return (
        panel.findChild(QSlider, "samples_timeline"),
        panel.findChild(QCheckBox, "samples_follow"),
        panel.findChild(QPushButton, "samples_save"),
        panel.findChild(QPushButton, "samples_export_gif"),
    )


def step_label(panel: SamplesPanel) -> str:
    return panel.findChild(QLabel, "samples_step").text()


def test_empty_panel(panel):
    timeline, follow, save, export = parts(panel)
    assert panel.objectName() == "samples_panel"
    assert follow.isChecked()
    assert not save.isEnabled() and not export.isEnabled()
    assert step_label(panel) == "no samples"
    assert panel.current_step is None
    with pytest.raises(ValueError, match="no samples"):
        panel.export_gif("/tmp/never.gif")


def test_follows_latest_and_scrubs_back(panel):
    timeline, follow, save, _ = parts(panel)
    for step in (0, 100, 200):
        panel.add_samples(Samples(step=step, grid=grid(step)))
    assert panel.current_step == 200
    assert step_label(panel) == "step 200 (3/3)"
    assert timeline.maximum() == 2 and timeline.value() == 2
    assert save.isEnabled()

    timeline.setValue(0)  # the user drags back
    assert not follow.isChecked()
    assert panel.current_step == 0
    np.testing.assert_array_equal(panel.current_array(), grid(0))
    assert step_label(panel) == "step 0 (1/3)"

    panel.add_samples(Samples(step=300, grid=grid(300)))  # not following: the view stays put
    assert panel.current_step == 0
    assert step_label(panel) == "step 0 (1/4)"
    assert timeline.maximum() == 3

    timeline.setValue(3)  # back at the end: following again
    assert follow.isChecked()
    panel.add_samples(Samples(step=400, grid=grid(400)))
    assert panel.current_step == 400


def test_follow_checkbox_jumps_to_latest(panel, qtbot):
    timeline, follow, _, _ = parts(panel)
    for step in range(5):
        panel.add_samples(Samples(step=step, grid=grid(step)))
    timeline.setFocus()
    qtbot.keyClick(timeline, Qt.Key.Key_Home)
    assert panel.current_step == 0 and not follow.isChecked()
    qtbot.mouseClick(follow, Qt.MouseButton.LeftButton)
    assert follow.isChecked()
    assert panel.current_step == 4 and timeline.value() == 4


def test_thinning_keeps_first_and_latest_and_stays_bounded(qtbot):
    panel = SamplesPanel(max_grids=10)
    qtbot.addWidget(panel)
    for step in range(200):
        panel.add_samples(Samples(step=step, grid=grid(step, size=4)))
        assert len(panel.steps) <= 10
    steps = panel.steps
    assert steps[0] == 0 and steps[-1] == 199
    assert steps == sorted(steps)
    assert steps[-3:] == [197, 198, 199]  # the recent past stays dense
    assert panel.current_step == 199
    with pytest.raises(ValueError, match="max_grids"):
        SamplesPanel(max_grids=2)


def test_thinning_keeps_a_scrubbed_view_nearby(qtbot):
    panel = SamplesPanel(max_grids=8)
    qtbot.addWidget(panel)
    for step in range(8):
        panel.add_samples(Samples(step=step, grid=grid(step, size=4)))
    timeline, follow, _, _ = parts(panel)
    timeline.setValue(3)
    panel.add_samples(Samples(step=8, grid=grid(8, size=4)))  # thins 0..3 to 0, 2
    assert panel.steps == [0, 2, 4, 5, 6, 7, 8]
    assert panel.current_step == 2  # step 3 was dropped: its kept predecessor is shown
    assert timeline.value() == 1 and not follow.isChecked()


def test_save_grid_round_trips(panel, tmp_path):
    panel.add_samples(Samples(step=5, grid=grid(5, channels=1)))
    path = tmp_path / "grid.png"
    panel.save_grid(str(path))
    with Image.open(path) as image:
        assert image.mode == "L"
        np.testing.assert_array_equal(np.asarray(image), grid(5)[:, :, 0])
    panel.add_samples(Samples(step=6, grid=grid(6, channels=3)))
    panel.save_grid(str(path))
    with Image.open(path) as image:
        np.testing.assert_array_equal(np.asarray(image), grid(6, channels=3))


def test_export_gif_frames(panel, tmp_path):
    for step in (0, 50, 100, 150):
        panel.add_samples(Samples(step=step, grid=grid(step)))
    path = tmp_path / "run.gif"
    panel.export_gif(str(path))
    with Image.open(path) as gif:
        assert gif.n_frames == 4
        assert gif.width >= 256
        assert gif.info["loop"] == 0
        assert gif.info["duration"] == 100
        gif.seek(3)
        last = np.asarray(gif.convert("RGB"))
    # the frame is the grid upscaled with NEAREST below a margin for its label
    scale = 256 // 22 + 1
    top = last.shape[0] - 18 * scale
    np.testing.assert_array_equal(
        last[top : top + scale, :scale, 0], np.full((scale, scale), grid(150)[0, 0, 0])
    )


def test_write_errors_are_readable(panel, tmp_path):
    panel.add_samples(Samples(step=1, grid=grid(1)))
    missing = tmp_path / "no such folder" / "x.png"
    with pytest.raises(OSError, match="Could not write .*no such folder"):
        panel.save_grid(str(missing))
    with pytest.raises(OSError, match="Choose another folder"):
        panel.export_gif(str(tmp_path / "no such folder" / "x.gif"))


def test_buttons_use_the_dialog_and_report_errors(panel, qtbot, tmp_path, monkeypatch):
    _, _, save, export = parts(panel)
    panel.add_samples(Samples(step=7, grid=grid(7)))
    chosen = {"path": str(tmp_path / "picked")}  # no suffix: the panel adds it
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (chosen["path"], ""))
    warnings = []
    monkeypatch.setattr(QMessageBox, "warning", lambda parent, title, text, *a: warnings.append(text))

    qtbot.mouseClick(save, Qt.MouseButton.LeftButton)
    assert (tmp_path / "picked.png").is_file()
    qtbot.mouseClick(export, Qt.MouseButton.LeftButton)
    assert (tmp_path / "picked.gif").is_file()
    assert warnings == []

    chosen["path"] = str(tmp_path / "gone" / "x.png")
    qtbot.mouseClick(save, Qt.MouseButton.LeftButton)
    assert len(warnings) == 1 and "gone" in warnings[0]

    chosen["path"] = ""  # cancelled
    qtbot.mouseClick(save, Qt.MouseButton.LeftButton)
    assert len(warnings) == 1


def test_grid_is_scaled_nearest_to_fill_the_view(panel):
    checker = np.zeros((2, 2, 1), dtype=np.uint8)
    checker[0, 0] = checker[1, 1] = 255
    panel.add_samples(Samples(step=1, grid=checker))
    stack = panel.findChild(QStackedWidget)
    view = stack.currentWidget()
    image = view.grab().toImage()
    side = min(view.width(), view.height())
    assert side > 100
    # sample across the drawn square: only pure black and white, no interpolated grey
    cx, cy = view.width() // 2, view.height() // 2
    values = {
        image.pixelColor(x, cy - side // 4).red() for x in range(cx - side // 2 + 2, cx + side // 2 - 2)
    }
    assert values == {0, 255}


def test_points_scatter_over_reference(panel, tmp_path):
    rng = np.random.default_rng(0)
    reference = rng.normal(size=(500, 2)).astype(np.float32)
    panel.set_reference_points(reference)
    points = rng.normal(scale=0.5, size=(128, 2)).astype(np.float32)
    panel.add_samples(Samples(step=10, points=points))
    plot = panel.findChild(pg.PlotWidget, "samples_scatter")
    assert panel.findChild(QStackedWidget).currentWidget() is plot
    scatters = [i for i in plot.getPlotItem().items if isinstance(i, pg.ScatterPlotItem)]
    assert sorted(len(s.data) for s in scatters) == [128, 500]
    assert plot.getPlotItem().getViewBox().state["aspectLocked"] == 1.0
    (x0, x1), (y0, y1) = plot.getPlotItem().getViewBox().viewRange()
    assert x0 <= reference[:, 0].min() and x1 >= reference[:, 0].max()

    panel.add_samples(Samples(step=20, points=points + 1))
    assert plot.getPlotItem().getViewBox().viewRange()[0] == [x0, x1]  # the range stays fixed
    path = tmp_path / "points.png"
    panel.save_grid(str(path))
    with Image.open(path) as image:
        assert image.size == (256, 256)
    panel.export_gif(str(tmp_path / "points.gif"))
    with Image.open(tmp_path / "points.gif") as gif:
        assert gif.n_frames == 2


def test_reference_points_are_drawn_once_not_per_frame(panel, qtbot, monkeypatch):
    """50,000 translucent real points cost most of a scatter frame: they are rendered once and
    reused while new samples arrive, so the points drawn over many frames stay bounded."""
    drawn = {"reference": 0, "samples": 0}
    paint = pg.ScatterPlotItem.paint

    def counting_paint(item, *args):
        if item is panel._reference_item:
            drawn["reference"] += len(item.data)
        else:
            drawn["samples"] += len(item.data)
        return paint(item, *args)

    monkeypatch.setattr(pg.ScatterPlotItem, "paint", counting_paint)
    rng = np.random.default_rng(0)
    reference = rng.normal(size=(50_000, 2))
    panel.set_reference_points(reference)
    plot = panel.findChild(pg.PlotWidget, "samples_scatter")
    frames = 6
    for step in range(1, frames + 1):
        panel.add_samples(Samples(step=step, points=rng.normal(scale=0.5, size=(256, 2))))
        plot.grab()
    assert drawn["samples"] >= frames * 256  # every frame was painted
    assert drawn["reference"] <= len(reference)  # the reference only once, with every point
    assert len(panel._reference_item.data) == len(reference)

    # A new reference (a new run on other data) is drawn again, once.
    drawn["reference"] = 0
    panel.set_reference_points(reference[:1000] * 2)
    for step in range(frames + 1, 2 * frames + 1):
        panel.add_samples(Samples(step=step, points=rng.normal(scale=0.5, size=(256, 2))))
        plot.grab()
    assert 0 < drawn["reference"] <= 1000


def test_clear_and_load_timeline(panel):
    timeline, follow, save, _ = parts(panel)
    panel.add_samples(Samples(step=1, grid=grid(1)))
    panel.clear()
    assert panel.steps == [] and panel.current_step is None
    assert not save.isEnabled()
    timeline.setValue(0)
    panel.load_timeline([(s, grid(s)) for s in (1000, 2000, 3000)])
    assert panel.steps == [1000, 2000, 3000]
    assert panel.current_step == 3000 and follow.isChecked()
    assert step_label(panel) == "step 3000 (3/3)"
    with pytest.raises(ValueError, match="step 5"):
        panel.load_timeline([(5, np.zeros((3, 3), dtype=np.float32))])


def test_timeline_does_not_keep_the_senders_larger_buffers_alive(qtbot):
    # The trainer's one-channel grid is a view of one channel of a three-channel buffer; a frame
    # that kept the view would keep the whole buffer alive as long as the timeline keeps it.
    panel = SamplesPanel(max_grids=10)
    qtbot.addWidget(panel)
    for step in range(50):
        rgb = np.ascontiguousarray(np.transpose(grid(step, channels=3, size=4), (2, 0, 1)))
        view = np.transpose(rgb, (1, 2, 0))[:, :, :1]
        assert view.base is not None
        panel.add_samples(Samples(step=step, grid=view))
        stored = panel.current_array()
        np.testing.assert_array_equal(stored, view)
        assert stored.base is None and stored.nbytes == view.nbytes
    owned = grid(50)
    panel.add_samples(Samples(step=50, grid=owned))
    assert panel.current_array() is owned  # an array that owns its memory is not copied
