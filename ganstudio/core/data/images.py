"""Turn a stack of raw images into the training tensor: scale to [-1, 1], fix channels, resize.

Works on the whole stack in chunks, so a 60,000-image set never exists twice in float32 at full
size, and there are no per-sample transforms left for training time.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

# ITU-R BT.601 luma, the weights Pillow's convert("L") uses too, so folder and tensor paths agree.
LUMA = (0.299, 0.587, 0.114)
CHUNK = 4096


def convert_channels(x: torch.Tensor, channels: int) -> torch.Tensor:
    """(N, C, H, W) -> (N, channels, H, W): gray -> RGB repeats, RGB -> gray takes the luminance."""
    c = x.shape[1]
    if c == channels:
        return x
    if c == 1 and channels == 3:
        return x.expand(-1, 3, -1, -1)
    if c == 3 and channels == 1:
        weights = torch.tensor(LUMA, dtype=x.dtype).view(1, 3, 1, 1)
        return (x * weights).sum(dim=1, keepdim=True)
    raise ValueError(f"cannot convert {c} channels to {channels}")


def to_training_images(raw: torch.Tensor, max_value: float, channels: int, size: int) -> torch.Tensor:
    """Raw (N, C, H, W) images valued 0..max_value -> float32 (N, channels, size, size) in [-1, 1]."""
    n = raw.shape[0]
    out = torch.empty((n, channels, size, size), dtype=torch.float32)
    for start in range(0, n, CHUNK):
        chunk, dest = raw[start : start + CHUNK], out[start : start + CHUNK]
        if chunk.shape[1:] == dest.shape[1:]:
            # Already the target shape: scale in place in the output, with no temporaries.
            dest.copy_(chunk).mul_(2.0 / max_value).sub_(1.0)
            continue
        # copy=True: the in-place scaling below must never write into the caller's tensor.
        x = chunk.to(torch.float32, copy=True).mul_(2.0 / max_value).sub_(1.0)
        x = convert_channels(x, channels)
        if x.shape[-2:] != (size, size):
            # antialias: bilinear alone would alias when shrinking (e.g. 32 -> 16).
            x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
        # Float rounding in the resize can land a hair outside [-1, 1]; the range is a promise.
        dest.copy_(x.clamp_(-1.0, 1.0))
    return out
