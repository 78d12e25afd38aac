"""1. Peer: headless GAN Studio against the training loop a tutorial would write.

Same models (built by ganstudio.core.models.build, same init), same batch, same loss (BCE with
logits, non-saturating), same Adam, same torch thread count, both on the main thread. The tutorial
reads MNIST through torchvision's Dataset + per-sample ToTensor/Normalize in a DataLoader and calls
`.item()` on both losses every step; GAN Studio keeps the preprocessed set in one tensor, draws
batches by index and fetches stats once per log interval. The two run in alternating rounds
(A B A B ...), so load changes on a shared machine hit both; each round's ratio is reported.
"""

from __future__ import annotations

import time
from statistics import median

from common import Options, Row, config, fake_mnist, log, spread


class TutorialLoop:
    """The loop from a tutorial: torchvision dataset, transforms, DataLoader, .item() every step."""

    def __init__(self, root: str, cfg, *, device: str = "cpu", image_size: int = 0, workers: int = 0):
        import torch
        from torch.utils.data import DataLoader
        from torchvision import datasets, transforms

        from ganstudio.core import models

        steps = [transforms.ToTensor(), transforms.Normalize((0.5,), (0.5,))]
        if image_size:
            steps.insert(0, transforms.Resize(image_size))
        dataset = datasets.MNIST(root, train=True, download=False, transform=transforms.Compose(steps))
        self.loader = DataLoader(
            dataset,
            batch_size=cfg.train.batch_size,
            shuffle=True,
            num_workers=workers,
            persistent_workers=workers > 0,
        )
        self.batches = iter(self.loader)
        self.device = torch.device(device)
        side = image_size or 28
        self.G, self.D = models.build(cfg, (1, side, side))
        self.G.to(self.device)
        self.D.to(self.device)
        o = cfg.optim
        self.opt_g = torch.optim.Adam(self.G.parameters(), lr=o.lr_g, betas=(o.beta1, o.beta2))
        self.opt_d = torch.optim.Adam(self.D.parameters(), lr=o.lr_d, betas=(o.beta1, o.beta2))
        self.criterion = torch.nn.BCEWithLogitsLoss()
        self.latent = cfg.model.latent_dim
        self.losses: list[tuple[float, float]] = []
        self.steps = 0

    def step(self) -> None:
        import torch

        try:
            real, _ = next(self.batches)
        except StopIteration:
            self.batches = iter(self.loader)
            real, _ = next(self.batches)
        real = real.to(self.device)
        b = real.size(0)
        ones = torch.ones(b, device=self.device)
        zeros = torch.zeros(b, device=self.device)
        fake = self.G(torch.randn(b, self.latent, device=self.device))

        self.opt_d.zero_grad()
        loss_d = self.criterion(self.D(real), ones) + self.criterion(self.D(fake.detach()), zeros)
        loss_d.backward()
        self.opt_d.step()

        self.opt_g.zero_grad()
        loss_g = self.criterion(self.D(fake), ones)
        loss_g.backward()
        self.opt_g.step()
        self.losses.append((loss_d.item(), loss_g.item()))
        self.steps += 1

    def round(self, seconds: float) -> float:
        """Train for about `seconds`; steps per second."""
        start, t0 = self.steps, time.perf_counter()
        while time.perf_counter() - t0 < seconds:
            self.step()
        return (self.steps - start) / (time.perf_counter() - t0)


class StudioLoop:
    """Headless GAN Studio: `Trainer.run()` consumed in a plain loop on the calling thread, as the
    CLI does. A timer thread pauses it through its Control when the round is up, so a round ends
    at the next step boundary (events only come once per log interval)."""

    def __init__(self, cfg, device: str | None = None):
        from ganstudio.core.run.control import Control
        from ganstudio.core.train.trainer import Trainer

        self.trainer = Trainer(cfg, device=device)
        self.control = Control(paused=True)
        self.events = self.trainer.run(self.control)

    def round(self, seconds: float) -> float:
        import threading

        from ganstudio.core.run.events import Failed, Finished, Paused

        timer = threading.Timer(seconds, self.control.pause)
        start, t0 = self.trainer.step, time.perf_counter()
        self.control.resume()
        timer.start()
        for ev in self.events:
            if isinstance(ev, (Failed, Finished)):
                timer.cancel()
                raise RuntimeError(f"training ended early: {ev}")
            if isinstance(ev, Paused) and self.control.paused:
                break
        return (self.trainer.step - start) / (time.perf_counter() - t0)


def interleave(a, b, rounds: int, seconds: float) -> tuple[list[float], list[float]]:
    """Alternate rounds of a and b (after a short warm-up of each); steps/s of every round."""
    a.round(min(seconds, 0.5))  # warm-up: first-call allocations, DataLoader start
    b.round(min(seconds, 0.5))
    ra, rb = [], []
    for i in range(rounds):
        ra.append(a.round(seconds))
        rb.append(b.round(seconds))
        log(f"round {i + 1}/{rounds}: GAN Studio {ra[-1]:.1f} steps/s, tutorial {rb[-1]:.1f} steps/s")
    return ra, rb


def run(opts: Options) -> list[Row]:
    """One thread count per process (opts.threads, set before any torch work): switching torch's
    OpenMP pool from 1 to 2 threads inside a process can make every later step take a second."""
    import torch

    n = 10_000 if opts.quick else 60_000
    rounds, seconds = (2, 0.5) if opts.quick else (4, 2.0)
    root = fake_mnist(opts.tmp, n)
    t = torch.get_num_threads()
    # metrics.every = 0: the tutorial computes no quality metrics, so GAN Studio's background
    # metrics thread (on by default) would be work only one side does.
    cfg = config(
        "digits",
        **{
            "data.dataset": "mnist",
            "data.root": root,
            "train.device": "cpu",
            "train.steps": 100_000_000,
            "train.threads": t,
            "metrics.every": 0,
        },
    )
    log(
        f"peer: MNIST-sized fake set ({n} images), classic MLP, batch 64, {t} thread(s), "
        f"{rounds} rounds x {seconds}s per loop"
    )
    ours, theirs = interleave(StudioLoop(cfg), TutorialLoop(root, cfg), rounds, seconds)
    ratios = [a / b for a, b in zip(ours, theirs, strict=True)]
    med = median(ratios)
    goal = t == opts.goal_threads
    return [
        Row(
            "1" if goal else "1'",
            f"Peer (CPU, {t} thread{'s' if t > 1 else ''}): GAN Studio / tutorial loop",
            f"{med:.2f}x ({median(ours):.0f} vs {median(theirs):.0f} steps/s)",
            "ratio " + spread(ratios, unit="x"),
            ">= 2.5x on CPU" if goal else "",
            Row.judged(med >= 2.5) if goal else "",
        )
    ]
