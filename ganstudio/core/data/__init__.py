"""Datasets -> one preprocessed tensor in memory; the trainer draws batches from it by index.

`load_dataset(config.data)` returns a `Dataset`: images as float32 (N, C, H, W) in [-1, 1], already
at the configured size and channel count, or 2D points (N, 2) with the centres of their modes.
Anything that cannot be loaded raises `DataError` with a message for the person at the keyboard.
"""

from __future__ import annotations

from ..config import DATASETS, DATASETS_2D, DataConfig, resolved_image_shape
from .base import DataError, Dataset
from .folder import load_folder
from .toys import load_toy

__all__ = ["DataError", "Dataset", "load_dataset"]


def load_dataset(data: DataConfig, *, seed: int = 0, download: bool = True) -> Dataset:
    """Load `data.dataset` whole, preprocessed for training.

    seed: draws the 2D toy points (the image sets do not depend on it).
    download: whether mnist/fashion-mnist/cifar10 may be downloaded into data.root when missing.
    """
    name = data.dataset
    if name in DATASETS_2D:
        return load_toy(name, seed)
    if name not in DATASETS:
        raise DataError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}")
    channels, size, _ = resolved_image_shape(data)
    if channels not in (1, 3) or size < 1:
        raise DataError(
            f"cannot make {name} images with {channels} channels at {size}x{size}: "
            "data.channels must be 0, 1 or 3 and data.image_size 0 or more"
        )
    if name == "digits":
        # Imported on demand: sklearn.datasets and torchvision.datasets each take seconds to import.
        from .digits import load_digits

        ds = load_digits(channels, size)
    elif name == "folder":
        ds = load_folder(data.root, channels, size)
    else:
        from .torchvision_sets import load_torchvision

        ds = load_torchvision(name, data.root, channels, size, download)
    if ds.shape != (channels, size, size):  # what the models are built for, from the config
        raise DataError(f"{ds.name} loaded as {ds.shape} images, not the {(channels, size, size)} asked for")
    return ds
