"""`Evaluator`: every metric that applies to a dataset, for a generator and a batch of noise.

Feature spaces of the distance metrics (FD, precision/recall, density/coverage):
- labelled image sets (digits, mnist, fashion-mnist, cifar10): the 128-wide penultimate layer of
  a small CNN classifier trained on the real data (see classifier.py), which also gives the class
  coverage metrics;
- unlabelled image folders: a fixed random projection ("rp16"): images average-pooled to at most
  16x16, flattened, and multiplied by a Gaussian matrix (fixed seed, scaled 1/sqrt(inputs)) to 64
  dimensions. It needs no download and no training, preserves pixel distances on average
  (Johnson-Lindenstrauss), and keeps the covariances small enough to estimate from 1,000 samples;
- 2D toys: none; their metrics use the known modes.

The reference set is a fixed random subset of the real data as large as the generated set (at
most the whole dataset), the same for every evaluation of a run. Every value comes with a bootstrap
standard deviation, `<key>_std` (BOOTSTRAP resamples of the generated set, with replacement), and
`n`, the number of generated samples.

Nothing here draws from torch's or numpy's global random generators: a run's checkpoint records
those, and exact resume must not depend on whether metrics ran.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ganstudio.core.config import Config
from ganstudio.core.data import Dataset
from ganstudio.core.metrics import classifier as clf
from ganstudio.core.metrics.registry import Context, Metric, applicable
from ganstudio.core.models import conditional

BOOTSTRAP = 20
EVAL_SEED = 20240601
PROJECTION_SIDE = 16
PROJECTION_DIM = 64


class Evaluator:
    """Computes all applicable metrics. Cheap to build; the classifier (if any) is loaded or trained
    on first use (`prepare()`, or the first `evaluate`), so build it where waiting is fine."""

    def __init__(
        self,
        cfg: Config,
        dataset: Dataset,
        device: torch.device | str = "cpu",
        *,
        cache_dir: str | Path | None = None,
        bootstrap: int = BOOTSTRAP,
    ):
        self.cfg = cfg
        self.data = dataset
        self.device = torch.device(device)
        self.cache_dir = cache_dir
        self.bootstrap = bootstrap
        # The asked class's share needs a conditional run's labels.
        self.metrics: list[Metric] = [
            m for m in applicable(dataset) if m.name != "asked_class" or cfg.model.conditional
        ]
        if not cfg.metrics.inception:  # slow, and needs the fid extra: only when asked for
            self.metrics = [m for m in self.metrics if m.name != "fid_inception"]
        self._inception_reference = None
        self.classifier: clf.Classifier | None = None
        self.classifier_info: dict | None = None
        self._projection: torch.Tensor | None = None
        self._reference: dict[int, tuple[torch.Tensor, torch.Tensor | None, dict]] = {}

    @property
    def keys(self) -> list[str]:
        """The value keys `evaluate` returns, besides their `_std` and `n`."""
        return [k for m in self.metrics for k in m.keys]

    @property
    def feature_space(self) -> str:
        if self.data.is_2d:
            return "points"
        return "classifier" if self._labelled else f"rp{PROJECTION_SIDE}"

    @property
    def _labelled(self) -> bool:
        return self.data.labels is not None and bool(self.data.num_classes)

    def prepare(self, should_stop: Callable[[], bool] | None = None) -> None:
        """Load or train the classifier now (labelled image sets; a no-op otherwise)."""
        if self.data.is_2d or not self._labelled or self.classifier is not None:
            return
        model, info = clf.load_or_train(
            self.cfg.data.dataset,
            self.data.x,
            self.data.labels,
            self.data.num_classes,
            cache_dir=self.cache_dir,
            should_stop=should_stop,
        )
        self.classifier, self.classifier_info = model.to(self.device), info

    @torch.no_grad()
    def evaluate(
        self, generator: nn.Module, noise: torch.Tensor, should_stop: Callable[[], bool] | None = None
    ) -> dict[str, float]:
        """Metrics of `generator`'s output for `noise` (generator in eval mode, as for samples); a
        conditional generator is asked for every class in turn (`conditional.balanced`)."""
        asked = (
            conditional.balanced(len(noise), self.data.num_classes) if self.cfg.model.conditional else None
        )
        was_training = generator.training
        generator.eval()
        try:
            y = asked.to(self.device) if asked is not None else None
            fake = conditional.generate(generator, noise.to(self.device), y).float().cpu()
        finally:
            generator.train(was_training)
        return self.evaluate_samples(fake, should_stop=should_stop, asked=asked)

    @torch.no_grad()
    def evaluate_samples(
        self,
        fake: torch.Tensor,
        should_stop: Callable[[], bool] | None = None,
        asked: torch.Tensor | None = None,
    ) -> dict[str, float]:
        """Metrics of generated samples given directly: (n, 2) points or (n, C, H, W) images;
        `asked`: the (n,) classes a conditional generator was asked for (class_match)."""
        fake = fake.detach().float().cpu()
        n = fake.shape[0]
        if n < 10:
            raise ValueError(f"metrics need at least 10 generated samples, got {n}")
        bad = int((~torch.isfinite(fake.flatten(1)).all(dim=1)).sum())
        if bad:
            raise ValueError(f"{bad} of {n} generated samples hold NaN or infinite values")
        self.prepare(should_stop)
        real, real_features, cache = self._reference_for(n)
        ctx = Context(
            dataset=self.data, fake=fake, real=real, real_features=real_features, cache=cache, asked=asked
        )
        if not self.data.is_2d:
            ctx.fake_features, ctx.fake_logits = self.features(fake)
        if any(m.name == "fid_inception" for m in self.metrics):
            ctx.inception_reference, ctx.fake_inception = self._inception(fake, should_stop)
        prepared = [m.prepare(ctx) for m in self.metrics]

        def all_values(counts: torch.Tensor | None) -> dict[str, float]:
            out: dict[str, float] = {}
            for values in prepared:
                out.update(values(counts))
            return out

        result = all_values(None)
        gen = torch.Generator().manual_seed(EVAL_SEED)
        draws: dict[str, list[float]] = {k: [] for k in result}
        for _ in range(self.bootstrap):
            if should_stop is not None and should_stop():
                raise clf.Cancelled
            counts = torch.bincount(torch.randint(n, (n,), generator=gen), minlength=n).double()
            for k, v in all_values(counts).items():
                draws[k].append(v)
        for k in list(result):
            result[f"{k}_std"] = float(np.std(draws[k], ddof=1)) if len(draws[k]) > 1 else float("nan")
        result["n"] = float(n)
        return result

    # ----- feature spaces -----------------------------------------------------------------------

    def features(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(features, logits or None) of images x."""
        if self.classifier is not None:
            feats, logits = clf.predict(self.classifier, x.to(self.device))
            return feats.cpu(), logits.cpu()
        return self._project(x), None

    def _project(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] > PROJECTION_SIDE or x.shape[-2] > PROJECTION_SIDE:
            x = F.adaptive_avg_pool2d(x, PROJECTION_SIDE)
        flat = x.flatten(1)
        if self._projection is None:
            gen = torch.Generator().manual_seed(EVAL_SEED + 1)
            d = flat.shape[1]
            self._projection = torch.randn(d, PROJECTION_DIM, generator=gen) / d**0.5
        return flat @ self._projection

    def _inception(self, fake: torch.Tensor, should_stop: Callable[[], bool] | None):
        """(the training set's Inception Gaussian, the fakes' Inception features): on CUDA when
        there is one, the statistics computed once per dataset and size and cached on disk."""
        from ganstudio.core.metrics import inception  # TorchScript loads only when asked for

        weights = self.cfg.metrics.inception_weights or None
        device = "cuda" if torch.cuda.is_available() else "cpu"
        if self._inception_reference is None:
            x = self.data.x
            if len(x) > inception.REFERENCE_MAX:  # a fixed subset, the same for every evaluation
                gen = torch.Generator().manual_seed(EVAL_SEED + 3)
                x = x[torch.randperm(len(x), generator=gen)[: inception.REFERENCE_MAX]]
            self._inception_reference, _ = inception.reference(
                self.cfg.data.dataset,
                x.float(),
                weights=weights,
                device=device,
                cache_dir=self.cache_dir,
                should_stop=should_stop,
            )
        model = inception.load_model(weights, device)
        feats = inception.features(model, fake.split(inception.BATCH), device=device, should_stop=should_stop)
        return self._inception_reference, feats

    def _reference_for(self, n: int) -> tuple[torch.Tensor, torch.Tensor | None, dict]:
        """The real reference set for n generated samples, its features, and its metric cache."""
        if n not in self._reference:
            total = len(self.data)
            gen = torch.Generator().manual_seed(EVAL_SEED + 2)
            idx = torch.randperm(total, generator=gen)[: min(n, total)]
            real = self.data.x[idx].float()
            feats = None if self.data.is_2d else self.features(real)[0]
            self._reference = {n: (real, feats, {})}  # only the latest size is worth keeping
        return self._reference[n]
