"""L. The instant 2D lab (rows L1-L3): training seconds until each toy preset has converged, over 5 seeds.

Converged is core.metrics.converged's rule (issue 20): every mode holds at least 1% of 2,000
samples within 5 std of its centre, and at least half of all samples lie that close to some
centre. Each preset trains headless on the main thread with ONE torch thread (in the app the lab
trains on a worker thread while the GUI and the metrics hold the other core of a 2-core machine),
and every CHECK_EVERY steps 2,000 points of the generator the lab shows (the EMA where the preset
keeps one) on a fixed noise batch are checked. Only training time counts (the trainer's own wall
clock of train_step), not the checks. The goal: each toy preset within 15 s on every seed.

Standalone: `python benchmarks/bench_lab.py [PRESET ...] [--seeds 0,1,2,3,4] [--set key=value ...]`
prints the per-seed times (the tuning loop for the presets).
"""

from __future__ import annotations

import argparse
import time
from statistics import median

from common import Options, Row, config, log

SEEDS = (0, 1, 2, 3, 4)
PRESETS = ("ring8", "grid25", "spiral")
GOAL_S = 15.0
CHECK_EVERY = 25
MAX_TRAIN_S = 30.0  # a seed that has not converged by then is reported as never


def time_to_converged(preset: str, seed: int, overrides: dict | None = None, max_s: float = MAX_TRAIN_S):
    """(training seconds, step) at the first check where the preset's run has converged, or None."""
    import torch

    from ganstudio.core.extent import toy_modes
    from ganstudio.core.metrics.converged import SAMPLES, converged
    from ganstudio.core.train.trainer import Trainer

    values = {"train.seed": seed, "train.device": "cpu", "train.threads": 1, "train.steps": 10**6}
    cfg = config(preset, **values, **(overrides or {}))
    torch.set_num_threads(1)
    trainer = Trainer(cfg)
    modes, std = toy_modes(cfg.data.dataset)
    noise = torch.randn(SAMPLES, cfg.model.latent_dim, generator=torch.Generator().manual_seed(99))
    wall = 0.0
    while wall < max_s:
        t0 = time.perf_counter()
        for _ in range(CHECK_EVERY):
            trainer.train_step()
        wall += time.perf_counter() - t0
        if converged(trainer.generate(noise).numpy(), modes, std):
            return wall, trainer.step
    return None


def measure(preset: str, seeds=SEEDS, overrides: dict | None = None, max_s: float = MAX_TRAIN_S):
    results = []
    for seed in seeds:
        r = time_to_converged(preset, seed, overrides, max_s)
        log(f"lab {preset} seed {seed}: " + (f"converged at step {r[1]} ({r[0]:.1f} s)" if r else "never"))
        results.append(r)
    return results


def describe(results, max_s: float = MAX_TRAIN_S) -> tuple[str, str, float | None]:
    """(median and worst, per seed, the worst seconds or None when a seed never converged)."""
    done = [r for r in results if r is not None]
    per_seed = ", ".join(f"{r[0]:.1f} s/{r[1]}" if r else "never" for r in results)
    if not done:
        return f"never in {max_s:.0f} s", per_seed, None
    secs = [r[0] for r in done]
    steps = [r[1] for r in done]
    worst = max(secs) if len(done) == len(results) else None
    text = f"median {median(secs):.1f} s (step {int(median(steps))}), worst " + (
        f"{worst:.1f} s (step {max(steps)})" if worst is not None else f"never in {max_s:.0f} s"
    )
    return text, "s/step per seed: " + per_seed, worst


def run(opts: Options) -> list[Row]:
    seeds = SEEDS[:2] if opts.quick else SEEDS
    rows = []
    for sub, preset in enumerate(PRESETS, start=1):
        text, per_seed, worst = describe(measure(preset, seeds))
        ok = worst is not None and worst <= GOAL_S
        rows.append(
            Row(
                f"L{sub}",
                f"2D lab: training s until {preset} has converged (1 thread)",
                text,
                f"{per_seed} (n={len(seeds)})",
                f"<= {GOAL_S:.0f} s on every seed",
                Row.judged(ok),
            )
        )
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("presets", nargs="*", default=list(PRESETS))
    p.add_argument("--seeds", default=",".join(map(str, SEEDS)))
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--max-s", type=float, default=MAX_TRAIN_S)
    args = p.parse_args()
    from ganstudio.core.config.io import parse_value

    overrides = {}
    for item in args.set:
        key, _, value = item.partition("=")
        overrides[key] = parse_value(key, value)
    seeds = [int(s) for s in args.seeds.split(",")]
    for preset in args.presets:
        text, per_seed, _ = describe(measure(preset, seeds, overrides, args.max_s), args.max_s)
        print(f"{preset}: {text}; {per_seed}", flush=True)


if __name__ == "__main__":
    main()
