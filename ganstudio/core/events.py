"""The plain-data events that leave the trainer.

Every consumer (the CLI's progress line, the run folder writer, the GUI's worker) reads the same
stream. Events hold only Python scalars, small dicts, strings and CPU numpy arrays, so they can
cross threads and processes and be written to disk as they are.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

# Stats keys, in display order. d_real/d_fake are D's mean output on real and generated data:
# probabilities for minimax/nonsaturating, raw scores for hinge/lsgan/wgan-gp.
STAT_KEYS = (
    "loss_d",
    "loss_g",
    "d_real",
    "d_fake",
    "grad_d",
    "grad_g",
    "lr_d",
    "lr_g",
    "images_per_s",
)


@dataclass(frozen=True)
class RunStarted:
    run_dir: str | None
    config: dict[str, dict[str, Any]]
    device: str
    step: int  # the step it starts from (non-zero on resume)
    total_steps: int
    threads: int


@dataclass(frozen=True)
class Stats:
    """Losses and D outputs averaged over the log interval that ends at `step`; gradient norms and
    learning rates as of that step."""

    step: int
    epoch: float
    wall: float  # seconds of training since the run began, summed over sessions
    values: dict[str, float]


@dataclass(frozen=True)
class Samples:
    """Generator output on the fixed noise batch: `grid` is an HxWxC uint8 image for image data,
    `points` an (n, 2) float32 array for 2D data.

    2D data also gets the lab's view (ganstudio.core.lab): `field`, a (res, res) float32 array of
    D's output (probability or raw score, as in the plots) over `extent` = (xmin, xmax, ymin, ymax),
    row 0 at ymin; and `arrows`, (n, 2) float32, the push -d(loss_g)/dx on each of the points."""

    step: int
    grid: np.ndarray | None = None
    points: np.ndarray | None = None
    field: np.ndarray | None = None
    extent: tuple[float, float, float, float] | None = None
    arrows: np.ndarray | None = None
    field_is_probability: bool | None = None  # True: field in [0, 1]; False: raw scores


@dataclass(frozen=True)
class HyperparamsChanged:
    step: int  # the first step that uses the new values
    changes: dict[str, tuple[Any, Any]]  # key -> (old, new)


@dataclass(frozen=True)
class CheckpointSaved:
    step: int
    path: str


@dataclass(frozen=True)
class CheckpointFailed:
    step: int
    path: str
    message: str


@dataclass(frozen=True)
class Paused:
    step: int
    reason: str = ""  # empty when the user paused; else why training paused itself


@dataclass(frozen=True)
class Resumed:
    step: int


@dataclass(frozen=True)
class Metrics:
    """Quality metrics of the generator's weights at `step` (ganstudio.core.metrics), computed in
    the background: the event arrives some steps later, so its step can be behind the events
    around it. `values` holds each metric, its bootstrap std as `<key>_std`, and the sample
    count `n`."""

    step: int
    values: dict[str, float]


@dataclass(frozen=True)
class Alert:
    """A health warning: `kind` is a stable identifier (nan, d_wins, grad_explode, collapse; config
    for a refused live edit; metrics for an evaluation that failed)."""

    step: int
    kind: str
    message: str
    evidence: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Finished:
    step: int
    reason: str  # "completed" or "stopped"


@dataclass(frozen=True)
class Failed:
    step: int
    message: str
    traceback: str = ""


Event = (
    RunStarted
    | Stats
    | Samples
    | HyperparamsChanged
    | CheckpointSaved
    | CheckpointFailed
    | Paused
    | Resumed
    | Metrics
    | Alert
    | Finished
    | Failed
)
