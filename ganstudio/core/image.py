"""Pictures of samples: the sample grid of images (`to_grid`, the one layout the app and the CLI
draw), its PNG, and the quick scatter PNG of 2D points for the run folder and TensorBoard."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch


def to_grid(images: torch.Tensor, nrow: int = 8) -> np.ndarray:
    """(N, C, H, W) in [-1, 1] -> HxWxC uint8 grid with 1 px dark padding."""
    # Imported here: torchvision.utils pulls in torch._dynamo, seconds that the CLI's argument
    # checks and the app's first paint should not wait for (and torch: a folder's reader needs none).
    import torch
    from torchvision.utils import make_grid

    grid = make_grid(images.float(), nrow=nrow, padding=1, normalize=True, value_range=(-1, 1), pad_value=0)
    arr = grid.mul(255).add_(0.5).clamp_(0, 255).to(torch.uint8).permute(1, 2, 0).numpy()
    if images.shape[1] == 1:  # make_grid made 3 channels: keep one, in an array of its own
        return arr[:, :, :1].copy()
    return np.ascontiguousarray(arr)


def save_grid_png(grid: np.ndarray, path: str | Path) -> None:
    from PIL import Image

    img = grid[:, :, 0] if grid.shape[2] == 1 else grid
    Image.fromarray(img).save(path)


def scatter_png(points: np.ndarray, reference: np.ndarray | None = None, size: int = 400):
    """A quick PNG of 2D samples (blue) over real data (grey), for the run folder and the CLI."""
    from PIL import Image

    both = points if reference is None else np.concatenate([points, reference])
    finite = both[np.isfinite(both).all(axis=1)]
    lim = float(np.abs(finite).max()) * 1.1 if finite.size else 1.0
    lim = max(lim, 1e-3)
    # Vectorised: 50,000 reference points drawn one by one cost ~0.2 s per sample event.
    canvas = np.full((size, size, 3), 255, dtype=np.uint8)
    for pts, colour in ((reference, (190, 190, 190)), (points, (31, 119, 180))):
        if pts is None:
            continue
        pts = pts[np.isfinite(pts).all(axis=1)]
        px = np.rint((pts / lim * 0.5 + 0.5) * (size - 1)).astype(int)
        cols, rows = px[:, 0], size - 1 - px[:, 1]
        for dy in (-1, 0, 1):  # 3x3 dots
            for dx in (-1, 0, 1):
                r, c = np.clip(rows + dy, 0, size - 1), np.clip(cols + dx, 0, size - 1)
                canvas[r, c] = colour
    return Image.fromarray(canvas)
