"""What `ganstudio fid` compares: image folders and arrays, read as batches of images.

- a folder: every .png/.jpg/.jpeg/.bmp/.webp/.tif(f) file under it (subfolders too), in sorted order,
  converted to RGB, at its own size (the Inception features resize each to 299x299);
- a .npy file, or a .npz file's array 'arr_0' or 'x': uint8 images (N, H, W, C) or (N, H, W),
  pixel values 0..255 (the layout of StyleGAN's and pytorch-fid's sample files), or float images
  (N, C, H, W) in [-1, 1] (GAN Studio's own layout: `ganstudio sample --out FILE.npy`).

A run's checkpoint (.pt) is sampled by the CLI (ganstudio/cli/fid.py), not read here.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff")
NPZ_KEYS = ("arr_0", "x")
BATCH = 50


class InputError(ValueError):
    """An input that cannot be read as images; the message names it and says why."""


def image_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())


def _folder_batches(files: list[Path]) -> Iterator[torch.Tensor]:
    from PIL import Image

    batch: list[np.ndarray] = []
    for path in files:
        try:
            with Image.open(path) as im:
                arr = np.asarray(im.convert("RGB"), dtype=np.uint8)
        except OSError as e:
            raise InputError(f"{path}: not a readable image ({e})") from None
        if batch and (arr.shape != batch[0].shape or len(batch) == BATCH):
            yield torch.from_numpy(np.stack(batch)).permute(0, 3, 1, 2)
            batch = []
        batch.append(arr)
    if batch:
        yield torch.from_numpy(np.stack(batch)).permute(0, 3, 1, 2)


def array_images(arr: np.ndarray, name: str) -> torch.Tensor:
    """An array as (N, C, H, W) images: uint8 kept as 0..255, floats checked to lie in [-1, 1]."""
    if arr.dtype == np.uint8:
        if arr.ndim == 3:
            arr = arr[..., None]
        if arr.ndim != 4 or arr.shape[-1] not in (1, 3):
            raise InputError(f"{name}: uint8 images must be (N, H, W, C) with C = 1 or 3, got {arr.shape}")
        return torch.from_numpy(np.ascontiguousarray(arr)).permute(0, 3, 1, 2)
    if not np.issubdtype(arr.dtype, np.floating):
        raise InputError(f"{name}: expected uint8 (N, H, W, C) or float (N, C, H, W) images, got {arr.dtype}")
    if arr.ndim != 4 or arr.shape[1] not in (1, 3):
        raise InputError(f"{name}: float images must be (N, C, H, W) with C = 1 or 3, got {arr.shape}")
    if not np.isfinite(arr).all():
        raise InputError(f"{name}: holds NaN or infinite values")
    lo, hi = float(arr.min()), float(arr.max())
    if lo < -1.001 or hi > 1.001:
        raise InputError(f"{name}: float images must lie in [-1, 1], found values from {lo:.3g} to {hi:.3g}")
    return torch.from_numpy(arr.astype(np.float32))


def load_array(path: Path) -> np.ndarray:
    try:
        if path.suffix == ".npy":
            return np.load(path, allow_pickle=False)
        with np.load(path, allow_pickle=False) as z:
            for key in NPZ_KEYS:
                if key in z.files:
                    return z[key]
            raise InputError(
                f"{path}: no array named {' or '.join(NPZ_KEYS)} (it holds {', '.join(z.files)})"
            )
    except (OSError, ValueError) as e:
        if isinstance(e, InputError):
            raise
        raise InputError(f"{path}: cannot read it as a numpy array ({e})") from None


def image_batches(path: str | Path) -> tuple[int, Iterator[torch.Tensor]]:
    """(image count, batches of (n, C, H, W) images) of a folder, .npy or .npz file."""
    path = Path(path)
    if path.is_dir():
        files = image_files(path)
        if not files:
            raise InputError(f"{path}: no images ({', '.join(IMAGE_SUFFIXES)}) in this folder")
        return len(files), _folder_batches(files)
    if not path.exists():
        raise InputError(f"{path}: no such file or folder")
    if path.suffix not in (".npy", ".npz"):
        raise InputError(f"{path}: give a folder of images, a .npy/.npz array or a checkpoint (.pt)")
    images = array_images(load_array(path), str(path))
    if images.shape[0] == 0:
        raise InputError(f"{path}: holds no images")
    return images.shape[0], iter(images.split(BATCH))
