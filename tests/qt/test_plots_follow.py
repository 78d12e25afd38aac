"""The plots' "Follow latest" auto-range (plot_items.FollowViewBox, core.curves.sticky_range): it
keeps its range, and so the axes' ticks and pictures, while new points fit, and never leaves a point
out of view: a point past the range, above or below it, or a new run, moves it at once."""

from __future__ import annotations

import pytest
from PySide6.QtWidgets import QCheckBox

from ganstudio.core.curves import FOLLOW_HEADROOM
from ganstudio.core.run.events import Stats
from ganstudio.core.run.history import History
from ganstudio.qt.panels.plots import PlotsPanel
from ganstudio.qt.run_model import RunModel
from tests.qt.test_plots_panel import fill, shown_panel


@pytest.fixture
def model() -> RunModel:
    m = RunModel()
    fill(m.history, 500)  # steps 0..4990, D loss about 1 and G loss about 2
    return m


@pytest.fixture
def panel(qtbot, model) -> PlotsPanel:
    p = shown_panel(qtbot, model)
    p.refresh()
    return p


def add(model: RunModel, step: int, loss_d: float = 1.0) -> None:
    values = {"loss_d": loss_d, "loss_g": 2.0}
    model.apply([Stats(step=step, epoch=step / 100, wall=step / 20, values=values)])


def draw(panel: PlotsPanel):
    """Redraw and paint the Losses plot; its view box and bottom axis."""
    panel.redraw()
    plot = panel.plot_widget("Losses")
    plot.grab()
    item = plot.getPlotItem()
    return item.getViewBox(), item.getAxis("bottom")


def ticks(axis) -> list[float]:
    """The values the axis labels now (every level of pyqtgraph's ticks)."""
    lo, hi = axis.range
    return sorted(v for _spacing, values in axis.tickValues(lo, hi, axis.geometry().width()) for v in values)


def test_the_range_and_the_axis_picture_stay_while_new_points_fit(panel, model):
    view, axis = draw(panel)
    add(model, round(view.viewRange()[0][1]) + 10)  # past the right edge: headroom after it
    view, axis = draw(panel)
    (x0, x1), y_range = view.viewRange()
    last = model.history.steps()[-1]
    assert x1 >= last + FOLLOW_HEADROOM * (last - x0) * 0.9
    picture = axis.picture
    assert picture is not None
    for step in (last + 1, last + (x1 - last) / 3, last + (x1 - last) / 2):
        add(model, round(step))
        view, axis = draw(panel)
        assert view.viewRange() == [[x0, x1], y_range]
        assert axis.picture is picture  # not regenerated: the ticks did not move
    assert panel.curve("Losses", "loss_d").xData[-1] == round(last + (x1 - last) / 2)  # drawn


def test_a_point_past_the_range_moves_it_and_its_ticks_at_once(panel, model):
    view, axis = draw(panel)
    (_, x1), (y0, y1) = view.viewRange()
    old_ticks, picture = ticks(axis), axis.picture
    add(model, round(x1) + 3000, loss_d=y1 + 10.0)  # past the right edge and above the top
    view, axis = draw(panel)
    (_, nx1), (ny0, ny1) = view.viewRange()
    assert nx1 > round(x1) + 3000 and ny1 > y1 + 10.0 and ny0 <= y0
    assert axis.picture is not picture and ticks(axis) != old_ticks
    assert max(ticks(axis)) > x1  # a tick beyond the old range is labelled
    # And below the bottom too.
    add(model, round(nx1) - 1, loss_d=ny0 - 5.0)
    view, _ = draw(panel)
    assert view.viewRange()[1][0] < ny0 - 5.0


def test_another_run_is_fitted_anew_not_kept_in_the_old_range(panel, model):
    view, _ = draw(panel)
    short = History()
    fill(short, 20, seed=3)  # steps 0..190
    model.history.replace_with(short)
    model.reset.emit()
    view, _ = draw(panel)
    x0, x1 = view.viewRange()[0]
    assert x1 < 190 * (1 + 3 * FOLLOW_HEADROOM)  # not the 5,000 steps of the run before


def test_follow_on_again_after_a_zoom_out_fits_the_data(panel, model, qtbot):
    view, _ = draw(panel)
    follow = panel.findChild(QCheckBox, "plots_follow")
    view.setRange(xRange=(0, 50_000))  # as a zoom out does: Follow goes off
    follow.setChecked(False)
    follow.setChecked(True)
    view, _ = draw(panel)
    assert view.viewRange()[0][1] < 4990 * (1 + 3 * FOLLOW_HEADROOM)


def test_log_y_follows_the_data_on_its_own_scale(panel, model):
    view, _ = draw(panel)
    panel.findChild(QCheckBox, "plots_log_y").setChecked(True)
    view, _ = draw(panel)
    y0, y1 = view.viewRange()[1]
    assert -2.0 < y0 < 0.5 and 0.0 < y1 < 1.0  # log10 of values around 1 and 2
