"""DCGAN (Radford et al. 2015): transposed-convolution G, strided-convolution D.

One builder serves 16, 28, 32 and 64 px: the generator starts from a 4x4 map (7x7 for 28 px,
which is not a power of two) and doubles until it reaches the image size.
"""

from __future__ import annotations

import torch
from torch import nn

from ganstudio.core.config import Config


def _plan(size: int) -> tuple[int, int]:
    """(start side, number of doublings) for an image side."""
    start = 7 if size == 28 else 4
    n, s = 0, start
    while s < size:
        s, n = s * 2, n + 1
    if s != size:
        raise ValueError(f"dcgan cannot make {size}x{size} images")
    return start, n


class Generator(nn.Module):
    def __init__(self, latent_dim: int, channels: int, size: int, base: int):
        super().__init__()
        start, n = _plan(size)
        ch = base * 2 ** (n - 1)
        self.head = nn.Sequential(
            nn.ConvTranspose2d(latent_dim, ch, start, 1, 0, bias=False), nn.BatchNorm2d(ch), nn.ReLU(True)
        )
        blocks: list[nn.Module] = []
        for _ in range(n - 1):
            blocks += [
                nn.ConvTranspose2d(ch, ch // 2, 4, 2, 1, bias=False),
                nn.BatchNorm2d(ch // 2),
                nn.ReLU(True),
            ]
            ch //= 2
        blocks += [nn.ConvTranspose2d(ch, channels, 4, 2, 1), nn.Tanh()]
        self.body = nn.Sequential(*blocks)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.body(self.head(z.view(z.shape[0], -1, 1, 1)))


class Discriminator(nn.Module):
    def __init__(self, channels: int, size: int, base: int):
        super().__init__()
        start, n = _plan(size)
        layers: list[nn.Module] = [nn.Conv2d(channels, base, 4, 2, 1), nn.LeakyReLU(0.2, True)]
        ch = base
        for _ in range(n - 1):
            # No BatchNorm in D: it would break the per-sample gradient penalty of WGAN-GP, and
            # plain LeakyReLU D's train well for every loss here at these sizes.
            layers += [nn.Conv2d(ch, ch * 2, 4, 2, 1), nn.LeakyReLU(0.2, True)]
            ch *= 2
        layers.append(nn.Conv2d(ch, 1, start, 1, 0))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).view(-1)


def build(cfg: Config, shape: tuple[int, ...]) -> tuple[nn.Module, nn.Module]:
    channels, size, _ = shape
    base = cfg.model.width or 64
    return (
        Generator(cfg.model.latent_dim, channels, size, base),
        Discriminator(channels, size, base),
    )
