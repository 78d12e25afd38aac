"""PlotsPanel, driven through its real controls and checked on the PlotDataItems it draws."""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
import pytest
from PySide6.QtCore import QPoint, QPointF, Qt, QTimer
from PySide6.QtGui import QWheelEvent
from PySide6.QtWidgets import QApplication, QCheckBox, QComboBox, QSlider, QTabWidget

from ganstudio.core.run.events import CheckpointSaved, HyperparamsChanged, Resumed, Stats
from ganstudio.core.run.history import History, Marker
from ganstudio.qt.panels.plots import PlotsPanel
from ganstudio.qt.run_model import RunModel
from tests.core.test_curves import reference_ema


def points(n: int, start: int = 0, seed: int = 0, nan_every: int = 0) -> list[Stats]:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(start, start + n):
        loss_d = float(rng.normal(1.0, 0.3))
        if nan_every and i % nan_every == 3:
            loss_d = math.nan
        values = {
            "loss_d": loss_d,
            "loss_g": float(rng.normal(2.0, 0.5)),
            "d_real": 0.6,
            "d_fake": 0.4,
            "grad_d": 1.0,
            "grad_g": 2.0,
            "lr_d": 2e-4,
            "lr_g": 2e-4,
        }
        out.append(Stats(step=10 * i, epoch=i / 100, wall=0.5 * i + 1.0, values=values))
    return out


def fill(history: History, n: int, start: int = 0, seed: int = 0, nan_every: int = 0) -> None:
    for ev in points(n, start, seed, nan_every):
        history.append(ev)


def model_of(history: History) -> RunModel:
    """A RunModel showing a copy of `history` (a test then reads and grows `model.history`)."""
    model = RunModel()
    model.history.replace_with(history)
    return model


@pytest.fixture
def model() -> RunModel:
    m = RunModel()
    m.history.replace_with(History(capacity=16))  # small, so the tests also cross its buffer growth
    fill(m.history, 300, nan_every=17)
    return m


@pytest.fixture
def history(model) -> History:
    """The model's History. A test that changes it directly (not through the model) calls
    refresh(), which draws whether or not the model said anything changed."""
    return model.history


def shown_panel(qtbot, model: RunModel) -> PlotsPanel:
    """A PlotsPanel of `model`, 800x400 and shown (the plots panel tests' fixture)."""
    p = PlotsPanel(model)
    qtbot.addWidget(p)
    p.resize(800, 400)
    p.show()
    qtbot.waitExposed(p)
    return p


@pytest.fixture
def panel(qtbot, model) -> PlotsPanel:
    return shown_panel(qtbot, model)


def controls(panel: PlotsPanel) -> tuple[QSlider, QCheckBox, QComboBox, QCheckBox]:
    return (
        panel.findChild(QSlider, "plots_smoothing"),
        panel.findChild(QCheckBox, "plots_log_y"),
        panel.findChild(QComboBox, "plots_x_axis"),
        panel.findChild(QCheckBox, "plots_follow"),
    )


def test_tabs_and_object_names(panel):
    assert panel.objectName() == "plots_panel"
    assert all(w is not None for w in controls(panel))
    tabs = panel.findChild(QTabWidget)
    # One tab per declaration in core.metrics.tabs, in its order: the stats, then the metrics.
    assert [tabs.tabText(i) for i in range(tabs.count())] == [
        "Losses",
        "D outputs",
        "Gradients",
        "Learning rates",
        "Coverage",
        "Precision/recall",
        "FD",
        "Overfitting",
        "Layer gradients",
        "System",
        "Logged",
    ]
    # The rest tab (what a loop of yours logs by its own names) shows only while there is any.
    assert not tabs.isTabVisible(tabs.count() - 1) and "Logged" not in panel.titles()
    legend = panel.plot_widget("Losses").getPlotItem().legend
    assert [label.text for _, label in legend.items] == ["D loss", "G loss"]
    assert panel.plot_widget("Losses").getPlotItem().getAxis("bottom").labelText == "step"


