"""How many CPU threads torch should use for a run: measured, not assumed.

Two things measured on 2 cores decide the rules. OpenMP in a worker thread can run a small model
2x slower with 2 threads than with 1, while the same model on the main thread prefers 2: so
measure, don't assume. And OpenMP threads wait at a barrier for every core they use: when another
busy thread (the GUI's, the metrics') takes one of those cores, a step can take 10-50x longer
(1-3 steps/s against 60-70). So the count is capped at the cores nobody else needs (the caller's
`reserve` for itself, one for background metrics), the larger count is timed first (timing 1 thread
first and then switching made it collapse), the two are timed in alternating rounds, and more
threads must win by MORE_THREADS_MARGIN.

torch is imported where it is used: `usable_cores` serves the log reader too, which (with the helper
process it starts) never loads torch.
"""

from __future__ import annotations

import copy
import os
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ganstudio.core.train.trainer import Trainer

MORE_THREADS_MARGIN = 1.3  # more than 1 CPU thread only when this much faster


def usable_cores() -> int:
    """The CPU cores this process may run on (its affinity mask, where the OS has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def choose_threads(trainer: Trainer, budget_s: float = 0.6) -> int:
    """Set torch's CPU thread count for `trainer` (train.threads, or timed when it is 0) and return
    it. The timing runs steps on copies of the models: the run itself is untouched."""
    import torch

    cfg = trainer.cfg
    if cfg.train.threads > 0:
        torch.set_num_threads(cfg.train.threads)
        return cfg.train.threads
    default = torch.get_num_threads()
    if trainer.device.type != "cpu":
        return default
    if trainer.world_size > 1:
        # A job's processes on this machine share its cores: no timing, which each would do alone.
        local = int(os.environ.get("LOCAL_WORLD_SIZE", "1") or 1)
        n = max(1, usable_cores() // max(local, 1))
        torch.set_num_threads(n)
        return n
    busy = trainer.reserve_cores + (1 if cfg.metrics.every else 0)
    cap = max(1, min(default, usable_cores() - busy))
    if cap == 1:
        torch.set_num_threads(1)
        return 1
    probe = probe_of(trainer)
    steps = {cap: 0, 1: 0}
    seconds = {cap: 0.0, 1: 0.0}
    for n in (cap, 1, cap, 1):
        torch.set_num_threads(n)
        probe.train_step()  # warm-up after the switch
        t0, k = time.perf_counter(), 0
        while time.perf_counter() - t0 < budget_s / 4 and k < 100:
            probe.train_step()
            k += 1
        steps[n] += k
        seconds[n] += time.perf_counter() - t0
    rate = {n: steps[n] / max(seconds[n], 1e-9) for n in steps}
    best = cap if rate[cap] >= MORE_THREADS_MARGIN * rate[1] else 1
    torch.set_num_threads(best)
    return best


def probe_of(trainer: Trainer) -> Trainer:
    """A shallow copy of `trainer` with its own models, optimizers, noise, augmentation and sampler,
    eager, to time or compile steps on: what it trains is thrown away."""
    import torch

    from ganstudio.core.train.compiled import StepModels

    probe = copy.copy(trainer)
    probe.G, probe.D = copy.deepcopy(trainer.G), copy.deepcopy(trainer.D)
    probe.G_ema = None
    probe.opt_g = torch.optim.Adam(probe.G.parameters(), lr=0.0)
    probe.opt_d = torch.optim.Adam(probe.D.parameters(), lr=0.0)
    probe.noise_gen = torch.Generator(trainer.device).manual_seed(0)
    probe.holdout_gen = torch.Generator(trainer.device).manual_seed(0)
    probe.augment = copy.copy(trainer.augment)  # draws from the probe's noise
    probe.augment.t = probe
    probe.step_models = StepModels()  # eager: never the run's compiled wrappers
    probe.sampler = copy.deepcopy(trainer.sampler)
    probe._acc = torch.zeros_like(trainer._acc)
    return probe
