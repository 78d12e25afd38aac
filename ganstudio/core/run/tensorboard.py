"""TensorBoard event files from a run's events: one more listener on the stream, so a run opens in
TensorBoard too. Used live (`log.tensorboard = true`: RunDriver hands it every event and it writes
`<run>/tensorboard/`, starting with what the folder's log held already) and by `ganstudio export
RUN --tensorboard DIR` (the folder's log read back).

Scalars: every stat under train/, every quality metric under metrics/ and every system reading
under system/ ("system/rss_mb.rank0", at the stats point it lands on, as the run's history has it);
images: the sample grids (2D data: a scatter of the points); text: hyperparameter changes and
alerts. Written with torch.utils.tensorboard's SummaryWriter, which needs the `tensorboard` package
(the extra of that name).
"""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Any

import numpy as np

from ganstudio.core.run.events import (
    Alert,
    HyperparamsChanged,
    Metrics,
    Samples,
    Stats,
    StatsBlock,
    System,
)
from ganstudio.core.run.folder import RunFolder
from ganstudio.core.run.log import LogReader

# The same words as the README's: from GAN Studio's folder, its extra; or the package alone, into
# the environment that runs GAN Studio (sys.executable's, whatever pip is first on the PATH).
INSTALL = (
    f'pip install -e ".[tensorboard]" in GAN Studio\'s folder, or {Path(sys.executable)} -m pip '
    "install tensorboard"
)


class TensorBoardMissing(RuntimeError):
    """The tensorboard package is not installed; str(e) says how to install it."""


def check_available() -> None:
    """TensorBoardMissing, with the install command, unless TensorBoard files can be written."""
    try:
        from torch.utils.tensorboard import SummaryWriter  # noqa: F401
    except ImportError:
        raise TensorBoardMissing(
            f"writing TensorBoard files needs the tensorboard package: {INSTALL}"
        ) from None


def summary_writer(logdir: str | Path, **kwargs: Any):
    """A SummaryWriter for `logdir`; TensorBoardMissing without the package."""
    check_available()
    from torch.utils.tensorboard import SummaryWriter

    return SummaryWriter(log_dir=str(logdir), **kwargs)


class TensorBoardLog:
    """Writes a run's events to TensorBoard event files in `logdir`. `handle(event)` takes every
    event of the run (the ones TensorBoard has no place for are ignored).

    walltime_base: None live (the events are written as they happen); for an export, the run's
    start (seconds since the epoch), so each point's time is the start plus its logged wall time.
    """

    def __init__(self, logdir: str | Path, walltime_base: float | None = None):
        self.logdir = Path(logdir)
        self._w = summary_writer(self.logdir, flush_secs=10)
        self._base = walltime_base
        self._wall = 0.0  # the last logged wall time: metrics and samples lines carry none
        self.counts = {"scalars": 0, "images": 0, "texts": 0}
        # System readings wait for the next stats point, as in the run's state (core/run/state.py).
        self._system_due: dict[str, float] = {}

    @classmethod
    def for_run(cls, folder: RunFolder) -> tuple[TensorBoardLog, bool]:
        """The live log of a run folder, in <run>/tensorboard/. New files start with what the
        folder's log holds already (a fork's or resumed run's earlier history, or the run so far
        when log.tensorboard is turned on midway; the event being handled included): returns
        (log, True) then. Files that exist are continued: (log, False)."""
        fresh = not any(folder.tensorboard_dir.glob("events.out.tfevents.*"))
        log = cls(folder.tensorboard_dir)
        if fresh:
            for ev in LogReader(folder, timeline_limit=1 << 40).read():
                log.handle(ev)
        return log, fresh

    def close(self) -> None:
        self._w.close()

    def flush(self) -> None:
        self._w.flush()

    def __enter__(self) -> TensorBoardLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def handle(self, ev: Any) -> None:
        handler = _HANDLERS.get(type(ev))
        if handler is not None:
            handler(self, ev)

    def _time(self, wall: float | None = None) -> float | None:
        if wall is not None and math.isfinite(wall):
            self._wall = wall
        return None if self._base is None else self._base + self._wall

    def _scalars(self, prefix: str, step: int, values: dict[str, float], walltime: float | None) -> None:
        for key, value in values.items():
            if value is not None and math.isfinite(value):
                self._w.add_scalar(f"{prefix}/{key}", float(value), step, walltime=walltime)
                self.counts["scalars"] += 1

    def _stats(self, ev: Stats) -> None:
        walltime = self._time(ev.wall)
        self._scalars("train", ev.step, ev.values, walltime)
        self._system_on(ev.step, walltime)

    def _system(self, ev: System) -> None:
        self._system_due.update(ev.series())

    def _system_on(self, step: int, walltime: float | None) -> None:
        """The readings due, on this stats point: "system.rss_mb.rank0" as "system/rss_mb.rank0"."""
        if self._system_due:
            due, self._system_due = self._system_due, {}
            self._scalars("system", step, {k.partition(".")[2]: v for k, v in due.items()}, walltime)

    def _stats_block(self, ev: StatsBlock) -> None:
        if len(ev):
            self._system_on(int(ev.steps[0]), self._time(float(ev.walls[0])))
        keys = list(ev.values)
        columns = [ev.values[k] for k in keys]
        for i in range(len(ev)):
            values = {k: float(col[i]) for k, col in zip(keys, columns, strict=True)}
            self._scalars("train", int(ev.steps[i]), values, self._time(float(ev.walls[i])))

    def _metrics(self, ev: Metrics) -> None:
        self._scalars("metrics", ev.step, ev.values, self._time())

    def _samples(self, ev: Samples) -> None:
        if ev.grid is not None:
            image = ev.grid
        elif ev.points is not None:
            from ganstudio.core.image import scatter_png

            image = np.asarray(scatter_png(ev.points))
        else:
            return
        self._w.add_image("samples", image, ev.step, walltime=self._time(), dataformats="HWC")
        self.counts["images"] += 1

    def _hparams(self, ev: HyperparamsChanged) -> None:
        text = f"step {ev.step}: {ev.describe()}"
        self._w.add_text("hyperparameters", text, ev.step, walltime=self._time())
        self.counts["texts"] += 1

    def _alert(self, ev: Alert) -> None:
        if ev.kind in Alert.REQUEST_KINDS:
            return
        text = f"step {ev.step} ({ev.kind}): {ev.message}"
        self._w.add_text("alerts", text, ev.step, walltime=self._time())
        self.counts["texts"] += 1


_HANDLERS: dict[type, Any] = {
    Stats: TensorBoardLog._stats,
    System: TensorBoardLog._system,
    StatsBlock: TensorBoardLog._stats_block,
    Metrics: TensorBoardLog._metrics,
    Samples: TensorBoardLog._samples,
    HyperparamsChanged: TensorBoardLog._hparams,
    Alert: TensorBoardLog._alert,
}
