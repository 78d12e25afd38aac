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
    `points` an (n, 2) float32 array for 2D data."""

    step: int
    grid: np.ndarray | None = None
    points: np.ndarray | None = None


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
class Alert:
    """A health warning: `kind` is a stable identifier (nan, d_wins, grad_explode, collapse)."""

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
    | Alert
    | Finished
    | Failed
)
