"""The window's insight features, driven through the real window: the 2D lab appears for 2D data,
quality metrics draw as dotted curves with bootstrap bands, and health alerts are listed."""

from __future__ import annotations

import numpy as np
from PySide6.QtGui import QAction

from ganstudio.core.run.events import Alert, Metrics, Stats
from tests.qt.conftest import WAIT_MS, collect


def _start(qtbot, window, steps: int) -> None:
    window.findChild(QAction, "action_start").trigger()
    qtbot.waitUntil(lambda: window.session.step >= steps, timeout=WAIT_MS)


def test_lab_shows_for_2d_data_and_hides_for_images(qtbot, make_window):
    window = make_window(data__dataset="ring8", train__steps=30, log__sample_every=5, model__latent_dim=4)
    lab = window._docks["lab2d"]
    assert not lab.isHidden()  # a 2D config shows its real data before Start (test_lab2d_panel)
    _start(qtbot, window, 10)
    qtbot.waitUntil(
        lambda: window.lab2d.current_step is not None and window.lab2d.current_step > 0, timeout=WAIT_MS
    )
    assert not lab.isHidden()
    assert lab.toggleViewAction().isEnabled()
    qtbot.waitUntil(lambda: not window.session.busy, timeout=WAIT_MS)
    # Back to images: New Run + the default digits config hides the lab again.
    window.findChild(QAction, "action_new_run").trigger()
    image_window = make_window(train__steps=6)
    _start(qtbot, image_window, 2)
    assert image_window._docks["lab2d"].isHidden()
    assert not image_window._docks["lab2d"].toggleViewAction().isEnabled()


def test_metric_tabs_draw_values_with_bands(qtbot, window):
    h = window.session.history
    for i, step in enumerate((100, 200, 300)):
        h.append(
            Stats(
                step=step,
                epoch=1.0,
                wall=float(i),
                values={"loss_d": 1.0, "precision": 0.5 + 0.1 * i, "precision_std": 0.05},
            )
        )
    window.plots.refresh()
    x, y = window.plots.curve("Precision/recall", "precision").getData()
    assert list(x) == [100, 200, 300]
    np.testing.assert_allclose(y, [0.5, 0.6, 0.7])
    tab = window.plots._tab("Precision/recall")
    band = next(c.band for c in tab.curves if c.key == "precision")
    _, lo = band[0].getData()
    _, hi = band[1].getData()
    np.testing.assert_allclose(hi - lo, [0.1, 0.1, 0.1])


def test_alerts_are_listed_marked_and_counted(qtbot, window):
    s = window.session
    s.model.apply(
        [
            Alert(
                step=120,
                kind="d_wins",
                message="D loss below 0.05 for 20 intervals",
                evidence={"loss_d": 0.01},
            )
        ]
    )
    assert window.alerts.count() == 1
    assert "step 120" in window.alerts.texts()[0]
    assert "Discriminator winning" in window.alerts.texts()[0]
    assert window._docks["alerts"].windowTitle() == "⚠ 1"  # short: the tab shows it in full
    assert [m.kind for m in s.history.markers] == ["d_wins"]
    window.findChild(QAction, "action_start").trigger()  # a new run clears them
    qtbot.waitUntil(lambda: window.alerts.count() == 0, timeout=WAIT_MS)
    qtbot.waitUntil(lambda: not s.busy, timeout=WAIT_MS)


def test_metrics_from_a_real_run_reach_the_plots(qtbot, make_window):
    window = make_window(
        data__dataset="ring8", model__latent_dim=4, train__steps=30, metrics__every=10, metrics__samples=200
    )
    got = collect(window.session.model, Metrics, [])
    window.findChild(QAction, "action_start").trigger()
    qtbot.waitUntil(lambda: len(got) >= 2 and not window.session.busy, timeout=WAIT_MS)
    steps = sorted(m.step for m in got)
    window.plots.refresh()
    x, y = window.plots.curve("Coverage", "modes_covered").getData()
    assert list(x) == steps
    assert all(0 <= v <= 8 for v in y)


def test_metrics_merged_into_points_already_drawn_appear(qtbot, window):
    h = window.session.history
    for i, step in enumerate((100, 200, 300)):
        h.append(Stats(step=step, epoch=1.0, wall=float(i), values={"loss_d": 1.0}))
    window.plots.refresh()  # drawn (and cached) while step 200 has no precision yet
    h.merge(200, {"precision": 0.7, "precision_std": 0.01})
    h.append(Stats(step=400, epoch=1.0, wall=3.0, values={"loss_d": 1.0}))
    window.plots.refresh()
    x, y = window.plots.curve("Precision/recall", "precision").getData()
    assert list(x) == [200] and list(y) == [0.7]


def test_overfitting_and_layer_gradient_tabs(qtbot, make_window):
    from PySide6.QtWidgets import QCheckBox

    window = make_window(train__steps=12)
    window.findChild(QAction, "action_start").trigger()
    qtbot.waitUntil(lambda: not window.session.busy and window.session.step == 12, timeout=WAIT_MS)
    plots = window.plots
    plots.show_tab("Overfitting")
    plots.refresh()
    for key in ("holdout_acc_train", "holdout_acc_heldout", "holdout_acc_fake", "d_overfit_rt"):
        x, y = plots.curve("Overfitting", key).getData()
        assert list(x) == [2, 4, 6, 8, 10, 12] and np.isfinite(y).all(), key
    plots.show_tab("Layer gradients")
    plots.refresh()
    g = window.session.trainer.G
    layers = {name.rsplit(".", 1)[0] for name, _ in g.named_parameters()}
    for layer in layers:  # one curve per layer, found in the history as it came
        x, _ = plots.curve("Layer gradients", f"grad_G.{layer}").getData()
        assert len(x) == 6
    legend = plots.plot_widget("Layer gradients").getPlotItem().legend
    labels = [label.text for _, label in legend.items]
    assert labels == [f"G layers: {len(layers)} series", "D layers: 3 series"]  # collapsed
    expand = plots.findChild(QCheckBox, "plots_expand_" + str(plots.titles().index("Layer gradients")))
    expand.setChecked(True)
    plots.refresh()
    assert len(legend.items) == len(layers) + 3
