"""The 2D lab's view of the plane, in numpy only, so the GUI can use it without importing torch:
the extent the lab shows, and a preview of a 2D toy's real data for before a run has loaded it."""

from __future__ import annotations

import math

import numpy as np

Extent = tuple[float, float, float, float]  # (xmin, xmax, ymin, ymax)

# Fraction of the data's half-width added on each side: samples stray beyond the data, and the
# view should show them.
EXTENT_MARGIN = 0.3

PREVIEW_POINTS = 2000  # as many as the 2D lab draws of the real data


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


# The toys' modes and spread, as ganstudio.core.data.toys defines them (a test holds the two equal):
# that module needs torch, which the GUI imports only once a run starts (it takes seconds).
def _ring8() -> np.ndarray:
    angles = np.arange(8) * (2 * math.pi / 8)
    return 2.0 * np.stack([np.cos(angles), np.sin(angles)], axis=1)


def _grid25() -> np.ndarray:
    gx, gy = np.meshgrid(np.arange(-4.0, 5.0, 2.0), np.arange(-4.0, 5.0, 2.0), indexing="ij")
    return np.stack([gx.ravel(), gy.ravel()], axis=1)


def _spiral(
    count: int = 25, theta_range: tuple[float, float] = (math.pi, 5 * math.pi), radius: float = 4.0
) -> np.ndarray:
    theta0, theta1 = theta_range
    b = radius / theta1
    # Equal arc-length steps along r = b*theta; arc length from 0: (b/2)(t*sqrt(1+t^2) + asinh(t)).
    theta = np.linspace(theta0, theta1, 100_001)
    arc = 0.5 * b * (theta * np.sqrt(1 + theta**2) + np.arcsinh(theta))
    at = np.interp(np.linspace(arc[0], arc[-1], count), arc, theta)
    return np.stack([b * at * np.cos(at), b * at * np.sin(at)], axis=1)


TOY_MODES = {"ring8": (_ring8, 0.02), "grid25": (_grid25, 0.05), "spiral": (_spiral, 0.05)}


def toy_modes(dataset: str) -> tuple[np.ndarray, float] | None:
    """The (M, 2) mode centres of a 2D toy dataset and their std; None for any other dataset."""
    if dataset not in TOY_MODES:
        return None
    make, std = TOY_MODES[dataset]
    return make(), std


def preview_points(dataset: str, seed: int = 0, count: int = PREVIEW_POINTS) -> np.ndarray | None:
    """`count` points drawn as the 2D toy `dataset` draws its data (the same count per mode), so the
    lab can show the real data as soon as a config names it: the same modes and spread, not the
    same points (those are drawn with torch when the run loads its data). None for image data."""
    found = toy_modes(dataset)
    if found is None:
        return None
    modes, std = found
    rng = np.random.default_rng(seed)
    which = rng.permutation(np.repeat(np.arange(len(modes)), max(1, count // len(modes))))
    return modes[which] + std * rng.standard_normal((len(which), 2))
