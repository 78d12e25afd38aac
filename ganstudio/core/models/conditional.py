"""Class-conditional GANs (model.conditional): the generator takes a class, the discriminator
scores an image as that class by projection.

- `ConditionalGenerator`: the built-in G built for a latent of latent_dim + embedding size, fed
  [z, embed(y)], so every arch conditions the same way without knowing it.
- `ProjectionDiscriminator` (Miyato & Koyama 2018): D(x, y) = psi(phi(x)) + <embed(y), phi(x)>,
  where psi is the built-in D's last layer and phi(x) what comes into it (summed over positions for
  a convolutional D).

The trainer draws each batch's labels with its reals (the fakes of a step are made for the same
classes, so no new random stream: exact resume holds as before) and calls G and D through
`bind`, which is the plain module when the run is unconditional. The class count is the dataset's
when a run is built, and the embedding's rows when a checkpoint's weights are loaded
(`classes_in`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import torch
from torch import nn

from ganstudio.core.config import ConfigError

CLASS_EMBEDDING = "embed.weight"  # the state_dict key that says a generator is conditional


class ConditionalGenerator(nn.Module):
    def __init__(self, base: nn.Module, num_classes: int, embed_dim: int):
        super().__init__()
        self.base = base
        self.embed = nn.Embedding(num_classes, embed_dim)

    @property
    def num_classes(self) -> int:
        return self.embed.num_embeddings

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        if y is None:  # a caller that knows no classes (G(z)): every class in turn
            y = torch.arange(z.shape[0], device=z.device) % self.num_classes
        return self.base(torch.cat([z, self.embed(y).to(z.dtype)], dim=1))


class ProjectionDiscriminator(nn.Module):
    def __init__(self, base: nn.Module, num_classes: int):
        super().__init__()
        net = getattr(base, "net", None)
        if not isinstance(net, nn.Sequential) or not isinstance(net[-1], (nn.Linear, nn.Conv2d)):
            raise ValueError(
                f"model.conditional: {type(base).__name__} has no final layer to project onto "
                "(a .net Sequential ending in a linear or convolution layer)"
            )
        self.body = net[:-1]
        self.head = net[-1]
        width = self.head.in_features if isinstance(self.head, nn.Linear) else self.head.in_channels
        self.embed = nn.Embedding(num_classes, width)
        nn.init.normal_(self.embed.weight, 0.0, 0.02)  # start near the unconditional D

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        h = self.body(x)
        phi = h.flatten(2).sum(2) if h.dim() == 4 else h
        return self.head(h).view(-1) + (self.embed(y).to(phi.dtype) * phi).sum(1)


def build(builder, cfg, shape: tuple[int, ...], num_classes: int | None) -> tuple[nn.Module, nn.Module]:
    """The conditional pair around a built-in arch's `builder`: its G built for latent_dim +
    embedding inputs, its D given a projection head."""
    if not num_classes:
        raise ConfigError(["model.conditional = true, but the data has no classes to condition on"])
    latent = cfg.model.latent_dim
    wide = replace(cfg, model=replace(cfg.model, latent_dim=latent + embed_dim(latent)))
    g, d = builder(wide, shape)
    return ConditionalGenerator(g, num_classes, embed_dim(latent)), ProjectionDiscriminator(d, num_classes)


def embed_dim(latent_dim: int) -> int:
    """The class embedding's size: as wide as z, so the class weighs as much as the noise."""
    return latent_dim


def classes_in(state: dict) -> int | None:
    """The class count of a generator's state_dict (None: an unconditional one)."""
    w = state.get(CLASS_EMBEDDING)
    return int(w.shape[0]) if w is not None else None


def bind(module: nn.Module, y: torch.Tensor | None) -> Callable[[torch.Tensor], torch.Tensor] | nn.Module:
    """`module` called with labels `y` (the module itself when y is None: unconditional)."""
    if y is None:
        return module
    return lambda x: module(x, y)


# ----- the trainer's side --------------------------------------------------------------------------


def split_labels(data, held: torch.Tensor, device: torch.device, cfg):
    """(training labels, held-out labels) on `device` for a conditional run (None, None otherwise),
    split as the trainer splits the images (`held`: the held-out indices)."""
    if not cfg.model.conditional:
        return None, None
    if data.labels is None:
        raise ConfigError(
            [
                f"model.conditional = true needs labelled data, and {data.name} has no classes; for a "
                "folder, put each class's images in a subfolder of its own (data.root/<class>/...)"
            ]
        )
    if not len(held):
        return data.labels.to(device), None
    keep = torch.ones(len(data.labels), dtype=torch.bool)
    keep[held] = False
    return data.labels[keep].to(device), data.labels[held].to(device)


def bound(trainer, idx: torch.Tensor, models: tuple | None = None) -> tuple:
    """This batch's (G, D) (`models`, else the trainer's), given the labels of the reals at `idx`
    (this process's rows); the labels stay in `trainer.labels` for the penalties that call D again
    (WGAN-GP's)."""
    y = trainer.y[idx] if trainer.y is not None else None
    trainer.labels = y
    G, D = models if models is not None else (trainer.G, trainer.D)
    return bind(G, y), bind(D, y)


def holdout_d(trainer, rows: torch.Tensor):
    """D for the held-out reals at `rows`, with their labels."""
    y = trainer.y_holdout[rows] if trainer.y_holdout is not None else None
    return bind(trainer.D, y)


# ----- sampling ---------------------------------------------------------------------------------


def per_class(z: torch.Tensor, num_classes: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Every noise vector of `z` for every class, one class after the other: (K * n, latent),
    (K * n,) labels. A grid of n columns then shows one row per class."""
    n = z.shape[0]
    labels = torch.arange(num_classes).repeat_interleave(n)
    return z.repeat(num_classes, 1), labels


def balanced(n: int, num_classes: int) -> torch.Tensor:
    """n labels cycling through the classes (no random draw)."""
    return torch.arange(n) % num_classes


@torch.no_grad()
def generate(g: nn.Module, z: torch.Tensor, y: torch.Tensor | None, chunk: int = 1024) -> torch.Tensor:
    """`g`'s output for `z` (and labels `y`, for a conditional g), in chunks, on g's device as given."""
    if y is None:
        return torch.cat([g(c) for c in z.split(chunk)])
    return torch.cat([g(c, l) for c, l in zip(z.split(chunk), y.split(chunk), strict=True)])