def test_what_a_loop_logs_by_its_own_names_gets_a_tab_of_its_own(panel, model, qtbot):
    model.apply(
        [
            Stats(
                step=301 + i,
                epoch=0.0,
                wall=0.0,
                values={"loss_d": 1.0, "my_loss": 0.5 + i, "my_loss_std": 0.1},
            )
            for i in range(5)
        ]
    )
    assert "Logged" in panel.titles()  # shown as soon as such a name is logged
    panel.show_tab("Logged")
    panel.refresh()
    legend = panel.plot_widget("Logged").getPlotItem().legend
    assert [label.text for _, label in legend.items] == ["my_loss"]  # its _std is a band, not a curve
    x, y = panel.curve("Logged", "my_loss", raw=True).getData()
    assert list(x[-5:]) == [301, 302, 303, 304, 305] and list(y[-5:]) == [0.5, 1.5, 2.5, 3.5, 4.5]
    model.start_over(None)  # another run, with no such names: the tab goes
    assert "Logged" not in panel.titles()


def test_smoothing_matches_reference_and_extends_incrementally(panel, history):
    slider, *_ = controls(panel)
    slider.setValue(60)
    panel.refresh()
    smooth = panel.curve("Losses", "loss_d")
    raw = panel.curve("Losses", "loss_d", raw=True)
    values = history.series("loss_d")
    finite = np.isfinite(values)
    assert not finite.all()  # NaNs are skipped, not drawn and not averaged in
    np.testing.assert_allclose(smooth.yData, reference_ema(values, 0.6), rtol=1e-9)
    np.testing.assert_array_equal(smooth.xData, history.steps()[finite])
    np.testing.assert_array_equal(raw.yData, values[finite])
    assert raw.isVisible()

    fill(history, 1000, start=300, seed=1, nan_every=17)
    panel.refresh()
    np.testing.assert_allclose(smooth.yData, reference_ema(history.series("loss_d"), 0.6), rtol=1e-9)
    # a dense series is drawn from History's own buffers, not a copy
    g = panel.curve("Losses", "loss_g")
    assert np.shares_memory(g.xData, history.steps())

    slider.setValue(95)
    panel.refresh()
    np.testing.assert_allclose(smooth.yData, reference_ema(history.series("loss_d"), 0.95), rtol=1e-9)


def test_smoothing_zero_shows_raw_only(panel, history):
    slider, *_ = controls(panel)
    slider.setValue(0)
    panel.refresh()
    smooth = panel.curve("Losses", "loss_g")
    np.testing.assert_array_equal(smooth.yData, history.series("loss_g"))
    assert not panel.curve("Losses", "loss_g", raw=True).isVisible()


def test_smoothing_slider_by_keyboard(panel, qtbot, history):
    slider, *_ = controls(panel)
    slider.setValue(50)
    slider.setFocus()
    qtbot.keyClick(slider, Qt.Key.Key_Right)
    assert slider.value() == 51
    panel.refresh()
    np.testing.assert_allclose(
        panel.curve("Losses", "loss_g").yData, reference_ema(history.series("loss_g"), 0.51), rtol=1e-9
    )


def test_log_y_checkbox(panel, qtbot):
    _, log_y, _, _ = controls(panel)
    qtbot.mouseClick(log_y, Qt.MouseButton.LeftButton)
    assert log_y.isChecked()
    for title in ("Losses", "Learning rates"):
        assert panel.curve(title, "lr_d" if title == "Learning rates" else "loss_d").opts["logMode"] == [
            False,
            True,
        ]
    panel.refresh()
    panel.grab()  # draws with log mapping (negative values become gaps) without error
    qtbot.mouseClick(log_y, Qt.MouseButton.LeftButton)
    assert panel.curve("Losses", "loss_d").opts["logMode"] == [False, False]


def test_wall_time_axis_moves_curves_and_markers(panel, history):
    history.add_marker(CheckpointSaved(1000, "/runs/x/ckpt.pt"))
    _, _, x_axis, _ = controls(panel)
    panel.refresh()
    layer = panel.marker_layer("Losses")
    assert layer.x.tolist() == [1000]
    x_axis.setCurrentIndex(x_axis.findText("Wall time (s)"))
    panel.refresh()
    np.testing.assert_array_equal(panel.curve("Losses", "loss_g").xData, history.walls())
    assert layer.x[0] == pytest.approx(history.wall_at(1000))
    item = panel.plot_widget("Losses").getPlotItem()
    assert item.getAxis("bottom").labelText == "wall time (s)"


