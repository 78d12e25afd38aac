"""Generators and discriminators, built by name from the config.

`build(cfg, sample_shape)` is the registry's one door: the trainer, checkpoint loading and the
metrics all build models through it, so the shapes a checkpoint is checked against are the shapes
training would create.
"""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from ganstudio.core.config import Config
from ganstudio.core.models import dcgan, mlp

Builder = Callable[[Config, tuple[int, ...]], tuple[nn.Module, nn.Module]]

REGISTRY: dict[str, Builder] = {
    "mlp": mlp.build,
    "dcgan": dcgan.build,
}


def build(cfg: Config, sample_shape: tuple[int, ...]) -> tuple[nn.Module, nn.Module]:
    """(generator, discriminator) for the config's arch and one sample's shape ((C, H, W) or (2,)).

    Generators map (B, latent_dim) noise to (B, *sample_shape) in [-1, 1] (images) or R^2 (points);
    discriminators map samples to (B,) logits/scores.
    """
    g, d = REGISTRY[cfg.model.arch](cfg, tuple(sample_shape))
    if len(sample_shape) == 3:
        g.apply(init_weights)
        d.apply(init_weights)
    # The 2D toys' small ReLU MLPs keep PyTorch's default (Kaiming-uniform) init: N(0, 0.02)
    # starts their generator with every point at the origin, and it then finds the ring's modes
    # one by one, far more slowly (0-1 of 8 modes by step 1000 instead of 5-8).
    return g, d


def init_weights(m: nn.Module) -> None:
    """The DCGAN paper's initialisation: N(0, 0.02) weights, N(1, 0.02) norm scales, zero biases."""
    if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
        nn.init.normal_(m.weight, 0.0, 0.02)
        if m.bias is not None:
            nn.init.zeros_(m.bias)
    elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
        nn.init.normal_(m.weight, 1.0, 0.02)
        nn.init.zeros_(m.bias)


def count_parameters(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())
