"""7. Time to quality: CPU seconds of training until the default digits run covers all 10 classes.

The default digits config trains headless on the main thread (pinned thread count) and every 250
steps 1,000 samples from a fixed noise batch are classified by a digits classifier: the project's
own (ganstudio.core.metrics: a small CNN trained on the real digits) when it is there, else a
logistic regression trained here on scikit-learn's digits. A class counts as covered when at least
1% of the samples (10) are classified as it with confidence >= 0.9: the project's `classes_covered`
metric (a class predicted at least once, confident or not) is reached by noise at the first
evaluation, so it is shown beside it but is not the figure. Only training time counts (the
trainer's own wall clock), not the evaluations. Several seeds give the distribution.
"""

from __future__ import annotations

import time
from pathlib import Path
from statistics import median

from common import Options, Row, config, log, spread

EVAL_EVERY = 250
N_SAMPLES = 1000
MIN_SHARE = 0.01  # of the samples, per class
CONFIDENCE = 0.9


class Classes:
    """Predicted class of generated digits, from the project's classifier or a fallback."""

    def __init__(self, cfg, data, cache_dir: str):
        self.source = ""
        try:
            from ganstudio.core.metrics import Evaluator
            from ganstudio.core.metrics.classifier import predict

            evaluator = Evaluator(cfg, data, cache_dir=cache_dir)
            t0 = time.perf_counter()
            evaluator.prepare()
            model = evaluator.classifier
            self._proba = lambda x: predict(model, x)[1].softmax(1).numpy()
            acc = (evaluator.classifier_info or {}).get("accuracy")
            self.source = (
                f"ganstudio.core.metrics classifier (held-out accuracy {acc:.3f}, "
                if isinstance(acc, float)
                else "ganstudio.core.metrics classifier ("
            ) + f"ready in {time.perf_counter() - t0:.1f} s)"
        except (ImportError, AttributeError, TypeError) as e:
            from sklearn.linear_model import LogisticRegression

            x = data.x.flatten(1).numpy()
            y = data.labels.numpy()
            clf = LogisticRegression(max_iter=2000).fit(x[::2], y[::2])
            acc = clf.score(x[1::2], y[1::2])
            self._proba = lambda imgs: clf.predict_proba(imgs.flatten(1).numpy())
            self.source = (
                f"fallback logistic regression (held-out accuracy {acc:.3f}; "
                f"ganstudio.core.metrics unusable: {type(e).__name__})"
            )

    def counts(self, images) -> tuple[list[int], list[int]]:
        """(predictions per class, confident predictions per class)."""
        import numpy as np

        p = self._proba(images)
        label = p.argmax(1)
        sure = label[p.max(1) >= CONFIDENCE]
        return np.bincount(label, minlength=10).tolist(), np.bincount(sure, minlength=10).tolist()


def one_run(seed: int, opts: Options, max_steps: int, classes: Classes | None, cache: str):
    import torch

    from ganstudio.core.train.trainer import Trainer

    cfg = config(
        "digits",
        **{
            "train.seed": seed,
            "train.device": "cpu",
            "train.threads": opts.threads,
            "train.steps": max_steps,
        },
    )
    trainer = Trainer(cfg)
    torch.set_num_threads(opts.threads)
    if classes is None:
        classes = Classes(cfg, trainer.data, cache)
        log(f"quality: classes from {classes.source}")
    noise = torch.randn(N_SAMPLES, cfg.model.latent_dim, generator=torch.Generator().manual_seed(99))
    loose = strict = None
    while trainer.step < max_steps and strict is None:
        for _ in range(EVAL_EVERY):
            t0 = time.perf_counter()
            trainer.train_step()
            trainer.wall += time.perf_counter() - t0
        counts, confident = classes.counts(trainer.generate(noise))
        if loose is None and min(counts) > 0:
            loose = (trainer.wall, trainer.step)
        if strict is None and min(confident) >= MIN_SHARE * N_SAMPLES:
            strict = (trainer.wall, trainer.step)
    log(
        f"quality seed {seed}: 10/10 classes covered (confident, >= 1% each) at "
        + (f"{strict[0]:.1f} s (step {strict[1]})" if strict else "never")
        + "; classes_covered = 10 at "
        + (f"{loose[0]:.1f} s (step {loose[1]})" if loose else "never")
        + f"; last confident counts {confident}"
    )
    return loose, strict, classes


def run(opts: Options) -> list[Row]:
    seeds = (0,) if opts.quick else (0, 1, 2)
    max_steps = 1000 if opts.quick else 5000
    cache = str(Path(opts.tmp) / "classifier-cache")
    classes = None
    loose, strict = [], []
    for seed in seeds:
        a, b, classes = one_run(seed, opts, max_steps, classes, cache)
        loose.append(a)
        strict.append(b)

    def describe(results) -> tuple[str, str, bool]:
        done = [r for r in results if r is not None]
        if not done:
            return f"not reached in {max_steps} steps", "", False
        secs = [r[0] for r in done]
        steps = [r[1] for r in done]
        text = f"{median(secs):.1f} s (step {int(median(steps))})"
        missing = len(results) - len(done)
        extra = f"; {missing} seed(s) never" if missing else ""
        return (
            text,
            spread(secs, fmt="{:.1f}", unit=" s") + f" over seeds, steps {min(steps)}-{max(steps)}" + extra,
            missing == 0,
        )

    sa, ss, _ = describe(strict)
    la, _, _ = describe(loose)
    return [
        Row(
            "7",
            "Time to quality: CPU training s until digits covers 10/10 classes",
            sa,
            f"{ss}; covered = >= 1% of 1000 samples at confidence >= {CONFIDENCE} (classes_covered "
            f"metric: {la}); {classes.source}",
        ),
    ]