def test_marker_ahead_of_the_log_follows_it_on_a_wall_time_axis(panel, history):
    last = int(history.steps()[-1])
    history.add_marker(CheckpointSaved(last + 5, "/runs/x/ckpt.pt"))  # not logged yet
    _, _, x_axis, _ = controls(panel)
    x_axis.setCurrentIndex(x_axis.findText("Wall time (s)"))
    panel.refresh()
    layer = panel.marker_layer("Losses")
    assert layer.x[0] == pytest.approx(history.walls()[-1])
    fill(history, 3, start=300, seed=3)
    panel.refresh()
    assert layer.x[0] == pytest.approx(history.wall_at(last + 5)) == pytest.approx(history.walls()[300])


def test_markers_on_every_tab_added_incrementally(panel, history):
    history.add_marker(HyperparamsChanged(500, {"lr_g": (2e-4, 1e-4)}))
    history.add_marker(CheckpointSaved(1000, "/runs/x/ckpt_1000.pt"))
    history.add_marker(Marker(1500, "d_wins", "D wins: D(x)=0.99"))
    panel.refresh()
    for title in ("Losses", "D outputs", "Gradients", "Learning rates"):
        layer = panel.marker_layer(title)
        assert layer.x.tolist() == [500, 1000, 1500]
        assert [m.kind for m in layer.markers] == ["hparams", "checkpoint", "d_wins"]
    layer = panel.marker_layer("Losses")
    colours = {layer.color(i).name() for i in range(3)}
    assert len(colours) == 3
    assert "lr_g: 0.0002 → 0.0001" in layer.text(0)
    assert layer.text(1) == "step 1000: checkpoint saved: /runs/x/ckpt_1000.pt"

    history.add_marker(CheckpointSaved(2000, "/runs/x/ckpt_2000.pt"))
    panel.refresh()
    assert layer.x.tolist() == [500, 1000, 1500, 2000]
    items = panel.plot_widget("Losses").getPlotItem().items
    assert sum(isinstance(i, pg.InfiniteLine) for i in items) == 0  # one layer, not one item each
    assert items.count(layer) == 1


def test_dense_checkpoint_markers_are_thinned_but_alerts_never(panel, history):
    last = int(history.steps()[-1])
    for step in range(0, last, 5):  # ~600 checkpoints across an ~800 px plot
        history.add_marker(CheckpointSaved(step, f"/runs/x/ckpt_{step}.pt"))
    history.add_marker(Marker(1500, "d_wins", "D wins"))
    history.add_marker(Marker(1505, "collapse", "mode collapse"))  # a pixel or so from the first
    panel.refresh()
    layer = panel.marker_layer("Losses")
    drawn = layer.drawn()
    kinds = [layer.markers[i].kind for i in drawn]
    width = panel.plot_widget("Losses").getPlotItem().getViewBox().width()
    assert 0 < kinds.count("checkpoint") <= width / 8 + 2
    assert kinds[-2:] == ["d_wins", "collapse"]  # both alerts drawn, on top of the checkpoints


def paint_image(panel: PlotsPanel, title: str):
    panel.show_tab(title)
    panel.refresh()
    return panel.plot_widget(title).grab().toImage()


def column_colours(image, x: int) -> set[str]:
    return {image.pixelColor(x, y).name() for y in range(image.height())}


def test_markers_are_drawn_as_dashed_lines_in_their_colours(panel, history):
    history.add_marker(CheckpointSaved(1000, "/runs/x/ckpt.pt"))
    history.add_marker(Marker(2000, "grad_explode", "gradient norm 1e6"))
    image = paint_image(panel, "D outputs")
    layer = panel.marker_layer("D outputs")
    view = panel.plot_widget("D outputs").getPlotItem().getViewBox()
    for i, colour in ((0, "#7b93ad"), (1, "#e03131")):
        scene_x = view.mapViewToScene(pg.Point(layer.x[i], 0.5)).x()
        column = round(panel.plot_widget("D outputs").mapFromScene(scene_x, 0).x())
        seen = set().union(*(column_colours(image, c) for c in (column - 1, column, column + 1)))
        assert colour in seen
    background = panel.palette().color(panel.palette().ColorRole.Base).name()
    assert background in column_colours(image, column)  # dashed: the background shows between


