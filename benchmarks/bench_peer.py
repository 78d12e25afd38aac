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
        self.loader = DataLoader(dataset, batch_size=cfg.train.batch_size, shuffle=True,
                                 num_workers=workers, persistent_workers=workers > 0)
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
        from ganstudio.core.control import Control
        from ganstudio.core.trainer import Trainer

        self.trainer = Trainer(cfg, device=device)
        self.control = Control(paused=True)
        self.events = self.trainer.run(self.control)

    def round(self, seconds: float) -> float:
        import threading

        from ganstudio.core.events import Failed, Finished, Paused

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


def interleave(a, b, rounds: int, seconds: float, threads: int | None = None):
    """Alternate rounds of a and b; steps/s of each round."""
    return interleave_many([(a, b, threads)], rounds, seconds)[0]


def interleave_many(pairs, rounds: int, seconds: float) -> list[tuple[list[float], list[float]]]:
    """pairs: [(a, b, torch threads or None)]; every round runs a then b of each pair in turn."""
    import torch

    def go(loop, threads, s):
        if threads:
            torch.set_num_threads(threads)
        return loop.round(s)

    for a, b, t in pairs:  # warm-up: first-call allocations, DataLoader start
        go(a, t, min(seconds, 0.5))
        go(b, t, min(seconds, 0.5))
    out = [([], []) for _ in pairs]
    for i in range(rounds):
        for (a, b, t), (ra, rb) in zip(pairs, out, strict=True):
            ra.append(go(a, t, seconds))
            rb.append(go(b, t, seconds))
            log(f"round {i + 1}/{rounds}" + (f", {t} thread(s)" if t else "")
                + f": GAN Studio {ra[-1]:.1f} steps/s, tutorial {rb[-1]:.1f} steps/s")
    return out


def run(opts: Options) -> list[Row]:
    import torch

    from ganstudio.core.trainer import Trainer

    default_threads = torch.get_num_threads()
    n = 10_000 if opts.quick else 60_000
    rounds, seconds = (2, 0.5) if opts.quick else (4, 2.0)
    root = fake_mnist(opts.tmp, n)
    base = {"data.dataset": "mnist", "data.root": root, "train.device": "cpu", "train.steps": 100_000_000}
    if opts.threads_forced or opts.quick:
        chosen = opts.threads
    else:  # what GAN Studio itself runs this config with (train.threads = 0: measured at start)
        chosen = Trainer(config("digits", **base)).choose_threads()
    counts = [chosen] if opts.quick else sorted({1, chosen, default_threads})
    log(f"peer: MNIST-sized fake set ({n} images), classic MLP, batch 64, threads {counts} "
        f"(GAN Studio picks {chosen}), {rounds} rounds x {seconds}s per loop")
    pairs = []
    for t in counts:
        cfg = config("digits", **base, **{"train.threads": t})
        torch.set_num_threads(t)
        pairs.append((StudioLoop(cfg), TutorialLoop(root, cfg), t))
    results = interleave_many(pairs, rounds, seconds)
    rows = []
    for (_, _, t), (ours, theirs) in zip(pairs, results, strict=True):
        ratios = [a / b for a, b in zip(ours, theirs, strict=True)]
        med = median(ratios)
        goal = t == chosen
        rows.append(Row(
            "1" if goal else "1'",
            f"Peer (CPU, {t} thread{'s' if t > 1 else ''}{', as GAN Studio picks' if goal else ''}): "
            "GAN Studio / tutorial loop",
            f"{med:.2f}x ({median(ours):.0f} vs {median(theirs):.0f} steps/s)",
            "ratio " + spread(ratios, unit="x"),
            ">= 2.5x on CPU" if goal else "", Row.judged(med >= 2.5) if goal else "",
        ))
    rows.sort(key=lambda r: r.id)
    return rows
