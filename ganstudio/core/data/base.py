"""The loaded dataset and the error a loader raises; shared by every loader in this package."""

from __future__ import annotations

from dataclasses import dataclass

import torch


class DataError(Exception):
    """A dataset that cannot be loaded.

    str(e) is a readable message that names the dataset or path and says what to do.
    """


# eq=False: dataclass equality would compare tensors element-wise, which has no single truth value.
@dataclass(frozen=True, eq=False)
class Dataset:
    """One preprocessed tensor in memory; the trainer draws batches from it by index.

    x: float32 on the CPU. Images: (N, C, H, W) in [-1, 1]. 2D toys: (N, 2).
    labels: int64 (N,) class labels for digits, mnist, fashion-mnist and cifar10, else None.
    num_classes: 10 for the labelled sets, else None.
    modes, mode_std: for the 2D toys, the (M, 2) centres of the Gaussian modes and their std.
    warnings: readable notes about what loading had to skip.
    """

    x: torch.Tensor
    labels: torch.Tensor | None = None
    num_classes: int | None = None
    modes: torch.Tensor | None = None
    mode_std: float | None = None
    warnings: tuple[str, ...] = ()

    @property
    def is_2d(self) -> bool:
        return self.x.dim() == 2

    @property
    def shape(self) -> tuple[int, ...]:
        """The shape of one sample: (C, H, W) for images, (2,) for points."""
        return tuple(self.x.shape[1:])

    def __len__(self) -> int:
        return self.x.shape[0]
