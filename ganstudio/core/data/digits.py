"""scikit-learn's 1,797 real 8x8 handwritten digits: in its wheel, so they load offline."""

from __future__ import annotations

import torch

from .base import Dataset
from .images import to_training_images


def load_digits(channels: int, size: int) -> Dataset:
    # Imported here: sklearn.datasets takes about a second to import and only this set needs it.
    from sklearn.datasets import load_digits as sklearn_digits

    bunch = sklearn_digits()
    raw = torch.from_numpy(bunch.images).unsqueeze(1)  # (1797, 1, 8, 8) float64, values 0..16
    x = to_training_images(raw, max_value=16.0, channels=channels, size=size)
    labels = torch.from_numpy(bunch.target).to(torch.int64)
    return Dataset(x=x, labels=labels, num_classes=10, name="digits (scikit-learn's load_digits)")
