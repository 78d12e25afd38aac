"""PlotsPanel, driven through its real controls and checked on the PlotDataItems it draws."""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
import pytest
from PySide6.QtCore import QPoint, QPointF, Qt, QTimer
from PySide6.QtGui import QWheelEvent
from PySide6.QtWidgets import QApplication, QCheckBox, QComboBox, QSlider, QTabWidget

from ganstudio.core.events import CheckpointSaved, HyperparamsChanged, Stats
from ganstudio.core.history import History, Marker
from ganstudio.qt.panels.plots import PlotsPanel, ema_debiased


def reference_ema(values: np.ndarray, weight: float) -> np.ndarray:
    """TensorBoard's smoothing, the obvious way: one value at a time, non-finite values skipped."""
    out, last, count = [], 0.0, 0
    for v in values:
        if not math.isfinite(v):
            continue
        last = last * weight + (1 - weight) * v
        count += 1
        out.append(last / (1 - weight**count))
    return np.array(out)


def fill(history: History, n: int, start: int = 0, seed: int = 0, nan_every: int = 0) -> None:
    rng = np.random.default_rng(seed)
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
        history.append(Stats(step=10 * i, epoch=i / 100, wall=0.5 * i + 1.0, values=values))


@pytest.fixture
def history() -> History:
    h = History(capacity=16)  # small, so the tests also cross History's buffer growth
    fill(h, 300, nan_every=17)
    return h


@pytest.fixture
def panel(qtbot, history) -> PlotsPanel:
    p = PlotsPanel(history)
    qtbot.addWidget(p)
    p.resize(800, 400)
    p.show()
    qtbot.waitExposed(p)
    return p


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
    assert [tabs.tabText(i) for i in range(tabs.count())] == [
        "Losses",
        "D outputs",
        "Gradients",
        "Learning rates",
    ]
    legend = panel.plot_widget("Losses").getPlotItem().legend
    assert [label.text for _, label in legend.items] == ["D loss", "G loss"]
    assert panel.plot_widget("Losses").getPlotItem().getAxis("bottom").labelText == "step"


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


def test_ema_chunks_equal_one_pass():
    rng = np.random.default_rng(3)
    x = rng.normal(size=10_000)
    whole, _, _ = ema_debiased(x, 0.99)
    a, state, count = ema_debiased(x[:3333], 0.99)
    b, _, _ = ema_debiased(x[3333:], 0.99, state, count)
    np.testing.assert_allclose(np.concatenate([a, b]), whole, rtol=1e-12)
    np.testing.assert_allclose(whole, reference_ema(x, 0.99), rtol=1e-9)


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
    line = panel.marker_lines("Losses")[0]
    assert line.value() == 1000
    x_axis.setCurrentIndex(x_axis.findText("Wall time (s)"))
    panel.refresh()
    np.testing.assert_array_equal(panel.curve("Losses", "loss_g").xData, history.walls())
    assert panel.marker_lines("Losses")[0].value() == pytest.approx(history.wall_at(1000))
    item = panel.plot_widget("Losses").getPlotItem()
    assert item.getAxis("bottom").labelText == "wall time (s)"


def test_markers_on_every_tab_added_incrementally(panel, history):
    history.add_marker(HyperparamsChanged(500, {"lr_g": (2e-4, 1e-4)}))
    history.add_marker(CheckpointSaved(1000, "/runs/x/ckpt_1000.pt"))
    history.add_marker(Marker(1500, "d_wins", "D wins: D(x)=0.99"))
    panel.refresh()
    colours = {}
    for title in ("Losses", "D outputs", "Gradients", "Learning rates"):
        lines = panel.marker_lines(title)
        assert [line.value() for line in lines] == [500, 1000, 1500]
        colours = {line.marker.kind: line.pen.color().name() for line in lines}
        assert all(line.pen.style() == Qt.PenStyle.DashLine for line in lines)
    assert len(set(colours.values())) == 3
    first = panel.marker_lines("Losses")
    assert "lr_g: 0.0002 → 0.0001" in first[0].toolTip()
    assert first[1].toolTip() == "step 1000: checkpoint saved: /runs/x/ckpt_1000.pt"

    history.add_marker(CheckpointSaved(2000, "/runs/x/ckpt_2000.pt"))
    panel.refresh()
    again = panel.marker_lines("Losses")
    assert len(again) == 4 and again[:3] == first  # the old lines were kept, one was added
    items = panel.plot_widget("Losses").getPlotItem().items
    assert sum(isinstance(i, pg.InfiniteLine) for i in items) == 4


def test_marker_hover_shows_its_text(panel, history):
    history.add_marker(Marker(1500, "grad_explode", "gradient norm 1e6"))
    panel.refresh()
    line = panel.marker_lines("Losses")[0]

    class Hover:
        def __init__(self, exit_: bool):
            self._exit = exit_

        def isExit(self):  # noqa: N802 (pyqtgraph's name)
            return self._exit

    line.hoverEvent(Hover(False))
    label = [c for c in line.childItems() if isinstance(c, pg.InfLineLabel)][0]
    assert label.isVisible() and "gradient norm 1e6" in label.toPlainText()
    line.hoverEvent(Hover(True))
    assert not label.isVisible()


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
    assert panel.marker_lines("Losses") == []


def test_timer_redraws_only_when_history_changed(panel, qtbot, history):
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
    fill(history, 10, start=300)
    qtbot.waitUntil(lambda: len(curve.xData) == len(history), timeout=2000)
    drawn = len(calls)
    for _ in range(3):
        with qtbot.waitSignal(timer.timeout, timeout=2000):
            pass
    assert len(calls) == drawn
    history.add_marker(CheckpointSaved(3000, "/x.pt"))
    qtbot.waitUntil(lambda: len(panel.marker_lines("Losses")) == 1, timeout=2000)


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


def test_million_points_draw(qtbot):
    n = 1_000_000
    rng = np.random.default_rng(0)
    state = {
        "step": np.arange(n),
        "wall": np.arange(n) * 0.01,
        "epoch": np.zeros(n),
        "values": {k: rng.normal(size=n) for k in ("loss_d", "loss_g", "d_real", "d_fake")},
        "markers": [[1000 * i, "checkpoint", f"ckpt {i}"] for i in range(50)],
    }
    history = History.from_state_dict(state)
    panel = PlotsPanel(history)
    qtbot.addWidget(panel)
    panel.resize(800, 400)
    panel.show()
    panel.refresh()
    assert panel.grab().width() > 0
    curve = panel.curve("Losses", "loss_d")
    assert len(curve.yData) == n
    assert len(curve.curve.xData) < 20_000  # peak downsampling is in effect: ~2 points a pixel
    panel.findChild(QSlider, "plots_smoothing").setValue(99)
    panel.refresh()
    panel.grab()
    assert len(panel.marker_lines("D outputs")) == 50


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
