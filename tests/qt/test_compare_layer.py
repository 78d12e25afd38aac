"""Compared runs on the plots: one CompareLayer per plot, checked on what it paints, what the
auto-range and the legend see, and how it answers the mouse."""

from __future__ import annotations

import math

import numpy as np
import pytest
from PySide6.QtCore import QPointF, Qt
from PySide6.QtWidgets import QCheckBox

from ganstudio.core.run.events import Stats
from ganstudio.core.run.history import History
from ganstudio.qt.panels.plots import SERIES_COLORS, Overlay, PlotsPanel
from ganstudio.qt.run_model import RunModel
from ganstudio.qt.widgets.compare_layer import CompareLayer

RUN_A, RUN_B = "#e8590c", "#0ca678"


def run_history(n: int, offset: float, seed: int, metric_every: int = 0) -> History:
    rng = np.random.default_rng(seed)
    h = History()
    for i in range(n):
        values = {
            "loss_d": offset + float(rng.normal(1.0, 0.1)),
            "loss_g": offset + float(rng.normal(2.0, 0.1)),
            "d_real": 0.6,
            "d_fake": 0.4,
        }
        if metric_every and i % metric_every == 0:
            values["fid"] = offset + 10.0 + i / 10
        h.append(Stats(step=10 * i, epoch=0.0, wall=0.5 * i + 1.0, values=values))
    return h


def run_model(n: int, offset: float, seed: int, metric_every: int = 0) -> RunModel:
    """A run's model showing run_history(...); the tests grow it through the model (model.apply)."""
    model = RunModel()
    model.history.replace_with(run_history(n, offset, seed, metric_every))
    return model


@pytest.fixture
def panel(qtbot) -> PlotsPanel:
    p = PlotsPanel(run_model(300, 0.0, seed=0, metric_every=20))
    qtbot.addWidget(p)
    p.resize(800, 400)
    p.show()
    qtbot.waitExposed(p)
    return p


@pytest.fixture
def overlays(panel) -> list[Overlay]:
    out = [
        Overlay("run a", RUN_A, run_model(300, 3.0, seed=1, metric_every=20)),
        Overlay("run b", RUN_B, run_model(200, 6.0, seed=2, metric_every=20)),
    ]
    panel.set_overlays(out)
    panel.refresh()
    return out


def image(panel: PlotsPanel, title: str = "Losses"):
    panel.show_tab(title)
    panel.refresh()
    return panel.plot_widget(title).grab().toImage()


def colours(img) -> dict[str, int]:
    out: dict[str, int] = {}
    for y in range(img.height()):
        for x in range(img.width()):
            name = img.pixelColor(x, y).name()
            out[name] = out.get(name, 0) + 1
    return out


class Hover:
    def __init__(self, x: float, y: float, exit_: bool = False):
        self._pos, self._exit = QPointF(x, y), exit_

    def isExit(self):  # noqa: N802 (pyqtgraph's name)
        return self._exit

    def pos(self):
        return self._pos


def test_each_compared_run_is_painted_in_its_colour_under_the_current_run(panel, overlays):
    seen = colours(image(panel))
    assert seen.get(RUN_A, 0) > 50 and seen.get(RUN_B, 0) > 50
    assert seen.get(SERIES_COLORS[0], 0) > 50
    layer = panel.compare_layer("Losses")
    assert layer.zValue() < panel.curve("Losses", "loss_d").zValue()
    assert [c.label for c in panel.overlay_curves("Losses", overlays[0])] == ["D loss", "G loss"]
    # Compared runs are in the auto-range: run b's G loss (about 8) is in view, though the current
    # run's values stay under 3.
    y_range = panel.plot_widget("Losses").getPlotItem().getViewBox().viewRange()[1]
    assert y_range[1] >= max(panel.overlay_curves("Losses", overlays[1])[1].y)


