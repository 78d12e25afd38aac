"""GPU: DCGAN 64x64 images/s, GAN Studio vs the tutorial loop, and host syncs in the training step.

Runs only when CUDA is available; otherwise its rows say "no GPU: skipped".

- Peer: MNIST-sized fake set upscaled to 64x64, DCGAN G/D, batch 128 (the DCGAN paper's), both
  loops on the GPU: the tutorial with Resize(64) + ToTensor + Normalize in a DataLoader with 2
  workers (as PyTorch's DCGAN tutorial) and `.item()` every step; GAN Studio with the set on the
  GPU, batches by index. Alternating rounds, images/s and their ratio.
- Syncs: with torch.cuda.set_sync_debug_mode("warn"), the steady-state steps between log
  intervals (not the step that ends one, which fetches the stats, nor an epoch's first step,
  which uploads the new permutation) must raise no synchronisation warning.
"""

from __future__ import annotations

import warnings
from statistics import median

from common import Options, Row, config, fake_mnist, log, spread


def skipped() -> list[Row]:
    return [
        Row("G1", "GPU: DCGAN 64x64 images/s, GAN Studio / tutorial", "no GPU: skipped", met="skipped"),
        Row(
            "G2", "GPU: host syncs in steady-state steps (sync debug mode)", "no GPU: skipped", met="skipped"
        ),
    ]


def run(opts: Options) -> list[Row]:
    import torch

    if not torch.cuda.is_available():
        return skipped()
    from bench_peer import StudioLoop, TutorialLoop, interleave

    n = 10_000 if opts.quick else 60_000
    rounds, seconds = (2, 1.0) if opts.quick else (5, 4.0)
    root = fake_mnist(opts.tmp, n)
    cfg = config(
        "digits",
        **{
            "data.dataset": "mnist",
            "data.root": root,
            "data.image_size": 64,
            "model.arch": "dcgan",
            "train.batch_size": 128,
            "train.device": "cuda",
            "train.steps": 100_000_000,
            "metrics.every": 0,
        },
    )
    log(f"gpu: {torch.cuda.get_device_name(0)}, DCGAN 64x64, batch 128, {rounds} rounds x {seconds}s")
    studio = StudioLoop(cfg)
    tutorial = TutorialLoop(root, cfg, device="cuda", image_size=64, workers=2)

    class Synced:  # a round must end with the GPU's work done, or the rate counts queued steps
        def __init__(self, loop):
            self.loop = loop

        def round(self, s: float) -> float:
            torch.cuda.synchronize()
            return self.loop.round(s)

    ours, theirs = interleave(Synced(studio), Synced(tutorial), rounds, seconds)
    bs = cfg.train.batch_size
    ratios = [a / b for a, b in zip(ours, theirs, strict=True)]
    rows = [
        Row(
            "G1",
            "GPU: DCGAN 64x64 images/s, GAN Studio / tutorial",
            f"{median(ratios):.2f}x ({median(ours) * bs:,.0f} vs {median(theirs) * bs:,.0f} images/s)",
            "ratio " + spread(ratios, unit="x"),
            "",
            "",
        )
    ]

    trainer = studio.trainer
    every = trainer.cfg.log.every
    checked, syncs, where = 0, 0, []
    torch.cuda.set_sync_debug_mode("warn")
    try:
        for _ in range(200):
            ends_interval = (trainer.step + 1) % every == 0
            s = trainer.sampler
            new_epoch = s.perm is None or s.pos + s.batch_size > s.n
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                trainer.train_step()
            if ends_interval:
                trainer.flush_stats()  # as run() does at the end of an interval (a sync by design)
            elif not new_epoch:
                checked += 1
                hits = [w for w in caught if "synchroniz" in str(w.message).lower()]
                if hits:
                    syncs += len(hits)
                    where.append(f"step {trainer.step}: {str(hits[0].message)[:80]}")
    finally:
        torch.cuda.set_sync_debug_mode("default")
    rows.append(
        Row(
            "G2",
            "GPU: host syncs in steady-state steps (sync debug mode)",
            f"{syncs} sync(s) in {checked} steps",
            "; ".join(where[:2]) or "none",
            "0",
            Row.judged(syncs == 0),
        )
    )
    return rows
