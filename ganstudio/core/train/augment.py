"""Differentiable augmentation of what D sees (data.augment, data.augment_p): DiffAugment's colour,
translation and cutout (Zhao et al. 2020), applied alike to the reals and to the fakes, in D's
updates and in G's, so D never sees an image that was not augmented and G learns through the
augmentation (every op is made of differentiable tensor arithmetic and indexing).

Each op is applied to each image with chance p: fixed (data.augment_p = '1' is DiffAugment), or
"auto", StyleGAN2-ADA's rule: at the end of each log interval, p moves up while D's r_t on the
training reals (the Overfitting tab's `d_overfit_rt`) is above 0.6 and down otherwise, by a step
sized so that p could cross 0..1 in ADA_KIMG thousand images. A job's ranks agree on p with no
collective of their own: every rank updates it from the same stats, averaged over the ranks.

The random draws come from the trainer's noise generator (saved in each checkpoint, so a resumed
run augments exactly as the run it continues) and are made for the whole global batch, of which
each process takes its rows, as for the noise. p itself is saved in the checkpoint.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from ganstudio.core.config.augment import fixed_p, ops_of

if TYPE_CHECKING:
    from ganstudio.core.train.trainer import Trainer

TARGET_RT = 0.6  # ADA's target for r_t
# Images over which "auto" p could go from 0 to 1 (thousands). ADA uses 500 for runs of millions of
# images; GAN Studio's small-data runs are a few hundred thousand, so p must move faster.
ADA_KIMG = 100
TRANSLATE = 1 / 8  # the largest shift, as a share of the image side (DiffAugment's)
CUTOUT = 1 / 2  # the side of the cut-out square, as a share of the image side (DiffAugment's)
PREVIEW_SEED = 7  # the samples panel's preview draws from its own generator: training is untouched


class Augment:
    """The trainer's augmentation: `trainer.augment(x)` augments a batch of this process's rows (x
    itself when data.augment is off or p is 0), `p` is the chance now."""

    def __init__(self, trainer: Trainer):
        self.t = trainer
        self.p = 0.0  # ADA starts with no augmentation
        self._current_p()

    def _current_p(self) -> float:
        """p now: a fixed one, or ADA's. A switch to "auto" goes on from the p used until then (0
        when augmentation was off)."""
        data = self.t.cfg.data
        fixed = fixed_p(data.augment_p)
        if not ops_of(data.augment):
            self.p = 0.0
        elif fixed is not None:
            self.p = fixed
        return self.p

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        ops = ops_of(self.t.cfg.data.augment)
        p = self._current_p()
        if not ops or p <= 0 or x.dim() != 4:
            return x
        t = self.t
        return augment(x, ops, p, t.noise_gen, t.cfg.train.batch_size, t._part)

    def observe(self, values: dict[str, float]) -> dict[str, float]:
        """Steer "auto" p by the interval's r_t (when it was measured); the stats' `augment_p`."""
        cfg = self.t.cfg
        if not ops_of(cfg.data.augment):
            return {}
        p = self._current_p()
        rt = values.get("d_overfit_rt")
        if fixed_p(cfg.data.augment_p) is None and rt is not None and np.isfinite(rt):
            self.p = ada_step(p, rt, cfg.train.batch_size * cfg.log.every)
        return {"augment_p": self.p}

    def state_dict(self) -> dict[str, Any]:
        return {"p": float(self.p)}

    def load_state_dict(self, state: dict[str, Any] | None) -> None:
        """A checkpoint's p (one from before augmentation existed has none: p stays as built)."""
        if state is not None:
            self.p = min(max(float(state["p"]), 0.0), 1.0)

    @torch.no_grad()
    def preview(self, reals: torch.Tensor) -> torch.Tensor | None:
        """`reals` as D would see them now, drawn from a generator of its own (the same draws each
        time, so the grid shows p change); None when augmentation is off."""
        ops = ops_of(self.t.cfg.data.augment)
        if not ops or reals.dim() != 4:
            return None
        gen = torch.Generator(reals.device).manual_seed(self.t.cfg.train.seed + PREVIEW_SEED)
        n = reals.shape[0]
        return augment(reals, ops, self._current_p(), gen, n, slice(None))


