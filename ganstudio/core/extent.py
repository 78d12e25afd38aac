"""The 2D lab's view of the plane, in numpy only, so the GUI can use it without importing torch."""

from __future__ import annotations

import numpy as np

Extent = tuple[float, float, float, float]  # (xmin, xmax, ymin, ymax)

# Fraction of the data's half-width added on each side: samples stray beyond the data, and the
# view should show them.
EXTENT_MARGIN = 0.3


def data_extent(x, margin: float = EXTENT_MARGIN) -> Extent:
    """A square extent around the finite points of `x` ((n, 2) array or CPU tensor), with `margin`
    of its half-width added on each side. Depends only on the data, so every snapshot of a run
    shares it."""
    p = np.asarray(x, dtype=np.float64)
    p = p[np.isfinite(p).all(axis=1)]
    if len(p) == 0:
        return (-1.0, 1.0, -1.0, 1.0)
    lo, hi = p.min(axis=0), p.max(axis=0)
    cx, cy = ((lo + hi) / 2).tolist()
    half = max(float((hi - lo).max()) / 2, 1e-3) * (1 + margin)
    return (cx - half, cx + half, cy - half, cy + half)
