"""A modern residual GAN after R3GAN (Huang et al. 2024): no normalisation layers, and no tricks.

Both networks are stacks of the same residual block, an inverted bottleneck: a 1x1 convolution
widens the channels, a grouped 3x3 convolution mixes space within groups, a 1x1 convolution
narrows back, with a leaky ReLU between. What keeps a deep stack trainable without BatchNorm is
the initialisation (Fixup's idea): the branch's last convolution starts at zero, so every block
is the identity at first and a network starts as a short one, and the branch's inner layers are
scaled down with the number of blocks, so their sum stays small while they learn.

G: z -> a 4x4 map (one linear layer) -> blocks, then (bilinear 2x upsampling, blocks) until the
image size -> a 1x1 convolution to the image's channels -> tanh. D mirrors it: a 1x1 convolution
from the image, (blocks, 2x bilinear downsampling) down to 4x4, blocks, one linear layer to a
logit. Every stage has model.width channels (R3GAN's CIFAR-10 model: 768, two blocks a stage).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ganstudio.core.config import Config

BLOCKS_PER_STAGE = 2
EXPANSION = 2  # the block's hidden channels per input channel
GROUP_CHANNELS = 16  # channels per group of the 3x3 convolution, where the width allows it
LEAK = 0.2
LEAK_GAIN = math.sqrt(2 / (1 + LEAK**2))  # He's gain for a leaky ReLU
DEFAULT_WIDTH = 64


def stages(size: int) -> int:
    """How many 2x resolution steps lead from 4x4 to `size` x `size` (a power of two >= 8)."""
    n = round(math.log2(size / 4)) if size >= 8 else -1
    if n < 1 or 4 * 2**n != size:
        raise ValueError(f"resnet cannot make {size}x{size} images")
    return n


def _he_init(layer: nn.Conv2d | nn.Linear, gain: float = 1.0) -> None:
    """Normal weights of std gain / sqrt(fan-in) (the fan-in of a grouped convolution is its group's),
    zero bias."""
    fan_in = layer.weight[0].numel()
    nn.init.normal_(layer.weight, 0.0, gain / math.sqrt(fan_in))
    if layer.bias is not None:
        nn.init.zeros_(layer.bias)


class Block(nn.Module):
    """x + narrow(act(mix(act(widen(x))))): the identity at initialisation, unless `zero_last` is
    False (spectral norm keeps only a weight's direction, and a zero matrix has none)."""

    def __init__(self, channels: int, n_blocks: int, zero_last: bool = True):
        super().__init__()
        hidden = channels * EXPANSION
        self.widen = nn.Conv2d(channels, hidden, 1)
        groups = hidden // math.gcd(hidden, GROUP_CHANNELS)
        self.mix = nn.Conv2d(hidden, hidden, 3, padding=1, groups=groups)
        self.narrow = nn.Conv2d(hidden, channels, 1, bias=False)
        self.act = nn.LeakyReLU(LEAK)
        # R3GAN's variance scaling: with L blocks of m = 3 layers, the inner layers' gain is
        # multiplied by L^(-1/(2m-2)), so the sum of L branches keeps the variance of one.
        gain = LEAK_GAIN * n_blocks ** (-1 / 4)
        _he_init(self.widen, gain)
        _he_init(self.mix, gain)
        if zero_last:
            nn.init.zeros_(self.narrow.weight)
        else:
            _he_init(self.narrow)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.narrow(self.act(self.mix(self.act(self.widen(x)))))


def _blocks(width: int, n_blocks: int, zero_last: bool) -> list[nn.Module]:
    return [Block(width, n_blocks, zero_last) for _ in range(BLOCKS_PER_STAGE)]


class Upsample(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)


class Downsample(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Bilinear halving of the side with align_corners=False is the mean of each 2x2 square.
        return F.avg_pool2d(x, 2)


class Generator(nn.Module):
    def __init__(self, latent_dim: int, channels: int, size: int, width: int, zero_last: bool = True):
        super().__init__()
        n = stages(size)
        n_blocks = BLOCKS_PER_STAGE * (n + 1)
        self.width = width
        self.basis = nn.Linear(latent_dim, width * 4 * 4)
        layers = _blocks(width, n_blocks, zero_last)
        for _ in range(n):
            layers += [Upsample(), *_blocks(width, n_blocks, zero_last)]
        self.body = nn.Sequential(*layers)
        self.to_image = nn.Conv2d(width, channels, 1)
        _he_init(self.basis)
        _he_init(self.to_image)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = self.basis(z.view(z.shape[0], -1)).view(-1, self.width, 4, 4)
        return torch.tanh(self.to_image(self.body(x)))


class Discriminator(nn.Module):
    def __init__(self, channels: int, size: int, width: int, zero_last: bool = True):
        super().__init__()
        n = stages(size)
        n_blocks = BLOCKS_PER_STAGE * (n + 1)
        from_image = nn.Conv2d(channels, width, 1)
        layers: list[nn.Module] = [from_image]
        for _ in range(n):
            layers += [*_blocks(width, n_blocks, zero_last), Downsample()]
        to_logit = nn.Linear(width * 4 * 4, 1)
        _he_init(from_image)
        _he_init(to_logit)
        # One Sequential ending in the logit's layer, as dcgan's D: what a projection head needs.
        self.net = nn.Sequential(*layers, *_blocks(width, n_blocks, zero_last), nn.Flatten(), to_logit)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).view(-1)


def build(cfg: Config, shape: tuple[int, ...]) -> tuple[nn.Module, nn.Module]:
    channels, size, _ = shape
    width = cfg.model.width or DEFAULT_WIDTH
    sn = cfg.model.spectral_norm
    return (
        Generator(cfg.model.latent_dim, channels, size, width, zero_last=sn != "both"),
        Discriminator(channels, size, width, zero_last=sn == "off"),
    )
