"""When a 2D toy has converged: a stricter rule than `modes_covered`, in numpy only (the 2D lab
checks it on the samples it draws without importing torch).

`modes_covered` (points.py) counts a mode once a single point lies within 3 std of it, the papers'
lenient definition: it reads 8/8 on ring8 while the samples are still a blurred ring. Here a run
has *converged* when

- every mode holds at least MIN_MODE_SHARE (1%) of the samples within CLOSE_STDS (5) std of its
  centre, and
- at least MIN_CLOSE_SHARE (half) of all samples lie that close to some centre,

about the quality VEEGAN reports on the ring. The rule is meant for SAMPLES (2,000) points; on
fewer its shares are noisier (the lab draws 1,024).
"""

from __future__ import annotations

from functools import lru_cache
from typing import NamedTuple

import numpy as np

from ganstudio.core.extent import toy_modes

CONVERGED = "converged"  # the kind of the marker a run gets when its samples first meet the rule

CLOSE_STDS = 5.0
MIN_MODE_SHARE = 0.01
MIN_CLOSE_SHARE = 0.5
SAMPLES = 2000


class Convergence(NamedTuple):
    """`per_mode[m]`: the share of the points within CLOSE_STDS std of mode m; `close`: the share
    within that distance of any mode; `converged`: whether both meet the rule."""

    per_mode: np.ndarray  # (M,) float64
    close: float
    converged: bool

    def describe(self) -> str:
        """e.g. '8/8 modes hold >= 1%, 63% of the points close'."""
        held = int((self.per_mode >= MIN_MODE_SHARE).sum())
        return (
            f"{held}/{len(self.per_mode)} modes hold >= {MIN_MODE_SHARE:.0%}, "
            f"{self.close:.0%} of the points within {CLOSE_STDS:g} std"
        )


def convergence(points: np.ndarray, modes: np.ndarray, std: float) -> Convergence:
    """The rule above for `points` (N, 2) against mode centres `modes` (M, 2) of spread `std`.
    Non-finite points count as far from every mode; no points never converge."""
    p = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    m = np.asarray(modes, dtype=np.float64).reshape(-1, 2)
    n = len(p)
    if n == 0 or len(m) == 0:
        return Convergence(np.zeros(len(m)), 0.0, False)
    d2 = ((p[:, None, :] - m[None, :, :]) ** 2).sum(axis=2)  # (N, M); NaN for a non-finite point
    nearest = np.argmin(np.where(np.isnan(d2), np.inf, d2), axis=1)
    near_d2 = d2[np.arange(n), nearest]
    close = near_d2 <= (CLOSE_STDS * std) ** 2  # False for NaN
    # Modes are over 20 std apart in every toy, so a point is close to at most one: its nearest.
    per_mode = np.bincount(nearest[close], minlength=len(m)) / n
    close_share = float(close.mean())
    ok = bool(per_mode.min() >= MIN_MODE_SHARE and close_share >= MIN_CLOSE_SHARE)
    return Convergence(per_mode, close_share, ok)


@lru_cache(maxsize=8)
def _modes_of(dataset: str) -> tuple[np.ndarray, float] | None:
    return toy_modes(dataset)  # spiral's takes a few milliseconds: once per dataset


def toy_convergence(dataset: str, points: np.ndarray) -> Convergence | None:
    """The rule for `points` against the 2D toy `dataset`'s own modes and std; None for any other
    dataset."""
    found = _modes_of(dataset)
    return None if found is None else convergence(points, *found)


def converged(points: np.ndarray, modes: np.ndarray, std: float) -> bool:
    """Whether `points` meet the rule (see `convergence`)."""
    return convergence(points, modes, std).converged