def ada_step(p: float, rt: float, images: int) -> float:
    """ADA's update after `images` images with r_t = `rt`: up when D is over-confident on the
    training reals (rt > TARGET_RT), else down, kept in [0, 1]."""
    step = images / (ADA_KIMG * 1000)
    return float(min(max(p + (step if rt > TARGET_RT else -step), 0.0), 1.0))


def augment(
    x: torch.Tensor,
    ops: tuple[str, ...],
    p: float,
    gen: torch.Generator,
    batch: int,
    part: slice | torch.Tensor,
) -> torch.Tensor:
    """`x` (N, C, H, W), this process's `part` of a global batch of `batch`, with each of `ops`
    applied to each image with chance `p`; the draws are the global batch's, from `gen`."""

    def draw(*shape: int) -> torch.Tensor:
        return torch.rand((batch, *shape), device=x.device, generator=gen)[part]

    def chosen() -> torch.Tensor:  # 1 where an op applies to the image, else 0
        return (draw(1, 1, 1) < p).to(x.dtype)

    for op in ops:
        on = chosen()
        if op == "color":
            x = color(x, *(1 + on * (draw(1, 1, 1) - 0.5) * k for k in (1.0, 2.0, 1.0)))
        elif op == "translation":
            x = translate(x, on[:, 0, 0] * (draw(2) * 2 - 1) * TRANSLATE)
        else:
            x = cutout(x, on[:, 0, 0, 0], draw(2))
    return x


def color(x: torch.Tensor, brightness: torch.Tensor, saturation: torch.Tensor, contrast: torch.Tensor):
    """DiffAugment's colour op, with per-image factors around 1 (1 leaves the image as it is):
    brightness adds (factor - 1), saturation scales each pixel's distance from its grey, contrast
    each image's distance from its mean."""
    x = x + (brightness - 1).to(x.dtype)
    grey = x.mean(dim=1, keepdim=True)
    x = grey + (x - grey) * saturation.to(x.dtype)
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return mean + (x - mean) * contrast.to(x.dtype)


def translate(x: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """Shift each image by `shift` (N, 2): (dy, dx) as shares of its side, rounded to whole pixels;
    what comes in from the border is 0. Indexing, so the gradient reaches every kept pixel."""
    n, _, h, w = x.shape
    pad_h, pad_w = max(1, int(h * TRANSLATE + 0.5)), max(1, int(w * TRANSLATE + 0.5))
    dy = (shift[:, 0] * h).round().long().clamp(-pad_h, pad_h)
    dx = (shift[:, 1] * w).round().long().clamp(-pad_w, pad_w)
    padded = torch.nn.functional.pad(x, (pad_w, pad_w, pad_h, pad_h))
    rows = torch.arange(h, device=x.device)[None, :] - dy[:, None] + pad_h  # (N, H)
    cols = torch.arange(w, device=x.device)[None, :] - dx[:, None] + pad_w  # (N, W)
    batch = torch.arange(n, device=x.device)[:, None, None]
    return padded.permute(0, 2, 3, 1)[batch, rows[:, :, None], cols[:, None, :]].permute(0, 3, 1, 2)


def cutout(x: torch.Tensor, on: torch.Tensor, centre: torch.Tensor) -> torch.Tensor:
    """Zero a square of side CUTOUT * the image's in each image where `on` (N,) is 1, centred at
    `centre` (N, 2) in [0, 1) of the image (it may reach past the border, as in DiffAugment)."""
    _, _, h, w = x.shape
    side_h, side_w = int(h * CUTOUT + 0.5), int(w * CUTOUT + 0.5)
    top = (centre[:, 0] * (h + 1 - side_h % 2)).long() - side_h // 2
    left = (centre[:, 1] * (w + 1 - side_w % 2)).long() - side_w // 2
    r = torch.arange(h, device=x.device)[None, :] - top[:, None]
    c = torch.arange(w, device=x.device)[None, :] - left[:, None]
    inside = ((r >= 0) & (r < side_h))[:, :, None] & ((c >= 0) & (c < side_w))[:, None, :]
    keep = 1 - inside.to(x.dtype) * on.to(x.dtype)[:, None, None]
    return x * keep[:, None]
