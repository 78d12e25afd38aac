"""The 2D lab (after GAN Lab): what D thinks of every point of the plane, and where G's loss pushes
each generated point.

`field_snapshot` evaluates D on a grid over a fixed extent and takes the gradient of G's loss with
respect to each generated point, -d(loss_g)/dx: the direction the next G update moves that point.
It is a pure read: no parameter gradient, training mode, model state or RNG state changes, so a
run that is watched resumes exactly as one that is not.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch
from torch import nn

from ganstudio.core.extent import EXTENT_MARGIN, Extent, data_extent

__all__ = ["EXTENT_MARGIN", "Extent", "FieldSnapshot", "data_extent", "field_snapshot", "grid_points"]
from ganstudio.core.train.losses import GANLoss

FIELD_RESOLUTION = 64


class FieldSnapshot(NamedTuple):
    """`field[iy, ix]` is D's output (as `loss.d_output` reports it) at the centre of grid cell
    (ix, iy): row 0 is the bottom of the extent, column 0 its left. `fake_points` is G's output on
    the noise, `g_grad` the push on each point: -d(loss_g)/dx for that point's own loss term."""

    field: np.ndarray  # (res, res) float32
    fake_points: np.ndarray  # (n, 2) float32
    g_grad: np.ndarray  # (n, 2) float32


def grid_points(extent: Extent, resolution: int) -> torch.Tensor:
    """The (res*res, 2) cell centres of the grid, row-major with y as the row: point iy*res + ix
    is at column ix, row iy."""
    xmin, xmax, ymin, ymax = extent
    dx, dy = (xmax - xmin) / resolution, (ymax - ymin) / resolution
    xs = xmin + dx * (torch.arange(resolution, dtype=torch.float32) + 0.5)
    ys = ymin + dy * (torch.arange(resolution, dtype=torch.float32) + 0.5)
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack([gx.flatten(), gy.flatten()], dim=1)


def field_snapshot(
    D: nn.Module,
    G: nn.Module,
    fixed_noise: torch.Tensor,
    loss: GANLoss,
    extent: Extent,
    resolution: int = FIELD_RESOLUTION,
    device: torch.device | str | None = None,
) -> FieldSnapshot:
    """D's field over `extent`, G's points on `fixed_noise` and the generator's push on each.

    Cost: one D forward on resolution^2 points, one G forward and one D forward and backward on the
    n noise vectors, in float32 and eval mode.
    """
    if resolution < 2:
        raise ValueError(f"resolution must be at least 2, got {resolution}")
    if device is None:
        device = next(D.parameters()).device
    d_was_training, g_was_training = D.training, G.training
    d_flags = [p.requires_grad for p in D.parameters()]
    D.eval()
    G.eval()
    D.requires_grad_(False)  # gradients flow to the points only; no parameter .grad is touched
    try:
        with torch.no_grad():
            grid = grid_points(extent, resolution).to(device)
            field = loss.d_output(D(grid).float()).reshape(resolution, resolution)
            fake = G(fixed_noise.to(device)).float()
        with torch.enable_grad():
            x = fake.detach().requires_grad_(True)
            # loss_g is a mean over the batch: times n, each point's gradient is its own term's.
            loss_g = loss.g_loss(D(x).float()) * x.shape[0]
            (grad,) = torch.autograd.grad(loss_g, x)
    finally:
        for p, flag in zip(D.parameters(), d_flags, strict=True):
            p.requires_grad_(flag)
        D.train(d_was_training)
        G.train(g_was_training)
    return FieldSnapshot(
        field=field.cpu().numpy().astype(np.float32),
        fake_points=fake.detach().cpu().numpy().astype(np.float32),
        g_grad=(-grad).cpu().numpy().astype(np.float32),
    )
