"""Pictures of samples: the sample grid of images (`to_grid`, the one layout the app and the CLI
draw), its PNG, and pictures of 2D points: `rasterise_points`, the one rasteriser (the samples
panel's PNG and GIF export, the quick scatter PNG for the run folder and TensorBoard). numpy at
import, Pillow and torch when called: the app imports this before torch is loaded."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ganstudio.core.extent import Extent

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


Layer = tuple[np.ndarray | None, tuple[int, int, int], int]  # (n, 2) points, their RGB, dot side in px
SCATTER_SAMPLES_RGB = (31, 119, 180)  # blue
SCATTER_REFERENCE_RGB = (190, 190, 190)  # light grey, under the samples


def rasterise_points(layers: Iterable[Layer], extent: Extent, size: int) -> np.ndarray:
    """A (size, size, 3) uint8 picture of 2D points over `extent` (x to the right, y up) on white:
    each layer's finite points stamped as squares `dot` px wide in its colour, later layers above
    earlier ones, whatever falls outside the extent left out. Vectorised: 50,000 reference points
    drawn one by one cost ~0.2 s per sample event, and a long timeline exports in a blink."""
    xmin, xmax, ymin, ymax = extent
    image = np.full((size, size, 3), 255, dtype=np.uint8)
    for points, colour, dot in layers:
        if points is None:
            continue
        p = np.asarray(points, dtype=np.float64).reshape(-1, 2)
        p = p[np.isfinite(p).all(axis=1)]
        cols = np.rint((p[:, 0] - xmin) / (xmax - xmin) * (size - 1)).astype(np.int64)
        rows = np.rint((ymax - p[:, 1]) / (ymax - ymin) * (size - 1)).astype(np.int64)  # row 0 at the top
        first = -(dot // 2)
        for dr in range(first, first + dot):
            for dc in range(first, first + dot):
                r, c = rows + dr, cols + dc
                inside = (r >= 0) & (r < size) & (c >= 0) & (c < size)
                image[r[inside], c[inside]] = colour
    return image


def scatter_png(points: np.ndarray, reference: np.ndarray | None = None, size: int = 400):
    """A quick PNG of 2D samples (blue) over real data (grey), for the run folder and the CLI: a
    square around the origin that holds every finite point."""
    from PIL import Image

    both = points if reference is None else np.concatenate([points, reference])
    finite = both[np.isfinite(both).all(axis=1)]
    lim = float(np.abs(finite).max()) * 1.1 if finite.size else 1.0
    lim = max(lim, 1e-3)
    layers = ((reference, SCATTER_REFERENCE_RGB, 3), (points, SCATTER_SAMPLES_RGB, 3))
    return Image.fromarray(rasterise_points(layers, (-lim, lim, -lim, lim), size))
