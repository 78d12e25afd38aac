"""GAN objectives: one interface, one class per loss.

Discriminators output raw logits/scores. Every log-probability is written with softplus, which
is exact and never takes log(0): -log(sigmoid(x)) = softplus(-x), -log(1 - sigmoid(x)) = softplus(x).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class GANLoss:
    name = ""
    #: D's output is a logit; report sigmoid(output) as D(x), D(G(z)).
    probabilistic = False
    #: Where D's raw output says "real" above and "fake" below (for accuracies).
    decision = 0.0
    #: G's loss pairs each fake with a real's score (relativistic losses): the trainer passes them.
    pairs = False

    def d_loss(self, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def g_loss(self, fake: torch.Tensor, real: torch.Tensor | None = None) -> torch.Tensor:
        """G's loss on D's scores of fakes; `real`: D's scores of as many reals (used by losses
        that pair them, ignored by the others)."""
        raise NotImplementedError

    def d_output(self, scores: torch.Tensor) -> torch.Tensor:
        """What the plots call D(x): a probability for logit losses, the raw score otherwise."""
        return torch.sigmoid(scores) if self.probabilistic else scores


class Minimax(GANLoss):
    """The original saturating game of Goodfellow et al. 2014: G minimises log(1 - D(G(z)))."""

    name = "minimax"
    probabilistic = True

    def d_loss(self, real, fake):
        return F.softplus(-real).mean() + F.softplus(fake).mean()

    def g_loss(self, fake, real=None):
        return -F.softplus(fake).mean()


class NonSaturating(Minimax):
    """G maximises log D(G(z)) instead: strong gradients early, the usual choice."""

    name = "nonsaturating"

    def g_loss(self, fake, real=None):
        return F.softplus(-fake).mean()


class Hinge(GANLoss):
    name = "hinge"

    def d_loss(self, real, fake):
        return F.relu(1.0 - real).mean() + F.relu(1.0 + fake).mean()

    def g_loss(self, fake, real=None):
        return -fake.mean()


class LSGAN(GANLoss):
    """Least squares (Mao et al. 2017) with targets 1 for real and 0 for fake."""

    name = "lsgan"
    decision = 0.5  # targets 1 (real) and 0 (fake)

    def d_loss(self, real, fake):
        return 0.5 * ((real - 1.0).pow(2).mean() + fake.pow(2).mean())

    def g_loss(self, fake, real=None):
        return 0.5 * (fake - 1.0).pow(2).mean()


class WGANGP(GANLoss):
    """Wasserstein critic with gradient penalty (Gulrajani et al. 2017); the trainer adds the
    penalty from `gradient_penalty` times loss.gp_weight."""

    name = "wgan-gp"

    def d_loss(self, real, fake):
        return fake.mean() - real.mean()

    def g_loss(self, fake, real=None):
        return -fake.mean()


class RpGAN(GANLoss):
    """The relativistic pairing GAN (Jolicoeur-Martineau 2018; R3GAN, Huang et al. 2024): D learns
    that each real scores above its paired fake, softplus(-(D(x) - D(G(z)))), and G the mirror,
    softplus(-(D(G(z)) - D(x))). Scores are relative, so D(x) is reported raw. Without reals (the 2D
    lab's push on single points) G's loss pairs each fake with a score of 0: same direction per point."""

    name = "rpgan"
    pairs = True

    def d_loss(self, real, fake):
        return F.softplus(fake - real).mean()

    def g_loss(self, fake, real=None):
        return F.softplus(-fake if real is None else real - fake).mean()


LOSSES: dict[str, type[GANLoss]] = {
    cls.name: cls for cls in (Minimax, NonSaturating, Hinge, LSGAN, WGANGP, RpGAN)
}


def make(kind: str) -> GANLoss:
    return LOSSES[kind]()


def gradient_penalty(
    d: nn.Module,
    real: torch.Tensor,
    fake: torch.Tensor,
    generator: torch.Generator | None = None,
    eps: torch.Tensor | None = None,
) -> torch.Tensor:
    """E[(||grad D(x_hat)||_2 - 1)^2] on random interpolates of real and fake samples, mixed by
    `eps` (drawn from `generator` when not given: a distributed trainer draws the global batch's and
    passes its slice)."""
    shape = (real.shape[0],) + (1,) * (real.dim() - 1)
    if eps is None:
        eps = torch.rand(shape, device=real.device, dtype=real.dtype, generator=generator)
    x_hat = (eps * real + (1.0 - eps) * fake).requires_grad_(True)
    (grad,) = torch.autograd.grad(d(x_hat).sum(), x_hat, create_graph=True)
    return (grad.flatten(1).norm(2, dim=1) - 1.0).pow(2).mean()