def test_marker_hover_shows_its_text(panel, history):
    history.add_marker(Marker(1500, "grad_explode", "gradient norm 1e6"))
    history.add_marker(CheckpointSaved(1500, "/runs/x/ckpt.pt"))  # the alert wins a shared step
    panel.refresh()
    layer = panel.marker_layer("Losses")

    class Hover:
        def __init__(self, x: float, exit_: bool = False):
            self._x, self._exit = x, exit_

        def isExit(self):  # noqa: N802 (pyqtgraph's name)
            return self._exit

        def pos(self):
            return QPointF(self._x, 0.0)

    far = 1500 + 50 * layer.pixelWidth()
    layer.hoverEvent(Hover(far))
    assert layer.hovered is None and not layer.toolTip()
    layer.hoverEvent(Hover(1500 + 2 * layer.pixelWidth()))
    assert layer.hovered == 0
    label = [c for c in layer.childItems() if isinstance(c, pg.TextItem)][0]
    assert label.isVisible() and "gradient norm 1e6" in label.toPlainText()
    assert layer.toolTip() == "step 1500: gradient norm 1e6"
    layer.hoverEvent(Hover(1500, exit_=True))
    assert not label.isVisible() and layer.hovered is None


def test_a_routine_checkpoint_is_hovered_at_its_tick_only(panel, history):
    """Autosaves are short ticks at the bottom: the mouse anywhere else above them reads nothing."""
    history.add_marker(CheckpointSaved(1500, "/runs/x/ckpt.pt"))
    panel.refresh()
    layer = panel.marker_layer("Losses")
    view = panel.plot_widget("Losses").getPlotItem().getViewBox()
    (_, _), (y0, y1) = view.viewRange()

    class Hover:
        def __init__(self, y: float):
            self._y = y

        def isExit(self):  # noqa: N802 (pyqtgraph's name)
            return False

        def pos(self):
            return QPointF(1500.0, self._y)

    layer.hoverEvent(Hover((y0 + y1) / 2))
    assert layer.hovered is None
    layer.hoverEvent(Hover(y0 + 3 * layer.pixelHeight()))
    assert layer.hovered == 0 and "ckpt.pt" in layer.toolTip()


def test_rollback_redraws_from_scratch(panel, history):
    history.add_marker(CheckpointSaved(2500, "/runs/x/ckpt.pt"))
    panel.refresh()
    history.truncate(1000)
    fill(history, 5, start=101, seed=9)
    panel.refresh()
    n = len(history)
    assert n == 106
    smooth = panel.curve("Losses", "loss_g")
    assert len(smooth.yData) == n
    np.testing.assert_allclose(smooth.yData, reference_ema(history.series("loss_g"), 0.6), rtol=1e-9)
    assert len(panel.marker_layer("Losses").x) == 0


def test_timer_redraws_only_when_history_changed(panel, qtbot, model, history):
    panel.refresh()
    curve = panel.curve("Losses", "loss_g")
    calls = []
    original = curve.setData
    curve.setData = lambda *a, **k: (calls.append(1), original(*a, **k))
    timer = panel.findChild(QTimer, "plots_redraw_timer")
    for _ in range(3):  # nothing changed: ticks draw nothing
        with qtbot.waitSignal(timer.timeout, timeout=2000):
            pass
    assert calls == []
    model.apply(points(10, start=300))
    qtbot.waitUntil(lambda: len(curve.xData) == len(history), timeout=2000)
    drawn = len(calls)
    for _ in range(3):
        with qtbot.waitSignal(timer.timeout, timeout=2000):
            pass
    assert len(calls) == drawn
    model.apply([CheckpointSaved(3000, "/x.pt")])
    qtbot.waitUntil(lambda: len(panel.marker_layer("Losses").x) == 1, timeout=2000)


