"""Lab2DPanel: D's field, the real and generated points and G's push, fed with Samples from a real
tiny ring8 trainer and driven through its checkboxes and button; and the lab in the window, which
shows a 2D config's real data before Start."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPointF, Qt, QTimer
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QCheckBox, QComboBox, QLabel, QPushButton

from ganstudio.core.config import Config, save, validate, with_values
from ganstudio.core.extent import preview_points
from ganstudio.core.metrics.converged import CONVERGED
from ganstudio.core.run.events import Marker, Samples, Stats
from ganstudio.core.train.lab import FIELD_RESOLUTION
from ganstudio.core.train.trainer import Trainer
from ganstudio.qt.panels.lab2d import (
    ARROWS_SHOWN,
    REAL_POINTS_SHOWN,
    Lab2DPanel,
    arrow_segments,
    field_at,
    raw_levels,
)
from ganstudio.qt.run_model import RunModel
from tests.qt.conftest import WAIT_MS, tiny_config

TINY_RING8 = {
    "data.dataset": "ring8",
    "model.width": 16,
    "model.latent_dim": 4,
    "train.batch_size": 32,
    "train.steps": 20,
    "train.threads": 1,
    "train.device": "cpu",
    "log.sample_every": 0,
    "log.checkpoint_every": 0,
}


def ring8_trainer(loss: str = "nonsaturating", steps: int = 3) -> Trainer:
    t = Trainer(validate(with_values(Config(), {**TINY_RING8, "loss.kind": loss})))
    for _ in range(steps):
        t.train_step()
    return t


@pytest.fixture(scope="module")
def trainer() -> Trainer:
    return ring8_trainer()


@pytest.fixture
def panel(qtbot) -> Lab2DPanel:
    p = Lab2DPanel()
    qtbot.addWidget(p)
    p.resize(420, 460)
    p.show()
    qtbot.waitExposed(p)
    return p


def box(panel: Lab2DPanel, name: str) -> QCheckBox:
    return panel.findChild(QCheckBox, name)


def shown(panel: Lab2DPanel, qtbot, ev: Samples) -> None:
    panel.show_samples(ev)
    qtbot.waitUntil(lambda: panel.current_step == ev.step)


def view_range(panel: Lab2DPanel):
    return panel.plot.getPlotItem().getViewBox().viewRange()


def shows_extent(panel: Lab2DPanel, extent) -> bool:
    """The view holds the whole extent, and no more than the equal aspect needs on one axis."""
    (x0, x1), (y0, y1) = view_range(panel)
    xmin, xmax, ymin, ymax = extent
    eps = 1e-6 * (xmax - xmin)
    holds = x0 <= xmin + eps and x1 >= xmax - eps and y0 <= ymin + eps and y1 >= ymax - eps
    tight = min((x1 - x0) / (xmax - xmin), (y1 - y0) / (ymax - ymin)) < 1.05
    return holds and tight


def test_draws_a_trainers_samples(panel, qtbot, trainer):
    assert panel.objectName() == "lab2d_panel"
    panel.set_reference_points(trainer.data.x.numpy())
    assert len(panel.real_item.data) == REAL_POINTS_SHOWN
    ev = trainer.samples()
    panel.show_samples(ev)
    assert panel.current_step is None  # drawn at the next display tick, not per event
    qtbot.waitUntil(lambda: panel.current_step == ev.step)

    assert len(panel.fake_item.data) == len(ev.points)
    np.testing.assert_allclose(panel.fake_item.data["x"], ev.points[:, 0])
    assert panel.field_item.isVisible()
    assert panel.field_item.image.shape == (FIELD_RESOLUTION, FIELD_RESOLUTION)
    assert list(panel.field_item.getLevels()) == [0.0, 1.0]  # nonsaturating: probabilities
    assert panel.probabilistic
    rect = panel.field_item.mapRectToParent(panel.field_item.boundingRect())
    xmin, xmax, ymin, ymax = ev.extent
    assert (rect.left(), rect.right()) == pytest.approx((xmin, xmax))
    assert (rect.top(), rect.bottom()) == pytest.approx((ymin, ymax))

    x, y = panel.arrows_item.getData()
    assert len(x) == 2 * ARROWS_SHOWN and panel.arrows_item.isVisible()
    assert panel.arrows_item.opts["connect"] == "pairs"

    assert shows_extent(panel, ev.extent)
    assert panel.plot.getPlotItem().getViewBox().state["aspectLocked"] == 1.0
    assert panel.findChild(QLabel, "lab2d_step").text() == f"step {ev.step}"
    assert "0 fake" in panel.findChild(QLabel, "lab2d_legend").text()


def test_real_points_are_a_bounded_stable_subset(panel, qtbot):
    """At most REAL_POINTS_SHOWN real points are drawn, and the same data gives the same subset
    (a new run or a reopened checkpoint shows the same picture)."""
    real = np.random.default_rng(1).normal(size=(50_000, 2))
    panel.set_reference_points(real)
    first = np.column_stack(panel.real_item.getData())
    assert len(first) == REAL_POINTS_SHOWN
    panel.set_reference_points(real)
    np.testing.assert_array_equal(np.column_stack(panel.real_item.getData()), first)
    other = Lab2DPanel()
    qtbot.addWidget(other)
    other.set_reference_points(real)
    np.testing.assert_array_equal(np.column_stack(other.real_item.getData()), first)
    panel.set_reference_points(real[:100])  # a small set is drawn whole
    assert len(panel.real_item.getData()[0]) == 100


def test_checkboxes_toggle_the_layers(panel, qtbot, trainer):
    panel.set_reference_points(trainer.data.x.numpy())
    shown(panel, qtbot, trainer.samples())
    for name, item in (("lab2d_field", panel.field_item), ("lab2d_real", panel.real_item)):
        assert box(panel, name).isChecked() and item.isVisible()
        qtbot.mouseClick(box(panel, name), Qt.MouseButton.LeftButton)
        assert not item.isVisible()
        qtbot.mouseClick(box(panel, name), Qt.MouseButton.LeftButton)
        assert item.isVisible()

    arrows = box(panel, "lab2d_arrows")
    assert arrows.isChecked()
    qtbot.mouseClick(arrows, Qt.MouseButton.LeftButton)
    assert not panel.arrows_item.isVisible()
    ev = Samples(step=99, points=np.zeros((10, 2), np.float32), arrows=np.ones((10, 2), np.float32))
    shown(panel, qtbot, ev)  # hidden arrows are not computed
    assert panel.arrows_item.getData()[0] is None or len(panel.arrows_item.getData()[0]) == 0
    qtbot.mouseClick(arrows, Qt.MouseButton.LeftButton)
    assert panel.arrows_item.isVisible()
    x, y = panel.arrows_item.getData()
    assert len(x) == 20
    # from each point along its normalised gradient (1, 1)
    np.testing.assert_allclose(x[1::2] - x[0::2], y[1::2] - y[0::2])
    assert (x[1::2] > x[0::2]).all()


def test_bursts_are_drawn_once(panel, qtbot, trainer):
    ev = trainer.samples()
    draws = []
    panel.fake_item.sigPlotChanged.connect(lambda *_: draws.append(1))
    for step in range(5):
        panel.show_samples(
            Samples(step=step, points=ev.points, field=ev.field, extent=ev.extent, arrows=ev.arrows)
        )
    qtbot.waitUntil(lambda: panel.current_step == 4)
    assert len(draws) == 1


def test_reset_view_restores_the_extent(panel, qtbot, trainer):
    ev = trainer.samples()
    shown(panel, qtbot, ev)
    before = view_range(panel)
    view = panel.plot.getPlotItem().getViewBox()
    view.scaleBy((0.25, 0.25))  # the user zooms in
    assert view_range(panel)[0][1] - view_range(panel)[0][0] < 0.5 * (before[0][1] - before[0][0])
    shown(panel, qtbot, trainer.samples())  # new samples keep the user's view
    assert view_range(panel)[0][1] - view_range(panel)[0][0] < 0.5 * (before[0][1] - before[0][0])
    qtbot.mouseClick(panel.findChild(QPushButton, "lab2d_reset_view"), Qt.MouseButton.LeftButton)
    assert shows_extent(panel, ev.extent)


def test_raw_scores_are_centred_between_real_and_fake(panel, qtbot):
    t = ring8_trainer("hinge", steps=2)
    panel.set_reference_points(t.data.x.numpy())
    ev = t.samples()
    assert ev.field_is_probability is False  # a hinge D gives raw scores, whatever their range
    shown(panel, qtbot, ev)
    assert not panel.probabilistic
    lo, hi = panel.field_item.getLevels()
    on_real = field_at(ev.field, ev.extent, t.data.x.numpy()).mean()
    on_fake = field_at(ev.field, ev.extent, ev.points).mean()
    assert (lo + hi) / 2 == pytest.approx((on_real + on_fake) / 2, rel=0.05, abs=1e-3)
    assert "D score" in panel.findChild(QLabel, "lab2d_legend").text()
    panel.set_probabilistic(True)  # told otherwise
    assert list(panel.field_item.getLevels()) == [0.0, 1.0]
    assert "0 fake" in panel.findChild(QLabel, "lab2d_legend").text()
    panel.set_probabilistic(None)
    panel.clear()  # a new run forgets what it saw
    assert panel.probabilistic and panel.current_step is None
    assert not panel.field_item.isVisible() and len(panel.fake_item.data) == 0


def test_raw_levels_ignore_a_critics_offset():
    """A WGAN critic may say 100 for fake and 104 for real: the colours must still tell them apart."""
    extent = (-2.0, 2.0, -2.0, 2.0)
    _, xs = np.mgrid[-2:2:64j, -2:2:64j]
    field = (100.0 + 4.0 * (xs > 0)).astype(np.float32)  # real on the right
    real = np.column_stack([np.full(50, 1.0), np.linspace(-1, 1, 50)])
    fake = np.column_stack([np.full(80, -1.0), np.linspace(-1, 1, 80)])
    lo, hi = raw_levels(field, extent, real, fake)
    assert (lo, hi) == (pytest.approx(100.0), pytest.approx(104.0))  # fake at one end, real at the other
    np.testing.assert_array_equal(field_at(field, extent, real), 104.0)
    np.testing.assert_array_equal(field_at(field, extent, np.array([[9.0, 9.0], [-9.0, 0.0]])), [104, 100])
    assert raw_levels(field, extent, None, fake) == (pytest.approx(-104.0), pytest.approx(104.0))


def test_image_samples_and_hidden_panels(panel, qtbot, trainer):
    panel.show_samples(Samples(step=1, grid=np.zeros((8, 8, 1), np.uint8)))
    assert panel.current_step is None and len(panel.fake_item.data) == 0

    panel.hide()
    ev = trainer.samples()
    panel.show_samples(ev)
    timer = panel.findChild(QTimer, "lab2d_redraw_timer")
    qtbot.waitUntil(lambda: not timer.isActive())
    assert panel.current_step is None  # a hidden panel does not draw
    panel.show()
    qtbot.waitUntil(lambda: panel.current_step == ev.step)


def test_follows_the_palette(panel, qtbot):
    light = panel.arrows_item.opts["pen"].color()
    dark = QPalette(panel.palette())
    dark.setColor(QPalette.ColorRole.Base, QColor("#121212"))
    dark.setColor(QPalette.ColorRole.Text, QColor("#e0e0e0"))
    panel.setPalette(dark)
    pen = panel.arrows_item.opts["pen"].color()
    assert pen.lightness() > 150 and pen != light
    assert panel.plot.backgroundBrush().color() == QColor("#121212")


def test_arrow_segments_scale_and_skip_bad_points():
    points = np.array([[0, 0], [1, 1], [2, 2], [np.nan, 0]], dtype=np.float32)
    grads = np.array([[3, 4], [0, 0], [0.3, 0.4], [1, 1]], dtype=np.float32)
    seg = arrow_segments(points, grads, length=2.0)
    assert seg.shape == (6, 2)
    assert np.linalg.norm(seg[1] - seg[0]) == pytest.approx(2.0)  # the strongest: full length
    np.testing.assert_allclose(seg[3], seg[2])  # no push: no arrow
    assert 0 < np.linalg.norm(seg[5] - seg[4]) < 2.0
    assert arrow_segments(points[:0], grads[:0], 1.0).shape == (0, 2)


def pixel_at(panel: Lab2DPanel, x: float, y: float) -> QColor:
    """The colour drawn at data point (x, y) of the lab's plot."""
    view = panel.plot.getPlotItem().getViewBox()
    at = panel.plot.mapFromScene(view.mapViewToScene(QPointF(x, y)))
    return panel.plot.grab().toImage().pixelColor(at)


