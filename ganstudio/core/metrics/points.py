"""Mode metrics for the 2D toys, whose Gaussian modes are known (the standard definition of the
unrolled-GAN and VEEGAN papers):

- a generated point is *high quality* when it lies within 3 standard deviations of its nearest mode;
- a mode is *covered* when at least one high-quality point has it as its nearest mode.

`high_quality` is the share of high-quality points, `modes_covered` the number of covered modes.
"""

from __future__ import annotations

import torch

QUALITY_STDS = 3.0


class ModeMetrics:
    def __init__(self, points: torch.Tensor, modes: torch.Tensor, mode_std: float):
        d = torch.cdist(points.double(), modes.double())
        nearest_d, self._nearest = d.min(dim=1)
        self._good = nearest_d <= QUALITY_STDS * mode_std
        self.num_modes = modes.shape[0]

    def values(self, counts: torch.Tensor | None = None) -> dict[str, float]:
        """On the whole set, or on a resample with `counts` copies of each point."""
        if counts is None:
            counts = torch.ones(len(self._good), dtype=torch.float64)
        counts = counts.double()
        good = self._good & (counts > 0)
        covered = torch.unique(self._nearest[good]).numel()
        return {
            "modes_covered": float(covered),
            "high_quality": float(self._good.double() @ counts / counts.sum()),
        }