def count_draws(panel: PlotsPanel) -> list[str]:
    """The titles of the tabs the panel draws from now on, one entry a draw."""
    drawn: list[str] = []
    original = panel._redraw

    def counting(tab, force: bool = False) -> bool:
        did = original(tab, force)
        if did:
            drawn.append(tab.title)
        return did

    panel._redraw = counting
    return drawn


def ticks(qtbot, panel: PlotsPanel, n: int = 3) -> None:
    timer = panel.findChild(QTimer, "plots_redraw_timer")
    for _ in range(n):
        with qtbot.waitSignal(timer.timeout, timeout=2000):
            pass


def test_an_idle_model_redraws_no_tab(panel, qtbot, model):
    """Nothing changed: no tick, redraw() or switch between built tabs draws anything, and a change
    the plots do not show (a run resumed) does not either."""
    panel.show_tab("Gradients")
    panel.show_tab("Losses")
    panel.refresh()
    drawn = count_draws(panel)
    ticks(qtbot, panel)
    assert not panel.redraw()
    panel.show_tab("Gradients")
    panel.show_tab("Losses")
    model.apply([Resumed(step=3000)])
    ticks(qtbot, panel)
    assert drawn == [] and not panel.is_dirty("Losses") and not panel.is_dirty("Gradients")


def test_a_model_change_marks_every_tab_dirty_and_the_tick_draws_the_visible_one(panel, qtbot, model):
    panel.show_tab("Gradients")
    panel.show_tab("Losses")
    panel.refresh()
    drawn = count_draws(panel)
    model.apply(points(5, start=300))
    assert all(panel.is_dirty(title) for title in panel.titles())  # built or not, shown or not
    qtbot.waitUntil(lambda: drawn == ["Losses"], timeout=2000)
    assert not panel.is_dirty("Losses") and panel.is_dirty("Gradients")
    assert len(panel.curve("Losses", "loss_g").xData) == len(model.history)
    ticks(qtbot, panel)
    assert drawn == ["Losses"]  # drawn once, not again while idle
    panel.show_tab("Gradients")  # a hidden tab catches up when shown
    assert drawn == ["Losses", "Gradients"]
    assert len(panel.curve("Gradients", "grad_d").xData) == len(model.history)
    model.start_over()  # another run (empty so far): drawn from scratch
    curve = panel.curve("Gradients", "grad_d")
    qtbot.waitUntil(lambda: curve.xData is None or len(curve.xData) == 0, timeout=2000)


def wheel(widget, delta: int = 120) -> None:
    centre = QPointF(widget.width() / 2, widget.height() / 2)
    event = QWheelEvent(
        centre,
        QPointF(widget.mapToGlobal(centre.toPoint())),
        QPoint(0, 0),
        QPoint(0, delta),
        Qt.MouseButton.NoButton,
        Qt.KeyboardModifier.NoModifier,
        Qt.ScrollPhase.NoScrollPhase,
        False,
    )
    QApplication.sendEvent(widget, event)


def test_follow_turns_off_on_zoom_and_restores_autorange(panel, qtbot):
    *_, follow = controls(panel)
    panel.refresh()
    plot = panel.plot_widget("Losses")
    view = plot.getPlotItem().getViewBox()
    assert follow.isChecked() and all(view.autoRangeEnabled())
    wheel(plot.viewport())
    assert not follow.isChecked()
    assert not any(view.autoRangeEnabled())
    qtbot.mouseClick(follow, Qt.MouseButton.LeftButton)
    assert follow.isChecked() and all(view.autoRangeEnabled())
    other = panel.plot_widget("Gradients").getPlotItem().getViewBox()
    assert all(other.autoRangeEnabled())


