"""Generators and discriminators, built by name from the config, or by your own model file.

`build(cfg, sample_shape)` is the registry's one door: the trainer, checkpoint loading and the
metrics all build models through it, so the shapes a checkpoint is checked against are the shapes
training would create. model.arch = FILE.py:FUNCTION or package.module:FUNCTION builds with your
own code, once it is loaded (user.py; which file a checkpoint names: provenance.py; the check of
its outputs when a trainer builds it: probe.py).

mlp.py, dcgan.py  the built-in families, and resnet.py, a modern residual one (after R3GAN)
user.py           your own model's file: found, hashed, imported (ModelRef, LoadedModel, ModelCodeError)
provenance.py     which file a checkpoint or run would import, and whether its hash matches
probe.py          the built models checked once on a tiny batch
conditional.py    model.conditional: G takes a class embedding, D projects it (Miyato & Koyama)
"""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from ganstudio.core.config import Config
from ganstudio.core.models import conditional, dcgan, mlp, resnet
from ganstudio.core.models.user import LoadedModel, ModelCodeError

Builder = Callable[[Config, tuple[int, ...]], tuple[nn.Module, nn.Module]]

REGISTRY: dict[str, Builder] = {
    "mlp": mlp.build,
    "dcgan": dcgan.build,
    "resnet": resnet.build,
}
# Built-in archs whose modules initialise themselves (resnet's residual branches start at zero);
# the others start from the DCGAN paper's init on images.
OWN_INIT = ("resnet",)


def build(
    cfg: Config,
    sample_shape: tuple[int, ...],
    code: LoadedModel | None = None,
    num_classes: int | None = None,
) -> tuple[nn.Module, nn.Module]:
    """(generator, discriminator) for the config's arch and one sample's shape ((C, H, W) or (2,)).

    Generators map (B, latent_dim) noise to (B, *sample_shape) in [-1, 1] (images) or R^2 (points);
    discriminators map samples to (B,) logits/scores. For your own arch, `code` is its loaded file
    (user.load): nothing here imports one; its modules keep the initialisation its code gives them.
    With model.conditional, `num_classes` is the data's class count and G and D also take the
    (B,) int64 labels: G(z, y), D(x, y) (conditional.py).
    """
    if cfg.model.arch not in REGISTRY:
        if code is None:
            raise ModelCodeError(
                f"model.arch = {cfg.model.arch!r} names a model file that has not been loaded; "
                "load it first (ganstudio.core.models.user.load)"
            )
        return code.build(cfg, tuple(sample_shape))
    if cfg.model.conditional:
        g, d = conditional.build(REGISTRY[cfg.model.arch], cfg, tuple(sample_shape), num_classes)
    else:
        g, d = REGISTRY[cfg.model.arch](cfg, tuple(sample_shape))
    if len(sample_shape) == 3 and cfg.model.arch not in OWN_INIT:
        g.apply(init_weights)
        d.apply(init_weights)
    # The 2D toys' small ReLU MLPs keep PyTorch's default (Kaiming-uniform) init: N(0, 0.02)
    # starts their generator with every point at the origin, and it then finds the ring's modes
    # one by one, far more slowly (0-1 of 8 modes by step 1000 instead of 5-8).
    # After the initialisation: spectral norm divides the weights it was given by their norm.
    if cfg.model.spectral_norm in ("d", "both"):
        spectral_norm(d)
    if cfg.model.spectral_norm == "both":
        spectral_norm(g)
    return g, d


def spectral_norm(module: nn.Module) -> nn.Module:
    """Every linear and (transposed) convolution layer of `module` with its weight divided by its
    largest singular value (Miyato et al. 2018), estimated by one power iteration per training
    forward. The iteration's vectors are buffers: they go into state_dict and checkpoints, so a
    resumed run goes on from the same estimate. The starting vectors come from torch's global RNG."""
    for m in list(module.modules()):
        if isinstance(m, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)):
            nn.utils.parametrizations.spectral_norm(m)
    return module


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
