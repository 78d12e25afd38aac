"""The app's side of system lines: the plots' System tab (one line per rank per reading) and the
Runs dock's row tooltip (where a run trains)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ganstudio.core.run.events import Stats, System
from ganstudio.core.run.listing import RunInfo
from ganstudio.qt.panels.plots import PlotsPanel
from ganstudio.qt.run_model import RunModel
from ganstudio.qt.widgets.runs_tree import cells
from tests.qt.test_plots_panel import shown_panel


@pytest.fixture
def model() -> RunModel:
    return RunModel()


@pytest.fixture
def panel(qtbot, model) -> PlotsPanel:
    return shown_panel(qtbot, model)


def job_events(steps=(10, 20, 30)) -> list:
    """A 2-process job's lines: each rank's system line, then the stats it lands on."""
    events = []
    for i, step in enumerate(steps):
        for rank in (0, 1):
            events.append(
                System(step=step, time=float(step), rank=rank, cpu_percent=100.0 * rank + i, rss_mb=500.0 + i)
            )
        events.append(Stats(step=step, epoch=0.0, wall=step / 10, values={"loss_d": 1.0, "loss_g": 2.0}))
    return events


def test_the_system_tab_draws_one_line_per_rank_per_reading(panel, model):
    assert "System" in panel.titles()
    model.apply(job_events())
    panel.show_tab("System")
    panel.refresh()
    x, y = panel.curve("System", "system.cpu_percent.rank1").getData()
    assert list(x) == [10, 20, 30] and list(y) == [100.0, 101.0, 102.0]
    x, y = panel.curve("System", "system.rss_mb.rank0").getData()
    assert list(x) == [10, 20, 30] and list(y) == [500.0, 501.0, 502.0]
    legend = panel.plot_widget("System").getPlotItem().legend
    # Each reading is one legend entry for all its ranks; no GPU here, so no GPU lines.
    assert [label.text for _, label in legend.items] == ["CPU %: 2 series", "memory (MB): 2 series"]
    # Later lines are drawn at the next frame (the model's change marks the tab for redrawing).
    model.apply(job_events(steps=(40,)))
    assert panel.is_dirty("System")
    panel.refresh()
    assert list(panel.curve("System", "system.cpu_percent.rank0").getData()[1])[-1] == 0.0


def test_a_runs_row_tooltip_says_the_host_and_devices():
    alone = RunInfo(path=Path("/runs/a"), name="a", hosts=("box",), devices=("cuda:0 NVIDIA H100 (79 GiB)",))
    _, _, tip = cells(alone)
    assert "Host: box" in tip and "Device: cuda:0 NVIDIA H100 (79 GiB)" in tip
    job = RunInfo(
        path=Path("/runs/b"), name="b", hosts=("box", "box2"), devices=("cpu (2 cores)", "cpu (4 cores)")
    )
    _, _, tip = cells(job)
    assert "Hosts: box, box2" in tip and "Devices: rank 0 cpu (2 cores); rank 1 cpu (4 cores)" in tip
    _, _, tip = cells(RunInfo(path=Path("/runs/c"), name="c"))  # an old run: nothing said
    assert "Host" not in tip and "Device" not in tip