def test_hover_names_the_run_and_series_and_widens_its_curve(panel, overlays):
    layer = panel.compare_layer("Losses")
    for o in overlays:
        for c in panel.overlay_curves("Losses", o):
            i = len(c.x) // 3
            layer.hoverEvent(Hover(float(c.x[i]), float(c.y[i])))
            assert layer.hovered is c and layer.toolTip() == f"{o.name}: {c.label}"
    c = panel.overlay_curves("Losses", overlays[0])[0]
    # Far from every curve (between the current run's and run a's): nothing.
    layer.hoverEvent(Hover(float(c.x[10]), float(c.y[10]) - 40 * layer.pixelHeight()))
    assert layer.hovered is None and layer.toolTip() == ""
    layer.hoverEvent(Hover(float(c.x[10]), float(c.y[10]) + 2 * layer.pixelHeight()))
    assert layer.hovered is c
    before = colours(panel.plot_widget("Losses").grab().toImage()).get(RUN_A, 0)
    layer.hoverEvent(Hover(0.0, 0.0, exit_=True))
    assert layer.hovered is None and layer.toolTip() == ""
    after = colours(panel.plot_widget("Losses").grab().toImage()).get(RUN_A, 0)
    assert before > 1.3 * after  # drawn wider while hovered


def test_log_y_maps_compared_runs_and_a_value_below_zero_is_a_gap(panel, overlays, qtbot):
    overlays[0].model.apply(
        [
            Stats(
                step=3000,
                epoch=0.0,
                wall=151.0,
                values={"loss_d": -1.0, "loss_g": 0.0, "d_real": 0.6, "d_fake": 0.4},
            )
        ]
    )
    panel.refresh()
    log_y = panel.findChild(QCheckBox, "plots_log_y")
    qtbot.mouseClick(log_y, Qt.MouseButton.LeftButton)
    layer = panel.compare_layer("Losses")
    y0, y1 = layer.dataBounds(1)
    finite = np.concatenate([c.y[c.y > 0] for c in layer.shown()])
    assert y0 == pytest.approx(math.log10(finite.min())) and y1 == pytest.approx(math.log10(finite.max()))
    seen = colours(image(panel))
    assert seen.get(RUN_A, 0) > 50 and seen.get(RUN_B, 0) > 50
    c = panel.overlay_curves("Losses", overlays[1])[1]
    layer.hoverEvent(Hover(float(c.x[5]), math.log10(c.y[5])))
    assert layer.hovered is c
    qtbot.mouseClick(log_y, Qt.MouseButton.LeftButton)
    assert layer.dataBounds(1)[0] == pytest.approx(min(float(np.min(c.y)) for c in layer.shown()))


def test_clicking_a_run_in_the_legend_hides_and_shows_it(panel, overlays):
    legend = panel.plot_widget("Losses").getPlotItem().legend
    sample = next(s for s, label in legend.items if label.text == "run b")

    class Click:
        def button(self):
            return Qt.MouseButton.LeftButton

        def accept(self):
            pass

    sample.mouseClickEvent(Click())
    layer = panel.compare_layer("Losses")
    assert {c.name for c in layer.shown()} == {"run a"}
    assert colours(image(panel)).get(RUN_B, 0) == 0
    assert layer.dataBounds(1)[1] < 6.0  # out of the auto-range too
    panel.redraw()  # stays hidden while its run grows
    overlays[1].model.apply(
        [
            Stats(
                step=2000,
                epoch=0.0,
                wall=101.0,
                values={"loss_d": 7.0, "loss_g": 8.0, "d_real": 0.6, "d_fake": 0.4},
            )
        ]
    )
    assert colours(image(panel)).get(RUN_B, 0) == 0
    sample.mouseClickEvent(Click())
    assert colours(image(panel)).get(RUN_B, 0) > 50


def test_a_compared_run_that_did_not_change_keeps_its_curves(panel, overlays):
    a0 = panel.overlay_curves("Losses", overlays[0])
    b0 = panel.overlay_curves("Losses", overlays[1])
    overlays[0].model.apply(
        [
            Stats(
                step=3000,
                epoch=0.0,
                wall=151.0,
                values={"loss_d": 4.0, "loss_g": 5.0, "d_real": 0.6, "d_fake": 0.4},
            )
        ]
    )
    assert panel.redraw()
    a1 = panel.overlay_curves("Losses", overlays[0])
    b1 = panel.overlay_curves("Losses", overlays[1])
    assert all(x is y for x, y in zip(b0, b1, strict=True))  # a finished run is not reduced again
    assert len(a1[0].x) == len(a0[0].x) + 1 and a1[0].x[-1] == 3000
    # Renamed: its hover text follows.
    overlays[1].name = "run b (lr 1e-3)"
    panel.refresh()
    assert panel.overlay_curves("Losses", overlays[1])[0].tip == "run b (lr 1e-3): D loss"


