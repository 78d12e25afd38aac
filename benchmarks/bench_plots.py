"""4. Plots: PlotsPanel redraw time with 1e4 / 1e5 / 1e6 / 1e7 logged points per curve.

A run model's History is filled with synthetic stats (every stat the trainer logs, random-walk
losses) and the panel is shown offscreen at a typical size. One frame is what the app does at each
display tick while training: a few new points arrive through the model (which marks the plots
dirty), the panel's redraw timer fires (setData on the visible
tab's curves, incremental smoothing and min/max reduction), and the plot is painted (`grab()`:
pyqtgraph's auto-range and the paint). The panel's own timer is stopped and the redraw is called by
hand (`PlotsPanel.redraw`, the tick without its rate budget), so only timed frames run. `refresh()`
(the 4 stats tabs, all built first, as after a run reset) is timed the same way. The 1e7 row
(4d: a run logging every step for ten million steps) holds about 1.3 GB of history twice over
while it runs (the synthetic one and the model's copy).
"""

from __future__ import annotations

import importlib
import time
from statistics import median

from common import Options, Row, log, percentile, qt_app, spin

KEYS = (
    "loss_d",
    "loss_g",
    "d_real",
    "d_fake",
    "grad_d",
    "grad_g",
    "lr_d",
    "lr_g",
    "steps_per_s",
    "images_per_s",
)
APPEND = 5  # points appended between redraws
GOAL_MS = 8.0  # at 1e6 points
GOAL_1E7_MS = 5.0  # at 1e7: a frame must never touch every point (the min/max pyramid's job)


def synthetic_history(n: int, seed: int = 0):
    import numpy as np

    from ganstudio.core.run.history import History

    rng = np.random.default_rng(seed)
    steps = np.arange(1, n + 1) * 10
    walk = lambda scale, base: base + np.cumsum(rng.normal(0, scale, n)) / np.sqrt(n)  # noqa: E731
    values = {
        "loss_d": np.abs(walk(1.0, 1.2)) + rng.normal(0, 0.1, n) ** 2,
        "loss_g": np.abs(walk(1.0, 0.8)) + rng.normal(0, 0.1, n) ** 2,
        "d_real": np.clip(0.6 + rng.normal(0, 0.05, n), 0, 1),
        "d_fake": np.clip(0.4 + rng.normal(0, 0.05, n), 0, 1),
        "grad_d": np.abs(rng.normal(1, 0.3, n)),
        "grad_g": np.abs(rng.normal(2, 0.5, n)),
        "lr_d": np.full(n, 2e-4),
        "lr_g": np.full(n, 2e-4),
        "steps_per_s": np.full(n, 100.0),
        "images_per_s": np.full(n, 6400.0),
    }
    # Arrays, not the lists a checkpoint once held: 1e7 points as Python floats would be 3 GB.
    state = {"step": steps, "wall": steps / 100.0, "epoch": steps / 1797.0, "values": values, "markers": []}
    return History.from_state_dict(state)


def model_of(history):
    """A RunModel showing `history` (a copy of it)."""
    from ganstudio.qt.run_model import RunModel

    model = RunModel()
    model.history.replace_with(history)
    return model


def append_points(model, k: int) -> None:
    """`k` new points through the run model, as a batch of training stats arrives."""
    import random

    from ganstudio.core.run.events import Stats

    history = model.history
    n = len(history)
    last = int(history.steps()[-1]) if n else 0
    events = []
    for i in range(1, k + 1):
        step = last + 10 * i
        values = {key: history.last(key) or 0.0 for key in KEYS}
        values["loss_d"] += random.gauss(0, 0.05)
        values["loss_g"] += random.gauss(0, 0.05)
        events.append(Stats(step=step, epoch=step / 1797.0, wall=step / 100.0, values=values))
    model.apply(events)


def plots_panel():
    """(app, model, panel): a shown 1000x700 PlotsPanel on an empty RunModel, its redraw timer
    stopped (the benchmark calls redraw itself), and the smoothing's module imported, as the app
    imports it on a thread at startup (preload_smoothing), long before a run's first curves: so a
    first draw here does not pay for the import either."""
    from PySide6.QtCore import QTimer

    from ganstudio.core.curves import SMOOTHING_MODULE
    from ganstudio.qt.panels.plots import PlotsPanel
    from ganstudio.qt.run_model import RunModel

    app = qt_app()
    importlib.import_module(SMOOTHING_MODULE)
    model = RunModel()
    panel = PlotsPanel(model)
    panel.resize(1000, 700)
    panel.show()
    panel.findChild(QTimer, "plots_redraw_timer").stop()
    spin(0.2)
    return app, model, panel


def run(opts: Options) -> list[Row]:
    app, model, panel = plots_panel()
    plot = panel.plot_widget("Losses")  # the tab shown
    for title in ("D outputs", "Gradients", "Learning rates"):
        panel.plot_widget(title)  # tabs build their plot when first shown: build all 4 for refresh()
    sizes = (10_000, 100_000) if opts.quick else (10_000, 100_000, 1_000_000, 10_000_000)
    frames = 5 if opts.quick else 20
    rows: list[Row] = []
    for j, n in enumerate(sizes):
        model.history.replace_with(synthetic_history(n, seed=j))  # refresh() below draws it
        t0 = time.perf_counter()
        panel.refresh()
        plot.grab()
        first = (time.perf_counter() - t0) * 1e3
        app.processEvents()
        total, data_part, refresh_all = [], [], []
        for _ in range(frames):
            append_points(model, APPEND)
            t0 = time.perf_counter()
            panel.redraw()  # what the panel's display tick does, without its redraw budget
            t1 = time.perf_counter()
            plot.grab()
            t2 = time.perf_counter()
            total.append((t2 - t0) * 1e3)
            data_part.append((t1 - t0) * 1e3)
            app.processEvents()
        for _ in range(max(3, frames // 4)):
            append_points(model, APPEND)
            t0 = time.perf_counter()
            panel.refresh()
            plot.grab()
            refresh_all.append((time.perf_counter() - t0) * 1e3)
            app.processEvents()
        p50, d50 = median(total), median(data_part)
        log(
            f"plots: {n:,} points: frame p50 {p50:.1f} ms (setData {d50:.1f} ms + paint "
            f"{p50 - d50:.1f}); refresh() all tabs {median(refresh_all):.1f} ms; first {first:.0f} ms"
        )
        label = f"1e{len(str(n)) - 1}"
        goal = {1_000_000: GOAL_MS, 10_000_000: GOAL_1E7_MS}.get(n)
        rows.append(
            Row(
                f"4{'abcd'[j]}",
                f"Plots: one frame (tick + paint), {label} points per curve",
                f"p50 {p50:.1f} ms (setData {d50:.1f} + paint {p50 - d50:.1f})",
                f"p90 {percentile(total, 90):.1f} / max {max(total):.1f} ms (n={frames}); refresh() of "
                f"all 4 tabs + paint p50 {median(refresh_all):.0f} ms; first draw {first:.0f} ms",
                f"<= {goal:g} ms p50 at {label}" if goal else "",
                Row.judged(p50 <= goal) if goal else "",
            )
        )
    if opts.quick:
        for row_id, label, goal in (("4c", "1e6", GOAL_MS), ("4d", "1e7", GOAL_1E7_MS)):
            rows.append(
                Row(
                    row_id,
                    f"Plots: one frame (tick + paint), {label} points per curve",
                    "not run (--quick)",
                    goal=f"<= {goal:g} ms p50 at {label}",
                    met="n/a",
                )
            )
    panel.close()
    return rows
