"""What the trainer's step adds to the plain losses: D's gradient penalties and the real scores a
pairing loss gives G.

- WGAN-GP's penalty, (||grad D||_2 - 1)^2 on interpolates of reals and fakes (loss.gp_weight, for
  loss.kind = wgan-gp only);
- R1 and R2 (loss.r1, loss.r2), zero-centred: gamma/2 * E||grad_x D(x)||^2 on the reals (R1) or on
  the fakes (R2) D is trained on, for any loss. They reuse D's forward on that batch (its inputs are
  marked to need a gradient before it), so a penalty costs one double backward, no extra forward.
  Lazy, as StyleGAN2: with loss.r_every = N they apply on steps whose index is a multiple of N, N
  times as heavy; the step number decides, so a resumed run applies them on the same steps.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ganstudio.core.config import LossConfig
from ganstudio.core.models import conditional
from ganstudio.core.train import losses


@dataclass(frozen=True)
class Due:
    """The weights R1 and R2 have in this step's D updates (0: not applied), interval included."""

    r1: float = 0.0
    r2: float = 0.0


def due(cfg: LossConfig, step: int) -> Due:
    """R1's and R2's weights at `step` (the index of the step about to be taken, from 0)."""
    n = cfg.r_every
    if step % n:
        return Due()
    return Due(r1=cfg.r1 * n, r2=cfg.r2 * n)


def zero_centred(scores: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
    """E||grad_x D(x)||^2 over the batch, where `scores` = D(`inputs`) and `inputs` required a
    gradient before D ran; differentiable, so D's update can minimise it."""
    (grad,) = torch.autograd.grad(scores.float().sum(), inputs, create_graph=True)
    return grad.float().flatten(1).pow(2).sum(1).mean()


def mark_inputs(real: torch.Tensor, fake: torch.Tensor, weights: Due) -> None:
    """Let R1 (R2) take D's gradient on the reals (fakes) of this D update: before D's forward."""
    real.requires_grad_(weights.r1 > 0)
    fake.requires_grad_(weights.r2 > 0)


def d_penalty(
    trainer,
    weights: Due,
    real: torch.Tensor,
    fake: torch.Tensor,
    d_real: torch.Tensor,
    d_fake: torch.Tensor,
) -> torch.Tensor | None:
    """What D's loss gains this update (None: nothing). `real`, `fake` and D's scores of them are
    this process's rows of the update's batch; WGAN-GP's mixing weights are drawn for the global
    batch from the trainer's noise stream, and this process takes its rows."""
    cfg = trainer.cfg.loss
    terms = []
    if cfg.kind == "wgan-gp" and cfg.gp_weight > 0:
        bs = trainer.cfg.train.batch_size
        shape = (bs,) + (1,) * (real.dim() - 1)
        eps = torch.rand(shape, device=real.device, dtype=real.dtype, generator=trainer.noise_gen)
        gp = losses.gradient_penalty(
            conditional.bind(trainer.D, getattr(trainer, "labels", None)),  # model.conditional: D(x, y)
            real.detach(),
            fake.detach().to(real.dtype),
            eps=eps[trainer._part],
        )
        terms.append(cfg.gp_weight * gp)
    if weights.r1 > 0:
        terms.append(weights.r1 / 2 * zero_centred(d_real, real))
    if weights.r2 > 0:
        terms.append(weights.r2 / 2 * zero_centred(d_fake, fake))
    return sum(terms[1:], terms[0]) if terms else None


def g_loss(loss: losses.GANLoss, scores: torch.Tensor, d: nn.Module, real: torch.Tensor) -> torch.Tensor:
    """G's loss on D's `scores` of its fakes. A loss that pairs fakes with reals (rpgan) also gets
    the current D's scores (after its update) of this step's reals, with no gradient to anything;
    the others are called with the fakes' scores alone."""
    if not loss.pairs:
        return loss.g_loss(scores)
    with torch.no_grad():
        paired = d(real.detach()).float()
    return loss.g_loss(scores, paired)