def test_add_tab_plots_sparse_metric(panel, history):
    rng = np.random.default_rng(5)
    for i in range(300, 400):
        values = {"loss_d": 1.0, "loss_g": 1.0}
        if i % 10 == 0:
            values["fid"] = float(rng.uniform(10, 50))
        history.append(Stats(step=10 * i, epoch=0.0, wall=0.5 * i + 1.0, values=values))
    panel.add_tab("Quality", [("fid", "FID")])
    with pytest.raises(ValueError, match="Quality"):
        panel.add_tab("Quality", [("fid", "FID")])
    tabs = panel.findChild(QTabWidget)
    tabs.setCurrentIndex(tabs.count() - 1)
    panel.refresh()
    curve = panel.curve("Quality", "fid")
    assert len(curve.xData) == 10  # only the points that carry the metric, joined by a line
    np.testing.assert_array_equal(curve.xData, np.arange(3000, 4000, 100))
    assert panel.plot_widget("Quality").getPlotItem().getAxis("left").labelText == "quality"


def million_point_history(n: int = 1_000_000) -> History:
    rng = np.random.default_rng(0)
    state = {
        "step": np.arange(n),
        "wall": np.arange(n) * 0.01,
        "epoch": np.zeros(n),
        "values": {k: rng.normal(size=n) for k in ("loss_d", "loss_g", "d_real", "d_fake")},
        "markers": [[1000 * i, "checkpoint", f"ckpt {i}"] for i in range(50)],
    }
    return History.from_state_dict(state)


def test_million_points_are_reduced_to_screen_resolution_keeping_every_peak(qtbot):
    model = model_of(million_point_history())
    history = model.history
    n = len(history)
    panel = PlotsPanel(model)
    qtbot.addWidget(panel)
    panel.resize(800, 400)
    panel.show()
    panel.refresh()
    assert panel.grab().width() > 0
    width = panel.plot_widget("Losses").getPlotItem().getViewBox().width()
    values = history.series("loss_d")
    for smoothed in (False, True):
        curve = panel.curve("Losses", "loss_d", raw=not smoothed)
        expected = reference_ema(values, 0.6) if smoothed else values
        assert len(curve.yData) <= 2 * (width + 3)  # min and max per pixel column
        assert curve.yData.min() == pytest.approx(expected.min(), rel=1e-9)
        assert curve.yData.max() == pytest.approx(expected.max(), rel=1e-9)
        assert curve.xData[0] == 0 and curve.xData[-1] <= n - 1
    panel.findChild(QSlider, "plots_smoothing").setValue(99)
    panel.refresh()
    panel.grab()
    assert len(panel.marker_layer("D outputs").x) == 50

    # Appending keeps the pyramid current incrementally: the new extreme shows up.
    history.append(Stats(step=n, epoch=0.0, wall=n * 0.01, values={"loss_d": 99.0, "loss_g": 0.0}))
    panel.refresh()
    assert panel.curve("Losses", "loss_d", raw=True).yData.max() == 99.0


def test_zoomed_in_view_is_reduced_at_its_own_resolution(qtbot):
    model = model_of(million_point_history())
    history = model.history
    panel = PlotsPanel(model)
    qtbot.addWidget(panel)
    panel.resize(800, 400)
    panel.show()
    panel.refresh()
    view = panel.plot_widget("Losses").getPlotItem().getViewBox()
    view.setXRange(200_000, 300_000, padding=0)  # as a zoom does, with "Follow latest" off
    panel.findChild(QCheckBox, "plots_follow").setChecked(False)
    view.setXRange(200_000, 300_000, padding=0)
    assert panel.redraw()
    raw = panel.curve("Losses", "loss_d", raw=True)
    values = history.series("loss_d")
    assert raw.xData[0] <= 100_000 and raw.xData[-1] >= 400_000  # a view's width either side
    inside = (raw.xData >= 200_000) & (raw.xData < 300_000)
    assert inside.sum() <= 2 * (view.width() + 3)
    assert raw.yData[inside].max() == values[200_000:300_000].max()

    view.setXRange(250_000, 251_000, padding=0)  # 1000 points: drawn as they are
    assert panel.redraw()
    shown = (raw.xData >= 250_000) & (raw.xData <= 251_000)
    np.testing.assert_array_equal(raw.yData[shown], values[250_000:251_001])


