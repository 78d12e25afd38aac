"""F. The step against the hardware: the default digits step as a share of its GEMM floor.

F1, the floor: every matrix product one default digits training step runs (G forward, D on real and
fake, D backward, G through D and G), recorded during one real `Trainer.train_step` with a
TorchDispatchMode that sees each aten mm/addmm as it runs, forward and backward (so the shapes are
the built models', never written by hand), then timed as bare `torch.mm(a, b, out=c)` calls on
preallocated tensors, one after the other, on this process's thread count. A step that cost only its
GEMMs would run at the floor's steps/s.

F2: headless default digits (Trainer.run consumed on the main thread as the CLI does, 1 thread,
metrics.every = 0: the background metrics are not the step) as a % of the floor, in rounds
alternating with the floor's in the same process, so a shared machine's load hits both; the share
is of steps per CPU-second of this thread (the wall clock's share is shown too: on a loaded machine
it also counts the time other processes hold the core).

F3: train.compile = "default" against "off" (eager), the same way, and how long the compiled run's
start took (its compile: warm when inductor's on-disk cache already holds these graphs).
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from statistics import median

from bench_peer import StudioLoop
from common import Options, Row, config, log, spread

GOAL = 0.60  # the headless step at >= 60% of its GEMM floor


def gemm_shapes(trainer) -> list[tuple[int, int, int]]:
    """(m, k, n) of every matrix product one `trainer.train_step()` runs, in order (it trains one
    step of the trainer it is given)."""
    import torch
    from torch.utils._python_dispatch import TorchDispatchMode

    aten = torch.ops.aten
    products = {aten.mm.default: (0, 1), aten.addmm.default: (1, 2)}  # where a and b are
    shapes: list[tuple[int, int, int]] = []

    class Record(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            if func in products:
                i, j = products[func]
                a, b = args[i], args[j]
                shapes.append((a.shape[0], a.shape[1], b.shape[1]))
            return func(*args, **(kwargs or {}))

    with Record():
        trainer.train_step()
    return shapes


class Floor:
    """The step's GEMMs as bare torch.mm calls on preallocated tensors."""

    def __init__(self, shapes: list[tuple[int, int, int]]):
        import torch

        gen = torch.Generator().manual_seed(0)
        self.ops = [
            (torch.randn(m, k, generator=gen), torch.randn(k, n, generator=gen), torch.empty(m, n))
            for m, k, n in shapes
        ]
        self.mflop = sum(2 * m * k * n for m, k, n in shapes) / 1e6
        self.steps = 0

    def round(self, seconds: float) -> float:
        """Repeat the step's GEMMs for about `seconds`; 'steps' per second."""
        import torch

        mm, ops, n = torch.mm, self.ops, 0
        t0 = time.perf_counter()
        while time.perf_counter() - t0 < seconds:
            for _ in range(20):
                for a, b, out in ops:
                    mm(a, b, out=out)
            n += 20
        self.steps += n
        return n / (time.perf_counter() - t0)


def _digits(threads: int, **values):
    return config(
        "digits",
        **{
            "train.device": "cpu",
            "train.steps": 100_000_000,
            "train.threads": threads,
            "metrics.every": 0,
            **values,
        },
    )


def _steps(loop) -> int:
    return loop.steps if isinstance(loop, Floor) else loop.trainer.step


def _rounds(loops: list, rounds: int, seconds: float) -> tuple[list[list[float]], list[list[float]]]:
    """Alternate rounds of each loop (after a short warm-up of each): steps per second of every
    round, by the wall clock and by this thread's CPU time (the trainer and the GEMMs run on this
    thread; CPU time leaves out the time other processes of a loaded machine hold the core)."""
    for loop in loops:
        loop.round(min(seconds, 0.5))
    wall: list[list[float]] = [[] for _ in loops]
    cpu: list[list[float]] = [[] for _ in loops]
    for i in range(rounds):
        order = loops if i % 2 == 0 else loops[::-1]  # A B, B A, ...: neither always goes first
        for loop in order:
            k = loops.index(loop)
            s0, c0 = _steps(loop), time.thread_time()
            wall[k].append(loop.round(seconds))
            cpu[k].append((_steps(loop) - s0) / max(time.thread_time() - c0, 1e-9))
        log(
            f"round {i + 1}/{rounds}: steps/s "
            + ", ".join(f"{w[-1]:.0f} (CPU {c[-1]:.0f})" for w, c in zip(wall, cpu, strict=True))
            + f"; load {_load()}"
        )
    return wall, cpu


