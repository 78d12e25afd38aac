"""Your own GAN in GAN Studio's loop: a small residual MLP generator and discriminator.

Train it on the digits, or on the 8 Gaussians of the ring:

    ganstudio train --set model.arch=examples/my_gan.py:build
    ganstudio train --preset ring8 --set model.arch=examples/my_gan.py:build

GAN Studio calls build(cfg, sample_shape) once per run and trains what it returns with every loss,
live edit, EMA, metric and alert, as it trains its built-in models. The contract:

- cfg is the run's config (cfg.model.latent_dim, cfg.model.width, ...); sample_shape is one
  sample's shape: (C, H, W) for images, (2,) for the 2D toys.
- The generator maps noise of shape (B, cfg.model.latent_dim) to samples of shape
  (B, *sample_shape): in [-1, 1] for images (end with tanh), any real numbers for 2D points.
- The discriminator maps samples to logits of shape (B,) or (B, 1): no sigmoid at the end, the
  losses apply it themselves.
- Keep every tensor a module needs as a parameter or a buffer (GAN Studio moves the modules to the
  run's device), and draw random numbers only through torch.

The run folder keeps a copy of this file and its SHA-256; its checkpoints record both, so a resume
imports this file only while it is unchanged (or the one you name with --model-file).
"""

from __future__ import annotations

import math

import torch
from torch import nn


class Block(nn.Module):
    """x + f(x): two linear layers with a LeakyReLU between, and one after."""

    def __init__(self, width: int):
        super().__init__()
        self.f = nn.Sequential(nn.Linear(width, width), nn.LeakyReLU(0.2), nn.Linear(width, width))
        self.act = nn.LeakyReLU(0.2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(x + self.f(x))


class Generator(nn.Module):
    def __init__(self, latent_dim: int, width: int, sample_shape: tuple[int, ...], blocks: int = 2):
        super().__init__()
        self.sample_shape = sample_shape
        self.image = len(sample_shape) == 3
        self.net = nn.Sequential(
            nn.Linear(latent_dim, width),
            nn.LeakyReLU(0.2),
            *[Block(width) for _ in range(blocks)],
            nn.Linear(width, math.prod(sample_shape)),
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = self.net(z)
        if self.image:
            x = torch.tanh(x)  # images live in [-1, 1]
        return x.view(z.shape[0], *self.sample_shape)


class Discriminator(nn.Module):
    def __init__(self, sample_shape: tuple[int, ...], width: int, blocks: int = 2):
        super().__init__()
        self.net = nn.Sequential(
            nn.Flatten(),
            nn.Linear(math.prod(sample_shape), width),
            nn.LeakyReLU(0.2),
            *[Block(width) for _ in range(blocks)],
            nn.Linear(width, 1),  # a logit: no sigmoid
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).view(-1)


def build(cfg, sample_shape: tuple[int, ...]) -> tuple[nn.Module, nn.Module]:
    """(generator, discriminator) for the run's config and one sample's shape."""
    width = cfg.model.width or 128
    return Generator(cfg.model.latent_dim, width, sample_shape), Discriminator(sample_shape, width)
