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

from ganstudio.core.run.events import Samples
from ganstudio.qt.panels.samples import SamplesPanel
from ganstudio.qt.widgets.grid_view import GRID_NROW, PICK_COLORS, GridView


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
    assert sorted(len(s.data) for s in scatters) == [0, 128, 500]  # no picks ringed
    # The real data above the generated cloud: a covered mode still shows.
    real = next(s for s in scatters if len(s.data) == 500)
    fake = next(s for s in scatters if len(s.data) == 128)
    assert real.zValue() > fake.zValue()
    assert plot.getPlotItem().getViewBox().state["aspectLocked"] == 1.0
    (x0, x1), (y0, y1) = plot.getPlotItem().getViewBox().viewRange()
    assert x0 <= reference[:, 0].min() and x1 >= reference[:, 0].max()

    panel.add_samples(Samples(step=20, points=points + 1))
    assert plot.getPlotItem().getViewBox().viewRange()[0] == [x0, x1]  # the range stays fixed
    path = tmp_path / "points.png"
    panel.set_reference_points(np.zeros((1, 2), np.float32))
    panel.add_samples(Samples(step=30, points=np.zeros((1, 2), np.float32)))  # on the same spot
    panel.save_grid(str(path))
    with Image.open(path) as image:
        assert image.size == (256, 256)
        assert image.getpixel((128, 128))[:3] == (60, 60, 60)  # the real point, drawn last
    panel.export_gif(str(tmp_path / "points.gif"))
    with Image.open(tmp_path / "points.gif") as gif:
        assert gif.n_frames == 3


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


# ----- the latent explorer's picks, outlined ----------------------------------------------------


def digits_grid(step: int, side: int = 8, rows: int = 8) -> np.ndarray:
    """A grey 8-column grid of `rows` rows laid out as the trainer's (1 px black padding)."""
    g = np.zeros((1 + rows * (side + 1), 1 + GRID_NROW * (side + 1), 1), dtype=np.uint8)
    for r in range(rows):
        for c in range(GRID_NROW):
            y, x = 1 + r * (side + 1), 1 + c * (side + 1)
            g[y : y + side, x : x + side] = 100 + step % 50
    return g


def outline_colour(panel: SamplesPanel, index: int, side: int = 8):
    """The colour drawn on the middle of the top edge of sample `index` in a grab of the panel."""
    view = panel.findChild(GridView, "samples_grid")
    image = panel.grab().toImage()
    target = view._target()
    k = target.width() / view.array.shape[1]
    row, col = divmod(index, GRID_NROW)
    x = target.x() + (1 + col * (side + 1) + side / 2) * k
    y = target.y() + (1 + row * (side + 1)) * k
    origin = view.mapTo(panel, view.rect().topLeft())
    return image.pixelColor(int(origin.x() + x), int(origin.y() + y))


def close_to(colour, expected) -> bool:
    return all(abs(a - b) <= 40 for a, b in zip(colour.getRgb()[:3], expected.getRgb()[:3], strict=True))


def test_picks_are_outlined_on_every_frame_until_cleared(panel, tmp_path):
    for step in (5, 10):
        panel.add_samples(Samples(step=step, grid=digits_grid(step)))
    panel.set_marks([(3, "A"), (40, "B")])
    assert panel.marks == [(3, "A"), (40, "B")]
    panel.grab().save(str(tmp_path / "marked.png"))
    assert close_to(outline_colour(panel, 3), PICK_COLORS["A"])
    assert close_to(outline_colour(panel, 40), PICK_COLORS["B"])
    assert not close_to(outline_colour(panel, 4), PICK_COLORS["A"])
    # The same latents at every step: scrubbed back, the same cells are outlined.
    panel.findChild(QSlider, "samples_timeline").setValue(0)
    assert panel.current_step == 5 and close_to(outline_colour(panel, 40), PICK_COLORS["B"])
    # A pick beyond a smaller grid's samples outlines nothing there, and fails nothing.
    panel.add_samples(Samples(step=15, grid=digits_grid(15, rows=2)))
    panel.findChild(QCheckBox, "samples_follow").setChecked(True)
    panel.grab()
    panel.set_marks([])
    assert panel.marks == [] and not close_to(outline_colour(panel, 3), PICK_COLORS["A"])
    # Another run (the model's reset clears the panel): no marks of the last one.
    panel.set_marks([(3, "A")])
    panel.clear()
    assert panel.marks == [] and panel.findChild(GridView, "samples_grid").marks == []


def test_picks_are_ringed_in_a_2d_scatter(panel):
    points = np.random.default_rng(0).normal(size=(64, 2)).astype(np.float32)
    panel.add_samples(Samples(step=10, points=points))
    panel.set_marks([(7, "A"), (9, "B")])
    rings = panel._marks_item
    assert np.allclose(np.c_[rings.data["x"], rings.data["y"]], points[[7, 9]])
    assert [p.color().name() for p in rings.data["pen"]] == [PICK_COLORS[k].name() for k in "AB"]
    panel.add_samples(Samples(step=20, points=points + 1))  # followed: the rings move with the points
    assert np.allclose(np.c_[rings.data["x"], rings.data["y"]], points[[7, 9]] + 1)
    panel.set_marks([(500, "A")])  # not one of these points: nothing ringed
    assert len(rings.data) == 0


def test_the_augmented_reals_toggle_shows_what_d_sees_in_place_of_the_samples(panel, qtbot):
    toggle = panel.findChild(QCheckBox, "samples_augmented")
    view = panel.findChild(GridView, "samples_grid")
    panel.add_samples(Samples(step=0, grid=grid(0, 3)))
    assert not toggle.isVisible()  # data.augment off: nothing to show
    augmented = grid(100, 3)
    panel.add_samples(Samples(step=5, grid=grid(5, 3), augmented=augmented))
    assert toggle.isVisible() and toggle.isEnabled() and not panel.showing_augmented()
    assert np.array_equal(view.array, grid(5, 3))
    toggle.setChecked(True)
    assert panel.showing_augmented() and np.array_equal(view.array, augmented)
    panel.findChild(QSlider, "samples_timeline").setValue(0)  # scrubbing keeps the augmented reals
    assert panel.current_step == 0 and np.array_equal(view.array, augmented)
    toggle.setChecked(False)
    assert np.array_equal(view.array, grid(0, 3))  # the samples again, at the scrubbed step
    panel.clear()  # another run: its augmentation is not known yet
    assert not toggle.isEnabled() and not panel.showing_augmented()
