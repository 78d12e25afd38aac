"""2D toy distributions: mixtures of Gaussians whose modes are known, so mode coverage is measurable.

- ring8: 8 modes evenly on a circle of radius 2, std 0.02.
- grid25: 25 modes at {-4, -2, 0, 2, 4}^2, std 0.05.
- spiral: 25 modes at equal arc-length steps along the Archimedean spiral r = b * theta for theta
  in [pi, 5*pi] (two turns, radius 0.8 to 4), std 0.05. Neighbouring modes are at least 1.17
  apart (over 20 std) and the turns 1.6 apart, so every point is unambiguously near one mode.

Every set has 50,000 points, the same count per mode, shuffled; the points depend only on the seed.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from .base import Dataset

NUM_POINTS = 50_000
SPIRAL_MODES = 25
SPIRAL_THETA = (math.pi, 5 * math.pi)
SPIRAL_RADIUS = 4.0


def ring8_modes() -> torch.Tensor:
    angles = torch.arange(8, dtype=torch.float64) * (2 * math.pi / 8)
    return (2.0 * torch.stack([angles.cos(), angles.sin()], dim=1)).float()


def grid25_modes() -> torch.Tensor:
    coords = torch.arange(-4.0, 5.0, 2.0)
    gx, gy = torch.meshgrid(coords, coords, indexing="ij")
    return torch.stack([gx.flatten(), gy.flatten()], dim=1)


def spiral_modes(count: int = SPIRAL_MODES) -> torch.Tensor:
    theta0, theta1 = SPIRAL_THETA
    b = SPIRAL_RADIUS / theta1
    # Equal steps in theta would crowd the inner turn; equal arc-length steps space modes evenly.
    # Arc length of r = b*theta from 0 to theta: (b/2) * (theta*sqrt(1+theta^2) + asinh(theta)).
    theta = np.linspace(theta0, theta1, 100_001)
    arc = 0.5 * b * (theta * np.sqrt(1 + theta**2) + np.arcsinh(theta))
    at = np.interp(np.linspace(arc[0], arc[-1], count), arc, theta)
    r = b * at
    return torch.from_numpy(np.stack([r * np.cos(at), r * np.sin(at)], axis=1)).float()


TOYS = {
    "ring8": (ring8_modes, 0.02),
    "grid25": (grid25_modes, 0.05),
    "spiral": (spiral_modes, 0.05),
}


def load_toy(name: str, seed: int) -> Dataset:
    make_modes, std = TOYS[name]
    modes = make_modes()
    per_mode = NUM_POINTS // len(modes)
    gen = torch.Generator().manual_seed(seed)
    which = torch.arange(len(modes)).repeat_interleave(per_mode)
    which = which[torch.randperm(len(which), generator=gen)]
    x = modes[which] + std * torch.randn(len(which), 2, generator=gen)
    return Dataset(x=x, modes=modes, mode_std=std, name=name)
