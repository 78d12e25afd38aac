"""The loaded dataset and the error a loader raises; shared by every loader in this package."""

from __future__ import annotations

import math
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

    x: float32 on the CPU. Images: (N, C, H, W) in [-1, 1], C 1 or 3, square. 2D toys: (N, 2), finite.
    labels: int64 (N,) class labels in [0, num_classes) for digits, mnist, fashion-mnist, cifar10 and
        a folder of class subfolders, else None.
    num_classes: 10 for the labelled sets, a class folder's subfolder count, else None.
    modes, mode_std: for the 2D toys, the (M, 2) centres of the Gaussian modes and their std.
    warnings: readable notes about what loading had to skip.
    name: what the data is, for messages ("MNIST in /data"); "the dataset" when not given.

    Every Dataset is checked when it is built, whichever loader (or test, or caller) builds it:
    a mismatch such as fewer labels than images would otherwise train fine and then fail every
    metrics evaluation. A bad one raises DataError naming the dataset and what is wrong.
    """

    x: torch.Tensor
    labels: torch.Tensor | None = None
    num_classes: int | None = None
    modes: torch.Tensor | None = None
    mode_std: float | None = None
    warnings: tuple[str, ...] = ()
    name: str = "the dataset"

    def __post_init__(self) -> None:
        problem = _problem(self)
        if problem:
            raise DataError(f"{self.name} {problem}")

    @property
    def is_2d(self) -> bool:
        return self.x.dim() == 2

    @property
    def shape(self) -> tuple[int, ...]:
        """The shape of one sample: (C, H, W) for images, (2,) for points."""
        return tuple(self.x.shape[1:])

    def __len__(self) -> int:
        return self.x.shape[0]


def _problem(d: Dataset) -> str | None:
    """What is inconsistent in `d` (completing "<name> ..."), or None."""
    x = d.x
    if not isinstance(x, torch.Tensor) or x.dtype != torch.float32 or x.device.type != "cpu":
        what = f"a {x.dtype} tensor on {x.device}" if isinstance(x, torch.Tensor) else type(x).__name__
        return f"holds {what}; its samples must be a float32 tensor on the CPU"
    points = x.dim() == 2 and x.shape[1] == 2
    images = x.dim() == 4 and x.shape[1] in (1, 3) and x.shape[2] == x.shape[3] >= 1
    if not (points or images):
        return f"has samples of shape {tuple(x.shape)}; expected (N, 2) points or (N, 1 or 3, S, S) images"
    n = x.shape[0]
    if n == 0:
        return "holds no samples"
    # aminmax propagates NaN, so one pass over the data finds NaN, infinities and stray values.
    low, high = (float(v) for v in torch.aminmax(x))
    if not (math.isfinite(low) and math.isfinite(high)):
        return f"holds values that are not finite numbers (NaN or infinite; range {low} to {high})"
    if images and not (low >= -1.0 and high <= 1.0):
        return f"holds image values from {low:g} to {high:g}; images must lie in [-1, 1]"
    return _labels_problem(d, n, "images" if images else "points") or _modes_problem(d, points)


def _labels_problem(d: Dataset, n: int, noun: str) -> str | None:
    if d.labels is None:
        return None if d.num_classes is None else f"has num_classes = {d.num_classes} but no labels"
    labels = d.labels
    if not isinstance(labels, torch.Tensor):
        return f"has labels as a {type(labels).__name__}; they must be a 1-D int64 tensor"
    if labels.dtype != torch.int64 or labels.dim() != 1:
        return f"has {labels.dtype} labels of shape {tuple(labels.shape)}; they must be a 1-D int64 tensor"
    if len(labels) != n:
        return (
            f"has {n} {noun} but {len(labels)} labels; each needs exactly one label "
            "(replace the damaged or mismatched files)"
        )
    if not isinstance(d.num_classes, int) or isinstance(d.num_classes, bool) or d.num_classes < 1:
        return f"has labels but num_classes = {d.num_classes!r}; it must be a whole number >= 1"
    low, high = (int(v) for v in torch.aminmax(labels))
    if low < 0 or high >= d.num_classes:
        top = d.num_classes - 1
        return f"has labels from {low} to {high}; with {d.num_classes} classes they must lie in 0..{top}"
    return None


def _modes_problem(d: Dataset, points: bool) -> str | None:
    if d.modes is None and d.mode_std is None:
        return None
    if not points:
        return "has mode centres, but those are for 2D points, not images"
    modes, std = d.modes, d.mode_std
    if (
        not isinstance(modes, torch.Tensor)
        or modes.dim() != 2
        or modes.shape[0] < 1
        or modes.shape[1] != 2
        or not bool(torch.isfinite(modes).all())
    ):
        shape = tuple(modes.shape) if isinstance(modes, torch.Tensor) else type(modes).__name__
        return f"has mode centres {shape}; they must be a finite (M, 2) tensor, M >= 1, with mode_std"
    if not isinstance(std, (int, float)) or isinstance(std, bool) or not (math.isfinite(std) and std > 0):
        return f"has mode_std = {std!r}; it must be a finite number > 0, given with the mode centres"
    return None