def test_real_points_are_drawn_over_the_generated_ones(panel, qtbot):
    """A mode the generator covers still shows: the real data is above the generated cloud (and
    G's push), in the palette's text colour, and the cloud is see-through."""
    real = preview_points("ring8")
    panel.set_reference_points(real)
    covered = real[np.linalg.norm(real - [2.0, 0.0], axis=1) < 0.1]  # the mode at (2, 0), copied
    shown(panel, qtbot, Samples(step=7, points=covered.astype(np.float32)))
    layers = ("field_item", "fake_item", "arrows_item", "real_item")  # bottom to top
    z = [getattr(panel, name).zValue() for name in layers]
    assert z == sorted(z) and len(set(z)) == len(z)
    ink = panel.palette().color(QPalette.ColorRole.Text)
    real_brush, fake_brush = panel.real_item.opts["brush"].color(), panel.fake_item.opts["brush"].color()
    assert real_brush.rgb() == ink.rgb() and fake_brush.rgb() != ink.rgb() and fake_brush.alpha() < 255

    drawn = pixel_at(panel, 2.0, 0.0)  # where both clouds are: the real one shows
    assert drawn.lightness() < 100 and abs(drawn.blue() - drawn.red()) < 40, drawn.name()
    panel.set_reference_points(None)
    drawn = pixel_at(panel, 2.0, 0.0)  # and it was drawn over a blue generated cloud
    assert drawn.blue() > drawn.red() + 60, drawn.name()


