"""The batches a trainer draws: the in-memory dataset, where it lives, the images held out from
training, and the sampler that walks one permutation per epoch (its state is part of a checkpoint)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from ganstudio.core.checkpoint.checks import check_sampler
from ganstudio.core.config import Config
from ganstudio.core.data import Dataset


@dataclass
class Sampler:
    """Draws batches by index from the in-memory dataset: one permutation per epoch, drop-last."""

    n: int
    batch_size: int
    generator: torch.Generator
    device: torch.device
    perm: torch.Tensor | None = None
    pos: int = 0
    epochs_done: int = 0

    def next(self) -> torch.Tensor:
        if self.perm is None or self.pos + self.batch_size > self.n:
            if self.perm is not None:
                self.epochs_done += 1
            self.perm = torch.randperm(self.n, generator=self.generator).to(self.device)
            self.pos = 0
        idx = self.perm[self.pos : self.pos + self.batch_size]
        self.pos += self.batch_size
        return idx

    @property
    def epoch(self) -> float:
        return self.epochs_done + self.pos / self.n

    def state_dict(self) -> dict[str, Any]:
        return {
            "perm": self.perm.cpu() if self.perm is not None else torch.zeros(0, dtype=torch.int64),
            "pos": self.pos,
            "epochs_done": self.epochs_done,
            "generator": self.generator.get_state(),
        }

    def load_state_dict(self, s: dict[str, Any]) -> None:
        check_sampler(s, self)  # an index out of range would read past the data (a fault on a GPU)
        perm = s["perm"]
        self.perm = perm.to(self.device) if perm.numel() else None
        self.pos = int(s["pos"])
        self.epochs_done = int(s["epochs_done"])
        self.generator.set_state(s["generator"])


HOLDOUT_MAX_IMAGES = 100_000  # a larger set is rarely memorised, and its holdout would be large


def holdout_split(data: Dataset, cfg: Config) -> torch.Tensor:
    """The indices of the images held out (data.holdout of them, drawn with the run's seed; none for
    the 2D toys and for sets of HOLDOUT_MAX_IMAGES or more), sorted."""
    n = len(data)
    if data.is_2d or cfg.data.holdout <= 0 or n >= HOLDOUT_MAX_IMAGES:
        return torch.zeros(0, dtype=torch.int64)
    k = int(round(cfg.data.holdout * n))
    gen = torch.Generator().manual_seed(cfg.train.seed + 5)
    return torch.randperm(n, generator=gen)[:k].sort().values


def resident(x: torch.Tensor, device: torch.device) -> torch.Tensor:
    """The dataset on the training device when it fits in half its free memory, else pinned in
    host memory (batches are then copied asynchronously)."""
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        if x.numel() * x.element_size() > free // 2:
            return x.pin_memory()
    return x.to(device)
