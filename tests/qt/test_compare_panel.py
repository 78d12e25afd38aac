"""ComparePanel's 2D view, built from a run model and the real Overlays following a ring8 run folder
that the CLI trained: the real data drawn over the runs' clouds, and each cloud named with its run
and the step it shows, as the step, the names and the palette change."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pyqtgraph as pg
import pytest
from PySide6.QtGui import QColor, QPalette

from ganstudio.cli import EXIT_OK, main
from ganstudio.core.extent import toy_modes
from ganstudio.core.run.events import Samples
from ganstudio.qt.overlays import Overlays
from ganstudio.qt.panels.compare import ComparePanel
from ganstudio.qt.run_model import RunModel
from tests.qt.conftest import WAIT_MS, tiny_config

TINY_RING8 = [
    "--steps",
    "10",
    "--set",
    "data.dataset=ring8",
    "--set",
    "model.latent_dim=4",
    "--set",
    "model.width=8",
    "--set",
    "train.batch_size=16",
    "--set",
    "train.threads=1",
    "--set",
    "train.device=cpu",
    "--set",
    "log.sample_every=5",
    "--set",
    "log.checkpoint_every=0",
    "--set",
    "metrics.every=0",
    "--quiet",
]


@pytest.fixture(scope="module")
def ring8_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("compare") / "runs"
    assert main(["train", "--out", str(out), "--set", "log.name=other", *TINY_RING8]) == EXIT_OK
    return next(out.iterdir())


@pytest.fixture
def compared(qtbot, tmp_path, ring8_run):
    """(panel, current model, overlays): the current run is a ring8 one fed by hand, compared with
    the followed ring8 run folder."""
    current = RunModel()
    current.start_over(tiny_config(tmp_path, data__dataset="ring8", model__latent_dim=4))
    overlays = Overlays()
    panel = ComparePanel(current, overlays)
    qtbot.addWidget(panel)
    panel.resize(520, 560)
    panel.show()
    panel.set_current_name("mine")
    overlays.set_runs([(ring8_run, "other")])
    yield panel, current, overlays
    overlays.shutdown()


def points_near(center: tuple[float, float], n: int = 40) -> np.ndarray:
    return (np.asarray(center) + 0.02 * np.random.default_rng(0).normal(size=(n, 2))).astype(np.float32)


def test_the_2d_view_draws_the_real_data_over_the_clouds_and_names_each_with_its_step(compared, qtbot):
    panel, current, overlays = compared
    current.apply([Samples(step=s, points=points_near((2.0, 0.0))) for s in (0, 4, 8)])
    qtbot.waitUntil(lambda: 10 in panel.steps() and all(r.frames for r in panel.runs()), timeout=WAIT_MS)
    assert panel.step() == 10
    assert panel.legend_texts() == ["real data", "mine · step 8", "other · step 10"]

    real = panel.real_points()
    clouds = [panel.scatter(i) for i in range(2)]
    assert all(real.zValue() > c.zValue() for c in clouds) and clouds[0].zValue() > clouds[1].zValue()
    drawn = np.column_stack(real.getData())
    modes, _ = toy_modes("ring8")
    assert np.linalg.norm(drawn[:, None] - modes[None], axis=2).min(axis=0).max() < 0.1  # every mode
    ink = panel.palette().color(QPalette.ColorRole.Text)
    assert real.opts["brush"].color().rgb() == ink.rgb()

    panel.set_step(5)  # the runs move: each label says the step it shows
    assert panel.legend_texts() == ["real data", "mine · step 4", "other · step 5"]
    overlays.set_runs([(overlays.runs()[0].path, "renamed")])
    assert panel.legend_texts()[2] == "renamed · step 5"

    dark = QPalette(panel.palette())
    dark.setColor(QPalette.ColorRole.Base, QColor("#121212"))
    dark.setColor(QPalette.ColorRole.Text, QColor("#e0e0e0"))
    panel.setPalette(dark)
    assert real.opts["brush"].color().lightness() > 150  # light points on a dark plane
    assert panel.findChild(pg.PlotWidget, "compare_points").backgroundBrush().color() == QColor("#121212")

    overlays.set_runs([])
    current.start_over(tiny_config(Path("runs")))  # images only now: no real points
    assert len(real.data) == 0


def test_an_uncompared_runs_tile_leaves_the_page_at_once(qtbot, tmp_path, trained_run):
    """Unticked runs' tiles stayed drawn, over the tiles laid out after them, until the event loop
    got round to deleting them (seen as overlapping captions after comparing across datasets)."""
    from ganstudio.qt.panels.compare import _Tile

    current = RunModel()
    current.start_over(tiny_config(tmp_path))
    overlays = Overlays()
    panel = ComparePanel(current, overlays)
    qtbot.addWidget(panel)
    panel.show()
    other = tmp_path / "other"
    shutil.copytree(trained_run, other)
    overlays.set_runs([(trained_run, "A"), (other, "B")])
    qtbot.waitUntil(lambda: [s for _, s in panel.shown()] == [None, 20, 20], timeout=WAIT_MS)

    def drawn() -> list[str]:
        return sorted(
            t.caption.text().split("</b>")[-1].strip() for t in panel.findChildren(_Tile) if t.isVisible()
        )

    assert drawn() == ["A · step 20", "B · step 20", "current run · no samples yet"]
    overlays.set_runs([(other, "B")])  # no event loop in between
    assert drawn() == ["B · step 20", "current run · no samples yet"]
    overlays.shutdown()