def test_real_points_follow_the_palette(panel):
    dark = QPalette(panel.palette())
    dark.setColor(QPalette.ColorRole.Base, QColor("#121212"))
    dark.setColor(QPalette.ColorRole.Text, QColor("#e0e0e0"))
    panel.setPalette(dark)
    assert panel.real_item.opts["brush"].color().lightness() > 150  # light points on a dark plane
    assert "#e0e0e0" in panel.findChild(QLabel, "lab2d_keys").text()


def covers(lab: Lab2DPanel, points: np.ndarray) -> bool:
    """The lab's view holds every point, and is no more than twice as wide as they need."""
    (x0, x1), (y0, y1) = lab.plot.getPlotItem().getViewBox().viewRange()
    lo, hi = points.min(axis=0), points.max(axis=0)
    inside = x0 < lo[0] and x1 > hi[0] and y0 < lo[1] and y1 > hi[1]
    return inside and min(x1 - x0, y1 - y0) < 2 * (hi - lo).max()


def test_a_2d_config_shows_its_real_data_before_start(make_window, qtbot, tmp_path):
    """Not an empty 0..1 plane: a 2D config at launch, a preset picked or a config loaded before
    Start show the real data in a view that holds it; image data hides the lab."""
    window = make_window(data__dataset="ring8", model__latent_dim=4, train__steps=4)
    dock, lab = window._docks["lab2d"], window.lab2d
    assert not dock.isHidden() and dock.toggleViewAction().isEnabled()
    assert len(lab.real_item.data) > 0 and covers(lab, preview_points("ring8"))

    preset = window.findChild(QComboBox, "hyperparams_preset")
    preset.activated.emit(preset.findData("grid25"))
    assert window.session.config.data.dataset == "grid25"
    assert covers(lab, preview_points("grid25"))

    save(tiny_config(tmp_path / "runs"), tmp_path / "digits.toml")
    window.load_config(tmp_path / "digits.toml")
    assert dock.isHidden() and not dock.toggleViewAction().isEnabled()
    save(
        tiny_config(tmp_path / "runs", data__dataset="spiral", model__latent_dim=4, train__steps=4),
        tmp_path / "spiral.toml",
    )
    window.load_config(tmp_path / "spiral.toml")
    assert not dock.isHidden() and covers(lab, preview_points("spiral"))

    window.start()  # the run's own data replaces the preview
    qtbot.waitUntil(lambda: window.session.trainer is not None, timeout=WAIT_MS)
    data = {tuple(p) for p in window.session.trainer.data.x.numpy().astype(np.float64).tolist()}
    qtbot.waitUntil(lambda: tuple(lab.real_item.data["x"][:1]) != (), timeout=WAIT_MS)
    assert all((x, y) in data for x, y in zip(lab.real_item.data["x"], lab.real_item.data["y"], strict=True))
    qtbot.waitUntil(lambda: not window.session.busy, timeout=WAIT_MS)