def test_a_sparse_metric_marks_each_compared_point_with_a_triangle(panel, overlays):
    panel.add_tab("Quality", [("fid", "FID")], bands=True)
    img = image(panel, "Quality")
    c = panel.overlay_curves("Quality", overlays[0])[0]
    assert len(c.x) == 15 and c.symbol_brush is not None
    plot = panel.plot_widget("Quality")
    view = plot.getPlotItem().getViewBox()
    for i in (0, 7, 14):  # the triangle's centre, and a pixel to either side of it (not the line's)
        point = plot.mapFromScene(view.mapViewToScene(QPointF(float(c.x[i]), float(c.y[i]))))
        for dx in (-1, 0, 1):  # a downward triangle: 4 px wide 2 px above its centre
            assert img.pixelColor(point.x() + dx, point.y() - 2).name() == RUN_A, (i, dx)


def test_the_current_run_is_twice_as_wide_while_runs_are_compared(panel):
    thin = colours(image(panel)).get(SERIES_COLORS[0], 0)
    # A copy of the current run: the same auto-range, drawn under it.
    panel.set_overlays([Overlay("copy", RUN_A, run_model(300, 0.0, seed=0, metric_every=20))])
    wide = colours(image(panel)).get(SERIES_COLORS[0], 0)
    assert panel.curve("Losses", "loss_d").opts["pen"].width() == 2
    assert wide > 1.6 * thin
    panel.set_overlays([])
    assert colours(image(panel)).get(SERIES_COLORS[0], 0) == thin


def test_layer_alone_with_no_curves_draws_nothing_and_has_no_bounds(qtbot):
    layer = CompareLayer()
    assert layer.dataBounds(0) is None and layer.dataBounds(1) is None and layer.shown() == []
    assert layer.nearest(0.0, 0.0) is None


def test_the_legend_fits_as_many_runs_to_a_row_as_the_width_holds_and_shrinks_back(panel, qtbot):
    from ganstudio.qt.panels.plots import LEGEND_ROW_PX

    panel.set_overlays(
        [Overlay(f"run {k}", RUN_A if k % 2 else RUN_B, run_model(50, float(k), seed=k)) for k in range(10)]
    )
    panel.resize(1200, 500)
    qtbot.waitUntil(lambda: panel.plot_widget("Losses").width() > 1000, timeout=5000)
    panel.refresh()
    item = panel.plot_widget("Losses").getPlotItem()
    legend = item.legend
    assert len(legend.items) == 12  # D loss, G loss and ten runs
    wide_rows = legend.rowCount
    assert wide_rows <= 2
    panel.resize(500, 500)
    qtbot.waitUntil(lambda: panel.plot_widget("Losses").width() < 520, timeout=5000)
    panel.redraw()
    assert legend.rowCount > wide_rows  # narrower: more rows, none past the plot's right edge
    assert legend.boundingRect().width() <= panel.plot_widget("Losses").width()
    assert item.layout.rowMinimumHeight(0) >= legend.height()
    panel.set_overlays([])
    panel.refresh()
    assert len(legend.items) == 2 and item.layout.rowMinimumHeight(0) == LEGEND_ROW_PX


def test_a_compared_runs_model_marks_the_plots_dirty_until_it_is_unticked(panel, overlays, qtbot):
    point = Stats(step=2000, epoch=0.0, wall=101.0, values={"loss_d": 7.0, "loss_g": 8.0})
    panel.redraw()
    assert not panel.is_dirty("Losses")
    n = len(panel.overlay_curves("Losses", overlays[1])[0].x)
    overlays[1].model.apply([point])
    assert panel.is_dirty("Losses") and panel.is_dirty("FD")
    qtbot.waitUntil(lambda: len(panel.overlay_curves("Losses", overlays[1])[0].x) == n + 1, timeout=2000)
    overlays[1].model.start_over()  # its folder read again from the start: empty for now
    qtbot.waitUntil(lambda: panel.overlay_curves("Losses", overlays[1]) == [], timeout=2000)
    panel.set_overlays([overlays[0]])
    panel.redraw()
    overlays[1].model.apply([point])  # no longer compared: its changes draw nothing
    assert not panel.is_dirty("Losses")
