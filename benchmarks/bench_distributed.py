"""12. Scale-out with torchrun on CPU processes (Gloo): what the job's machinery costs.

12a/12b. Steps/s as a torchrun job of 2 CPU processes with 1 thread each, against one process with
     1 thread and one process with 2 threads, on the same global batch, in alternating rounds;
     steps/s from each run's own log (steady state). The job's scaling efficiency = job / (2 x one
     process with 1 thread). 12a is the default digits run, whose step (~3 ms) is mostly framework
     overhead; 12b is DCGAN on the digits with a global batch of 256 (~50 ms a step), where compute
     dominates. A job's step adds the collectives: two gradient all-reduces, and two per BatchNorm
     layer (its forward and backward statistics); on this machine one Gloo all-reduce of a few
     bytes takes ~1 ms whatever the payload, so that is the floor of what a CPU job can win.
12c. The per-step request agreement (AgreedControl): its share of the job's wall time, from the
     job's own `agree_share` stat (on CPUs it rides on the step's gradient all-reduce, so only the
     steps that need a full agreement count).
12d. What one Gloo all-reduce of 8 numbers takes between 2 processes on this machine (median of
     2000 after a warm-up): the floor under every collective of 12a/12b.

    python -m torch.distributed.run --standalone --nproc_per_node=2 benchmarks/bench_distributed.py
runs 12d's probe alone and prints its median in microseconds.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from statistics import median

from common import ROOT, Options, Row, log, spread, usable_cores

GOAL_EFFICIENCY = 0.75
GOAL_AGREE_SHARE = 0.02


def _args(run_dir: Path, steps: int, threads: int, extra: list[str]) -> list[str]:
    return [
        "-m",
        "ganstudio",
        "train",
        *extra,
        "--run-dir",
        str(run_dir),
        "--steps",
        str(steps),
        "--set",
        f"train.threads={threads}",
        "--set",
        "train.device=cpu",
        "--set",
        "metrics.every=0",
        "--set",
        "log.sample_every=0",
        "--set",
        "log.checkpoint_every=0",
        "--quiet",
    ]


def _stats(run_dir: Path) -> list[dict]:
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    return [r for r in map(json.loads, lines) if r.get("event") == "stats"]


def _rate(run_dir: Path) -> float:
    stats = _stats(run_dir)
    a, b = stats[len(stats) // 5], stats[-1]  # steady state: start-up excluded
    return (b["step"] - a["step"]) / max(b["wall"] - a["wall"], 1e-9)


def _run(cmd: list[str]) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=1800)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[:6])} ... exited {done.returncode}: {done.stderr[-2000:]}")


def probe() -> None:
    """12d, in each process of a 2-process torchrun job: time Gloo all-reduces of 8 numbers."""
    import time

    import torch
    import torch.distributed as dist

    torch.set_num_threads(1)
    dist.init_process_group("gloo")
    t = torch.zeros(8)
    times = []
    for i in range(2200):
        t0 = time.perf_counter()
        dist.all_reduce(t)
        if i >= 200:
            times.append(time.perf_counter() - t0)
    if dist.get_rank() == 0:
        p90 = sorted(times)[int(0.9 * len(times))]
        print(json.dumps({"allreduce_us": median(times) * 1e6, "p90_us": p90 * 1e6}))
    dist.destroy_process_group()


def _probe_row() -> Row:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node=2",
        str(Path(__file__).resolve()),
    ]
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    line = next((x for x in done.stdout.splitlines() if x.startswith("{")), None)
    if done.returncode != 0 or line is None:
        return Row(
            "12d",
            "One Gloo all-reduce of 8 numbers, 2 processes",
            f"probe failed: {done.stderr[-300:]}",
            met="no",
        )
    r = json.loads(line)
    return Row(
        "12d",
        "One Gloo all-reduce of 8 numbers, 2 processes (the floor of every collective)",
        f"{r['allreduce_us']:.0f} µs median",
        f"p90 {r['p90_us']:.0f} µs",
        "",
        "",
    )


CASES = {
    # id: (what, extra arguments, steps, quick steps)
    "12a": ("default digits (MLP, batch 64)", [], 3000, 300),
    "12b": (
        "digits-dcgan, global batch 256",
        ["--preset", "digits-dcgan", "--set", "train.batch_size=256"],
        300,
        60,
    ),
}


def run(opts: Options) -> list[Row]:
    rounds = 1 if opts.quick else 3
    tmp = Path(opts.tmp)
    cores = usable_cores()
    note = "" if cores >= 2 else f" (only {cores} usable core: not judged)"
    rows: list[Row] = []
    shares: list[float] = []
    for rid, (what, extra, full, quick) in CASES.items():
        steps = quick if opts.quick else full
        rates: dict[str, list[float]] = {"job": [], "one": [], "two": []}
        for r in range(rounds):
            for kind in ("job", "one", "two"):
                run_dir = tmp / f"dist-{rid}-{kind}-{r}"
                log(f"distributed {rid} round {r + 1}/{rounds}: {kind}")
                if kind == "job":
                    _run(
                        [
                            sys.executable,
                            "-m",
                            "torch.distributed.run",
                            "--standalone",
                            "--nproc_per_node=2",
                            *_args(run_dir, steps, 1, extra)[1:],
                        ]
                    )
                    if rid == "12a":
                        shares += [s["agree_share"] for s in _stats(run_dir)[2:] if "agree_share" in s]
                else:
                    _run([sys.executable, *_args(run_dir, steps, 1 if kind == "one" else 2, extra)])
                rates[kind].append(_rate(run_dir))
        job, one, two = (median(rates[k]) for k in ("job", "one", "two"))
        efficiency = job / (2 * one)
        rows.append(
            Row(
                rid,
                f"torchrun, 2 CPU processes x 1 thread vs one process: {what}",
                f"efficiency {efficiency:.2f}: job {job:.1f}, 1 proc x 2 threads {two:.1f}, "
                f"1 proc x 1 thread "
                f"{one:.1f} steps/s" + note,
                "job " + spread(rates["job"], "{:.1f}") + "; 1x1 " + spread(rates["one"], "{:.1f}"),
                f"efficiency >= {GOAL_EFFICIENCY:.2f}",
                Row.judged(efficiency >= GOAL_EFFICIENCY) if cores >= 2 and not opts.quick else "n/a",
            )
        )
    if shares:
        share = median(shares)
        rows.append(
            Row(
                "12c",
                "Per-step request agreement across the ranks: share of the job's time (12a)",
                f"{share * 100:.2f} %",
                spread([s * 100 for s in shares], "{:.2f}", " %"),
                f"< {GOAL_AGREE_SHARE * 100:.0f} %",
                Row.judged(share < GOAL_AGREE_SHARE) if not opts.quick else "n/a",
            )
        )
    else:
        rows.append(
            Row("12c", "Per-step request agreement across the ranks", "no agree_share in the log", met="no")
        )
    rows.append(_probe_row())
    return rows


if __name__ == "__main__":  # under torchrun: 12d's probe
    probe()