def test_learning_rates_are_not_smoothed(panel, history):
    history.append(Stats(step=5000, epoch=0.0, wall=500.0, values={"lr_d": 1e-4, "lr_g": 2e-4}))
    panel.refresh()
    lr = panel.curve("Learning rates", "lr_d")
    assert lr.yData[-1] == 1e-4  # a step change stays a step
    assert not panel.curve("Learning rates", "lr_d", raw=True).isVisible()
    assert panel.curve("Losses", "loss_g", raw=True).isVisible()


def test_first_nan_after_dense_points(panel, history):
    panel.refresh()  # loss_g has been finite so far: drawn straight from History's buffers
    history.append(Stats(step=5000, epoch=0.0, wall=500.0, values={"loss_g": math.nan}))
    fill(history, 20, start=501, seed=4)
    panel.refresh()
    curve = panel.curve("Losses", "loss_g")
    values = history.series("loss_g")
    assert len(curve.yData) == len(history) - 1
    np.testing.assert_array_equal(curve.xData, history.steps()[np.isfinite(values)])
    np.testing.assert_allclose(curve.yData, reference_ema(values, 0.6), rtol=1e-9)


def test_hidden_tabs_build_their_plot_when_first_shown(panel, history):
    tabs = panel.findChild(QTabWidget)
    assert len(panel.findChildren(pg.PlotWidget)) == 1  # only the tab on show
    panel.findChild(QCheckBox, "plots_log_y").setChecked(True)
    tabs.setCurrentIndex(2)
    assert len(panel.findChildren(pg.PlotWidget)) == 2
    grads = panel.curve("Gradients", "grad_d")  # drawn at once, in the panel's current settings
    assert len(grads.xData) == len(history) and grads.opts["logMode"] == [False, True]


def test_right_click_export_offers_only_formats_that_work_and_they_save(panel, tmp_path, qtbot):
    """pyqtgraph's Export… dialog (the plot's right-click menu): its SVG exporter raised on this Qt
    and its Matplotlib one needs a package GAN Studio does not install; each printed a traceback
    and saved nothing. The dialog lists what works, and each format listed writes its file."""
    import pyqtgraph.exporters as exporters

    panel.refresh()
    plot = panel.plot_widget("Losses")
    scene = plot.scene()
    scene.contextMenuItem = plot.getPlotItem().getViewBox()  # what a right-click on the plot sets
    scene.contextMenu[0].trigger()  # "Export..."
    dialog = scene.exportDialog
    qtbot.addWidget(dialog)
    formats = [dialog.ui.formatList.item(i).expClass for i in range(dialog.ui.formatList.count())]
    assert exporters.ImageExporter in formats and exporters.CSVExporter in formats
    suffix = {exporters.CSVExporter: "csv", exporters.ImageExporter: "png"}
    for exp in formats:
        out = tmp_path / f"plot.{suffix.get(exp, 'out')}"
        if exp is exporters.MatplotlibExporter:
            continue  # opens a window (only listed when matplotlib is installed)
        exp(plot.getPlotItem()).export(str(out))
        assert out.stat().st_size > 0, exp
    text = (tmp_path / "plot.csv").read_text()
    assert text.splitlines()[0].count(",") >= 3 and len(text.splitlines()) > 100  # D and G loss, x and y
    dialog.close()


def test_one_slow_frame_does_not_hold_the_plots_still(panel, qtbot, model):
    """The redraw budget follows the median of the last frames, capped: one paint that cost 0.5 s
    (a GC pause; before, wall time, so also the OS preempting the GUI on a busy machine) once held
    every plot still for 20x that, 10 s (a follow latency of 6.8 s was seen)."""
    panel.refresh()
    original = panel._redraw
    drawn: list[str] = []

    def slow_fourth(tab, force: bool = False) -> bool:
        did = original(tab, force)
        if did:
            drawn.append(tab.title)
            if len(drawn) == 4:
                tab.plot.paint_s = 0.5  # what the tick reads as the last paint's cost
        return did

    panel._redraw = slow_fourth
    for k in range(6):
        model.apply(points(2, start=300 + 2 * k))
        qtbot.waitUntil(lambda k=k: len(drawn) == k + 1, timeout=5000)
    assert len(panel.curve("Losses", "loss_g").xData) == len(model.history)