def _load() -> str:
    return f"{os.getloadavg()[0]:.1f}"


def run(opts: Options) -> list[Row]:
    import torch

    from ganstudio.core.train.trainer import Trainer

    t = torch.get_num_threads()
    rounds, seconds = (2, 0.5) if opts.quick else (6, 2.0)
    probe = Trainer(_digits(t))
    probe.train_step()  # first-call allocations out of the way
    shapes = gemm_shapes(probe)
    floor = Floor(shapes)
    log(f"step: {len(shapes)} GEMMs, {floor.mflop:.1f} MFLOP per default digits step; {t} thread(s)")
    load0 = _load()
    eager = StudioLoop(_digits(t))
    (floor_wall, step_wall), (floor_cpu, step_cpu) = _rounds([floor, eager], rounds, seconds)
    shares = [s / f for s, f in zip(step_cpu, floor_cpu, strict=True)]
    wall_shares = [s / f for s, f in zip(step_wall, floor_wall, strict=True)]
    fl, st = median(floor_cpu), median(step_cpu)
    rows = [
        Row(
            "F1",
            f"GEMM floor: the {len(shapes)} matrix products of one default digits step as bare "
            f"torch.mm, {t} thread{'s' if t > 1 else ''}",
            f"{fl:.0f} steps per CPU-s ({1000 / fl:.2f} ms, {floor.mflop:.0f} MFLOP, "
            f"{floor.mflop * fl / 1000:.0f} GFLOP/s)",
            "CPU "
            + spread(floor_cpu, "{:.0f}")
            + "; wall "
            + spread(floor_wall, "{:.0f}")
            + f"; load {load0}",
        ),
        Row(
            "F2",
            "Step: headless default digits (1 thread) / its GEMM floor",
            f"{100 * median(shares):.0f}% ({st:.0f} vs {fl:.0f} steps per CPU-s; by the wall clock "
            f"{100 * median(wall_shares):.0f}%, {median(step_wall):.0f} steps/s)",
            "share " + spread([100 * s for s in shares], "{:.0f}", "%") + f"; load {_load()} at end",
            f">= {100 * GOAL:.0f}%",
            Row.judged(median(shares) >= GOAL),
        ),
    ]
    rows.append(_compiled_row(opts, t, eager))
    return rows


def _compiled_row(opts: Options, t: int, eager) -> Row:
    """F3: train.compile = default against off, alternating rounds; the compiled run's start time."""
    from ganstudio.core.metrics.classifier import default_cache_dir

    rounds, seconds = (2, 0.5) if opts.quick else (4, 2.0)
    cache = Path(os.environ.get("TORCHINDUCTOR_CACHE_DIR") or default_cache_dir() / "inductor")
    warm = cache.is_dir() and any(cache.iterdir())
    t0 = time.perf_counter()
    comp = StudioLoop(_digits(t, **{"train.compile": "default"}))
    comp.round(0.1)  # the run's start compiles (loop.start), then trains until the round is up
    start_s = time.perf_counter() - t0
    name = f"train.compile = default / off (eager), default digits, {t} thread{'s' if t > 1 else ''}"
    if comp.trainer.step_models.mode != "default":
        return Row("F3", name, "not compiled here: the run trained eager (see its compile alert)", met="n/a")
    (comp_wall, eager_wall), (comp_cpu, eager_cpu) = _rounds([comp, eager], rounds, seconds)
    ratios = [c / e for c, e in zip(comp_cpu, eager_cpu, strict=True)]
    return Row(
        "F3",
        name,
        f"{median(ratios):.2f}x ({median(comp_cpu):.0f} vs {median(eager_cpu):.0f} steps per CPU-s; wall "
        f"{median(comp_wall):.0f} vs {median(eager_wall):.0f}); its start {start_s:.1f} s "
        f"({'warm' if warm else 'cold'} inductor cache)",
        "ratio " + spread(ratios, unit="x") + f"; load {_load()}",
    )