def test_a_saved_layout_does_not_show_the_lab_for_image_data(make_window, settings, qtbot):
    """The lab that the last session left open shows again only for 2D data, and with its data."""
    first = make_window(data__dataset="ring8", model__latent_dim=4, train__steps=2)
    first.start()  # a user trains a 2D toy, then quits
    qtbot.waitUntil(lambda: first.session.state == "stopped", timeout=WAIT_MS)
    assert not first._docks["lab2d"].isHidden()
    first.close()
    assert settings.value("window/state") is not None
    images = make_window()
    assert images._docks["lab2d"].isHidden()
    again = make_window(data__dataset="ring8", model__latent_dim=4)
    assert not again._docks["lab2d"].isHidden() and covers(again.lab2d, preview_points("ring8"))


def test_says_when_the_run_converged(qtbot):
    """Driven through the run model: the run's "converged" marker (the training loop decides it,
    core/train/loop.py; tests/core/test_converged.py tests the rule) is named with its step, and
    the training time once that step's stats have come; a new run starts over, and a run read back
    with the marker in its history says it at once."""
    model = RunModel()
    model.start_over(validate(with_values(Config(), {**TINY_RING8, "train.steps": 1000})))
    panel = Lab2DPanel(model)
    qtbot.addWidget(panel)
    label = panel.findChild(QLabel, "lab2d_converged")
    good = preview_points("ring8", count=1024).astype(np.float32)

    model.apply([Stats(50, 0.1, 1.0, {}), Samples(step=50, points=good)])
    assert panel.converged_step is None and label.text() == ""  # the loop has not said so
    model.apply([Samples(step=150, points=good), Marker(150, CONVERGED, "converged: 8/8 modes")])
    assert panel.converged_step == 150 and label.text() == "converged at step 150"  # before its stats
    model.apply([Stats(150, 0.3, 3.3, {}), Samples(step=200, points=good), Marker(200, CONVERGED, "again")])
    assert panel.converged_step == 150 and label.text() == "converged at step 150 (3.3 s)"
    assert "1%" in label.toolTip()

    model.start_over(validate(with_values(Config(), {**TINY_RING8, "data.dataset": "grid25"})))
    assert panel.converged_step is None and label.text() == ""
    state = model.state
    state.apply(Stats(20, 0.2, 0.5, {}))
    state.apply(Marker(20, CONVERGED, "converged: 25/25 modes"))
    model.start_over(state=state)  # a run read back (opened, followed): its marker is in its history
    assert panel.converged_step == 20 and label.text() == "converged at step 20 (0.5 s)"
