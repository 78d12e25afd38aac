"""Fully connected G and D: the classic GAN of the tutorials, and a small one for 2D toys."""

from __future__ import annotations

import math

import torch
from torch import nn

from ganstudio.core.config import Config


class Generator(nn.Module):
    def __init__(self, latent_dim: int, widths: list[int], out_shape: tuple[int, ...], image: bool):
        super().__init__()
        self.out_shape = out_shape
        layers: list[nn.Module] = []
        prev = latent_dim
        for i, w in enumerate(widths):
            layers.append(nn.Linear(prev, w))
            # BatchNorm after every hidden layer but the first, as the classic GAN of the tutorials.
            if image and i > 0:
                layers.append(nn.BatchNorm1d(w))
            layers.append(nn.LeakyReLU(0.2) if image else nn.ReLU())
            prev = w
        layers.append(nn.Linear(prev, math.prod(out_shape)))
        if image:
            layers.append(nn.Tanh())
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z).view(z.shape[0], *self.out_shape)


class Discriminator(nn.Module):
    def __init__(self, in_shape: tuple[int, ...], widths: list[int], image: bool):
        super().__init__()
        layers: list[nn.Module] = [nn.Flatten()]
        prev = math.prod(in_shape)
        for w in widths:
            layers += [nn.Linear(prev, w), nn.LeakyReLU(0.2) if image else nn.ReLU()]
            prev = w
        layers.append(nn.Linear(prev, 1))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).view(-1)


def build(cfg: Config, shape: tuple[int, ...]) -> tuple[nn.Module, nn.Module]:
    image = len(shape) == 3
    # Default widths: the tutorials' 4-layer G / 2-layer D shape, at a width that trains the 8x8
    # digits well and fast on a laptop CPU (128 costs ~3x the time for no visible gain there).
    w = cfg.model.width or (64 if image else 128)
    if image:
        g_widths, d_widths = [w, 2 * w, 4 * w, 8 * w], [4 * w, 2 * w]
    else:
        g_widths, d_widths = [w, w, w], [w, w, w]
    return (
        Generator(cfg.model.latent_dim, g_widths, shape, image),
        Discriminator(shape, d_widths, image),
    )
