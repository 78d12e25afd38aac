"""The metrics by name: what each reports, which datasets it applies to, and how it is computed.

A metric is prepared once per evaluation from a `Context` (the generated and reference samples and
their features) and returns a function of `counts`, how many copies of each generated sample a
bootstrap resample holds (None: the whole set once), so the evaluator can bootstrap it
(`<key>_std`) without recomputing distances.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from ganstudio.core.data import Dataset
from ganstudio.core.metrics.distances import (
    FrechetReference,
    ManifoldMetrics,
    gaussian_stats,
    mean_pairwise_distance,
)
from ganstudio.core.metrics.points import ModeMetrics

ValuesOf = Callable[[torch.Tensor | None], dict[str, float]]


@dataclass
class Context:
    """One evaluation's inputs. `fake`/`real`: raw samples, (n, 2) points or (n, C, H, W) images in
    [-1, 1]. `fake_features`/`real_features`: the feature space of the distance metrics (None for
    2D data). `fake_logits`: the classifier's logits (labelled sets only). `cache`: values that
    depend only on the reference set, kept by the evaluator across evaluations."""

    dataset: Dataset
    fake: torch.Tensor
    real: torch.Tensor
    fake_features: torch.Tensor | None = None
    real_features: torch.Tensor | None = None
    fake_logits: torch.Tensor | None = None
    cache: dict = field(default_factory=dict)
    asked: torch.Tensor | None = None  # model.conditional: the class each fake was generated for
    # metrics.inception: the training set's Inception Gaussian and the fakes' Inception features
    inception_reference: FrechetReference | None = None
    fake_inception: torch.Tensor | None = None


@dataclass(frozen=True)
class Metric:
    name: str
    keys: tuple[str, ...]
    help: str
    applies: Callable[[Dataset], bool]
    prepare: Callable[[Context], ValuesOf]


def _has_modes(d: Dataset) -> bool:
    return d.is_2d and d.modes is not None and d.mode_std is not None


def _is_image(d: Dataset) -> bool:
    return not d.is_2d


def _labelled(d: Dataset) -> bool:
    return not d.is_2d and d.labels is not None and bool(d.num_classes)


def _modes(ctx: Context) -> ValuesOf:
    d = ctx.dataset
    return ModeMetrics(ctx.fake, d.modes, d.mode_std).values


# A sample "is" a class only when the classifier is sure of it: noise and blends spread over
# every class with low confidence, and counting them would report full coverage for an untrained
# generator. A class is covered when it gets at least a tenth of its fair share of the samples.
CONFIDENT = 0.8
FAIR_SHARE = 0.1


def _classes(ctx: Context) -> ValuesOf:
    k = ctx.dataset.num_classes
    probs = ctx.fake_logits.softmax(dim=1)
    confidence, predicted = probs.max(dim=1)
    sure = (confidence >= CONFIDENT).double()

    def values(counts: torch.Tensor | None) -> dict[str, float]:
        weights = sure if counts is None else sure * counts.double()
        total = float(counts.sum()) if counts is not None else float(predicted.numel())
        out = class_coverage(torch.bincount(predicted, weights=weights, minlength=k), total)
        out["recognised"] = float(weights.sum()) / max(total, 1e-12)
        return out

    return values


def _asked_class(ctx: Context) -> ValuesOf:
    if ctx.asked is None:  # samples given without the classes they were asked for
        return lambda counts: {}
    hit = (ctx.fake_logits.argmax(dim=1) == ctx.asked).double()

    def values(counts: torch.Tensor | None) -> dict[str, float]:
        if counts is None:
            return {"class_match": float(hit.mean())}
        return {"class_match": float((hit * counts.double()).sum() / counts.sum().clamp(min=1e-12))}

    return values


def class_coverage(counts: torch.Tensor, total: float | None = None) -> dict[str, float]:
    """classes_covered: classes with at least FAIR_SHARE of their uniform share of `total` samples
    (default: counts.sum()); class_kl: KL(p || uniform) in nats of the class histogram p, 0 for a
    perfectly balanced set, log(K) when every sample is one class."""
    counts = counts.double()
    k = counts.numel()
    total = float(counts.sum()) if total is None else total
    if float(counts.sum()) <= 0:
        return {"classes_covered": 0.0, "class_kl": math.log(k)}
    p = counts / counts.sum()
    nz = p[p > 0]
    covered = counts >= max(FAIR_SHARE * total / k, 1e-9)
    return {"classes_covered": float(covered.sum()), "class_kl": float((nz * (nz * k).log()).sum())}


def _fd(ctx: Context) -> ValuesOf:
    if "real_gaussian" not in ctx.cache:
        ctx.cache["real_gaussian"] = FrechetReference.of(ctx.real_features)
    reference = ctx.cache["real_gaussian"]

    def values(counts: torch.Tensor | None) -> dict[str, float]:
        return {"fd": reference.distance(*gaussian_stats(ctx.fake_features, counts))}

    return values


def _fid_inception(ctx: Context) -> ValuesOf:
    reference, fake = ctx.inception_reference, ctx.fake_inception

    def values(counts: torch.Tensor | None) -> dict[str, float]:
        return {"fid_inception": reference.distance(*gaussian_stats(fake, counts))}

    return values


def _manifold(ctx: Context) -> ValuesOf:
    if "real_radii" not in ctx.cache:
        ctx.cache["real_radii"] = ManifoldMetrics.real_radii(ctx.real_features)
    return ManifoldMetrics(ctx.real_features, ctx.fake_features, real_radii=ctx.cache["real_radii"]).values


def _diversity(ctx: Context) -> ValuesOf:
    # float32: a mean over a million pairs needs no more, and cifar10's 3,072 pixels cost half.
    if "real_spread" not in ctx.cache:
        real = ctx.real.flatten(1).float()
        ctx.cache["real_spread"] = mean_pairwise_distance(torch.cdist(real, real))
    spread = ctx.cache["real_spread"]
    fake = ctx.fake.flatten(1).float()
    d = torch.cdist(fake, fake).double()  # once, not once per resample in mean_pairwise_distance

    def values(counts: torch.Tensor | None) -> dict[str, float]:
        return {"diversity": mean_pairwise_distance(d, counts) / max(spread, 1e-12)}

    return values


METRICS: tuple[Metric, ...] = (
    Metric(
        "modes",
        ("modes_covered", "high_quality"),
        "2D toys: modes with a generated point within 3 std, and the share of such points.",
        _has_modes,
        _modes,
    ),
    Metric(
        "classes",
        ("classes_covered", "class_kl"),
        "Labelled images: classes the classifier sees in the samples, and KL(histogram || uniform).",
        _labelled,
        _classes,
    ),
    Metric(
        "asked_class",
        ("class_match",),
        "model.conditional: the share of samples the classifier puts in the class they were asked for.",
        _labelled,
        _asked_class,
    ),
    Metric(
        "fd",
        ("fd",),
        "FD (classifier): Fréchet distance between real and generated features.",
        _is_image,
        _fd,
    ),
    Metric(
        "fid_inception",
        ("fid_inception",),
        "metrics.inception: FID in TF-Inception's pool features, against the training set's statistics.",
        _is_image,
        _fid_inception,
    ),
    Metric(
        "manifold",
        ("precision", "recall", "density", "coverage"),
        "Improved precision/recall (k=3) and density/coverage (k=5) in the feature space.",
        _is_image,
        _manifold,
    ),
    Metric(
        "diversity",
        ("diversity",),
        "Mean pairwise distance of the samples over that of real data, in sample space.",
        lambda d: True,
        _diversity,
    ),
)
REGISTRY: dict[str, Metric] = {m.name: m for m in METRICS}


def applicable(dataset: Dataset) -> list[Metric]:
    return [m for m in METRICS if m.applies(dataset)]
