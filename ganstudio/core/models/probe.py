"""Your own model checked once, when a trainer builds it: a probe batch of PROBE_BATCH noise vectors
through G (in training and in eval mode) and G's output through D, on the run's device.

Each way a model can break the contract is a ModelCodeError that names the file (and line), what
was expected and what came back: an exception in a forward, parameters not on the run's device,
outputs of the wrong shape, dtype, device or range, non-finite outputs, and a discriminator that
returns probabilities (after a sigmoid) where the losses expect logits. The probe leaves the
models as it found them (their buffers, e.g. BatchNorm's running statistics, are restored) and
draws from no global random stream, so a run trains the same with it as without it.
"""

from __future__ import annotations

import contextlib
from typing import Any

import torch
from torch import nn

from ganstudio.core.models.user import ModelCodeError, where

PROBE_BATCH = 4
RANGE_SLACK = 1e-3  # tanh in bfloat16 may round a hair past 1
# Autograd nodes that only reshape or move a tensor: a sigmoid behind them is the output's last op.
_PASS_THROUGH = (
    "View",
    "Reshape",
    "UnsafeView",
    "Squeeze",
    "Unsqueeze",
    "Clone",
    "Expand",
    "Permute",
    "Transpose",
    "TBackward",
    "Select",
    "Slice",
    "ToCopy",
    "Alias",
    "Flatten",
    "Contiguous",
)
_PROBABILITY = ("SigmoidBackward", "SoftmaxBackward", "HardsigmoidBackward")


def check(
    G: nn.Module,
    D: nn.Module,
    path: str,
    latent_dim: int,
    sample_shape: tuple[int, ...],
    device: torch.device,
    autocast: Any = None,
) -> None:
    sample_shape = tuple(sample_shape)
    """Probe G and D (already on `device`) built from the model file `path`; ModelCodeError if they
    break the contract."""
    _check_device(G, "generator", device, path)
    _check_device(D, "discriminator", device, path)
    autocast = autocast or contextlib.nullcontext()
    image = len(sample_shape) == 3
    devices = [device] if device.type == "cuda" else []
    with _restored(G), _restored(D), torch.random.fork_rng(devices=devices):
        gen = torch.Generator(device).manual_seed(0)
        z = torch.randn(PROBE_BATCH, latent_dim, device=device, generator=gen)
        fake = None
        for mode in ("train", "eval"):
            G.train(mode == "train")
            with torch.no_grad(), autocast:
                out = _forward(G, z, f"the generator's forward ({mode} mode)", path)
            _check_sample(out, sample_shape, device, image, path, mode)
            fake = out if mode == "train" else fake
        D.train(True)
        with torch.enable_grad(), autocast:
            scores = _forward(D, fake, "the discriminator's forward", path)
        _check_scores(scores, device, path)


@contextlib.contextmanager
def _restored(module: nn.Module):
    """Run a block and put `module`'s buffers and mode back as they were."""
    saved = {k: b.detach().clone() for k, b in module.named_buffers()}
    was = module.training
    try:
        yield
    finally:
        with torch.no_grad():
            for k, b in module.named_buffers():
                if k in saved:
                    b.copy_(saved[k])
        module.train(was)


def _forward(module: nn.Module, x: torch.Tensor, what: str, path: str) -> Any:
    try:
        return module(x)
    except Exception as e:
        raise ModelCodeError(
            f"{where(e, path)}: {what} raised {type(e).__name__}: {e} "
            f"(on a probe batch of shape {tuple(x.shape)}, {x.dtype}, on {x.device})"
        ) from None


def _check_device(module: nn.Module, role: str, device: torch.device, path: str) -> None:
    for name, t in [*module.named_parameters(), *module.named_buffers()]:
        if t.device.type != device.type or (device.index is not None and t.device != device):
            raise ModelCodeError(
                f"{path}: the {role}'s {name!r} is on {t.device}, after the {role} was moved to the "
                f"run's device {device} (train.device); keep every tensor a module needs as an "
                "nn.Parameter or a buffer (register_buffer), so .to(device) moves it"
            )


def describe(out: Any) -> str:
    """What a forward returned, for a message."""
    if not torch.is_tensor(out):
        return f"a {type(out).__name__}"
    text = f"a tensor of shape {tuple(out.shape)}, {str(out.dtype).replace('torch.', '')}, on {out.device}"
    if out.numel() and out.is_floating_point() and out.device.type != "meta":
        lo, hi = out.detach().float().min().item(), out.detach().float().max().item()
        text += f", values from {lo:.4g} to {hi:.4g}"
    return text


def _fail(path: str, what: str, expected: str, out: Any) -> None:
    raise ModelCodeError(f"{path}: {what} must return {expected}; it returned {describe(out)}")


def _check_common(
    out: Any, shapes: list[tuple[int, ...]], device: torch.device, path: str, what: str, expected: str
) -> None:
    if not torch.is_tensor(out) or tuple(out.shape) not in shapes:
        _fail(path, what, expected, out)
    if out.dtype not in (torch.float32, torch.bfloat16, torch.float16):
        _fail(path, what, f"{expected}, as float32 (bfloat16 under train.amp)", out)
    if out.device.type != device.type:
        _fail(path, what, f"{expected}, on the run's device {device}", out)
    finite = torch.isfinite(out.detach()).all().item()
    if not finite:
        _fail(path, what, f"{expected}, all finite (no NaN or infinity)", out)


def _check_sample(
    out: Any, shape: tuple[int, ...], device: torch.device, image: bool, path: str, mode: str
) -> None:
    what = f"the generator ({mode} mode), given noise of shape ({PROBE_BATCH}, latent_dim),"
    expected = f"a tensor of shape {(PROBE_BATCH, *shape)}" + (" in [-1, 1]" if image else "")
    _check_common(out, [(PROBE_BATCH, *shape)], device, path, what, expected)
    if image:
        lo, hi = out.detach().float().min().item(), out.detach().float().max().item()
        if lo < -1 - RANGE_SLACK or hi > 1 + RANGE_SLACK:
            _fail(path, what, f"{expected} (images; end it with tanh)", out)


def _check_scores(out: Any, device: torch.device, path: str) -> None:
    what = "the discriminator, given the generator's samples,"
    expected = f"logits of shape ({PROBE_BATCH},) or ({PROBE_BATCH}, 1)"
    _check_common(out, [(PROBE_BATCH,), (PROBE_BATCH, 1)], device, path, what, expected)
    values = out.detach().float()
    if bool(((values >= 0) & (values <= 1)).all()) and _ends_in_probability(out):
        raise ModelCodeError(
            f"{path}: the discriminator must return logits (any real number: the losses apply "
            f"the sigmoid themselves); it returned probabilities ({describe(out)}, after a "
            f"{_last_op(out)}): remove its final sigmoid"
        )


def _ends_in_probability(out: torch.Tensor) -> bool:
    return _last_op(out) is not None


def _last_op(out: torch.Tensor) -> str | None:
    """The sigmoid (or softmax) that produced `out`, looking through reshapes; None if none did."""
    fn = out.grad_fn
    for _ in range(16):
        if fn is None:
            return None
        name = type(fn).__name__
        if name.startswith(_PROBABILITY):
            return name.removesuffix("Backward0").removesuffix("Backward").lower()
        if not name.startswith(_PASS_THROUGH):
            return None
        parents = [f for f, _ in fn.next_functions if f is not None]
        if len(parents) != 1:
            return None
        fn = parents[0]
    return None
