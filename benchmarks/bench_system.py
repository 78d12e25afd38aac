"""S. System lines (log.system_every): what they cost training.

S1: headless training steps/s of the default digits run, writing its run folder as the CLI does,
with log.system_every = 10 (the default) against 0 (off), in alternating rounds (off, on, on, off,
...) on one torch thread; the ratio per round. Each run is long enough (~15 s) for its interval to
fire. S2: one reading of this process (SystemSampler.read: CPU times and RSS through psutil), the
whole of what a line costs one process besides writing it.
"""

from __future__ import annotations

import tempfile
import time
from statistics import median

from common import Options, Row, config, log, spread

GOAL_RATIO = 0.99  # system lines at the default interval cost at most 1% of the steps/s


def steps_per_s(every: float, steps: int, threads: int) -> float:
    import torch

    from ganstudio.core.run.folder import RunFolder
    from ganstudio.core.run.log import RunWriter
    from ganstudio.core.train.trainer import Trainer

    values = {
        "train.device": "cpu",
        "train.threads": threads,
        "train.steps": steps,
        "metrics.every": 0,
        "log.sample_every": 0,
        "log.checkpoint_every": 0,
        "log.system_every": every,
    }
    cfg = config("digits", **values)
    torch.set_num_threads(threads)
    trainer = Trainer(cfg)
    with tempfile.TemporaryDirectory(prefix="bench-system-") as tmp:
        with RunWriter(RunFolder(tmp), cfg) as writer:
            t0 = time.perf_counter()
            lines = 0
            for ev in trainer.run():
                writer.handle(ev)
                lines += type(ev).__name__ == "System"
            elapsed = time.perf_counter() - t0
    if every:
        log(f"system_every={every}: {lines} system line(s)")
    return steps / elapsed


def cost_of_lines(opts: Options) -> Row:
    steps = 400 if opts.quick else 6000
    rounds = 1 if opts.quick else 3
    threads = max(1, opts.threads)
    rates: dict[float, list[float]] = {0: [], 10: []}
    for r in range(rounds):
        for every in (0, 10) if r % 2 == 0 else (10, 0):
            rates[every].append(steps_per_s(every, steps, threads))
            log(f"round {r}: log.system_every={every}: {rates[every][-1]:.0f} steps/s")
    ratios = [on / off for on, off in zip(rates[10], rates[0], strict=True)]
    ratio = median(ratios)
    return Row(
        "S1",
        "System lines: training steps/s with log.system_every=10 / 0 (default digits, run folder written)",
        f"{ratio:.3f}x ({median(rates[10]):.0f} vs {median(rates[0]):.0f} steps/s)",
        "ratio " + spread(ratios, fmt="{:.3f}", unit="x"),
        f">= {GOAL_RATIO}x",
        Row.judged(ratio >= GOAL_RATIO),
    )


def cost_of_a_reading(opts: Options) -> Row:
    from ganstudio.core.run.system import SystemSampler

    sampler = SystemSampler("cpu")
    n = 200 if opts.quick else 2000
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        sampler.read()
        times.append((time.perf_counter() - t0) * 1e6)
    return Row(
        "S2",
        "System lines: one reading of the process (CPU times, RSS; psutil)",
        f"{median(times):.0f} µs median",
        spread(times, fmt="{:.0f}", unit=" µs"),
    )


def run(opts: Options) -> list[Row]:
    rows = []
    for fn in (cost_of_a_reading, cost_of_lines):
        log(fn.__name__)
        rows.append(fn(opts))
    return rows
