"""GAN Studio's benchmarks: one command, one table.

    python benchmarks/run.py                      # everything (a few minutes)
    python benchmarks/run.py --quick              # a short smoke run of the harness
    python benchmarks/run.py --only peer,plots    # some of them
    python benchmarks/run.py --long               # the 100k-step memory run too
    python benchmarks/run.py --markdown out.md    # also write the machine and table as markdown

Every figure is a ratio or a distribution measured side by side in the same run, because a shared
machine's speed drifts from minute to minute. Each benchmark runs in its own child process.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import ROWS_MARK, Options, Row, load_average, machine, usable_cores

# name -> (module, what it measures); run in this order.
BENCHMARKS = {
    "peer": ("bench_peer", "headless GAN Studio vs a tutorial's training loop"),
    "monitor": ("bench_monitor", "steps/s driven by the app vs the same trainer headless"),
    "latency": ("bench_latency", "GUI event-loop lateness while training"),
    "plots": ("bench_plots", "PlotsPanel redraw time at 1e4 / 1e5 / 1e6 points"),
    "memory": ("bench_memory", "RSS growth of a long app session with the sample timeline"),
    "launch": ("bench_launch", "process start to main window shown"),
    "quality": ("bench_quality", "CPU seconds until the digits run covers all 10 classes"),
    "checkpoint": ("bench_checkpoint", "checkpoint save and load time with the content digest vs without"),
    "follow": ("bench_follow", "following a run folder: latency, a 1e6-line log, cost to the trainer"),
    "compare": ("bench_compare", "plots with 10 compared runs of 1e5 points; the Runs dock on 200 runs"),
    "latent": ("bench_latent", "latent explorer: slider move to grid redrawn; GUI lateness while dragging"),
    "distributed": ("bench_distributed", "torchrun, 2 CPU processes vs one process; the per-step agreement"),
    "gpu": ("bench_gpu", "DCGAN 64x64 on CUDA: images/s vs tutorial, host syncs per step"),
    "api": ("bench_api", "your own loop: ganstudio.init's cost per digits step; host syncs on a GPU"),
    "lab": ("bench_lab", "2D lab: training s until ring8, grid25, spiral have converged, 5 seeds"),
    "system": ("bench_system", "system lines and the webhook: steps/s with and without; one reading"),
    "step": ("bench_step", "the default digits step against its GEMM floor (bare torch.mm); train.compile"),
}
COLUMNS = ("#", "Benchmark", "Result", "Spread", "Goal", "Met")


def parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--only", default="", help="comma-separated: " + ",".join(BENCHMARKS))
    p.add_argument("--quick", action="store_true", help="short rounds: checks the harness, not the goals")
    p.add_argument("--long", action="store_true", help="also run the 100k-step memory session")
    p.add_argument("--markdown", metavar="FILE", help="write the machine and the table as markdown")
    p.add_argument(
        "--threads",
        type=int,
        default=0,
        help="torch CPU threads for every trainer; 0 = what "
        "core.train.threads.choose_threads picks for the default digits run (--quick: 1, "
        "without measuring)",
    )
    p.add_argument("--child", help=argparse.SUPPRESS)
    p.add_argument("--goal-threads", type=int, default=1, help=argparse.SUPPRESS)
    p.add_argument("--tmp", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    names = [n.strip() for n in args.only.split(",") if n.strip()] or list(BENCHMARKS)
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        p.error(f"unknown benchmark(s) {', '.join(unknown)}; choose from {', '.join(BENCHMARKS)}")
    args.names = [n for n in BENCHMARKS if n in names]
    return args


def choose_threads() -> tuple[int, int]:
    """(threads GAN Studio's trainer picks for the default digits run, torch's default)."""
    import torch
    from common import config

    from ganstudio.core.train.threads import choose_threads as pick
    from ganstudio.core.train.trainer import Trainer

    default = torch.get_num_threads()
    trainer = Trainer(config("digits", **{"train.device": "cpu"}))
    return pick(trainer), default


def run_child(name: str, args: argparse.Namespace, tmp: str, threads: int, goal_threads: int) -> list[Row]:
    cmd = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--child",
        name,
        "--tmp",
        tmp,
        "--threads",
        str(threads),
        "--goal-threads",
        str(goal_threads),
    ]
    cmd += ["--quick"] if args.quick else []
    cmd += ["--long"] if args.long else []
    timeout = 3600 if args.long else 900
    t0 = time.perf_counter()
    try:
        # stderr (progress) goes straight to the terminal; stdout carries the rows.
        proc = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return [Row(name, BENCHMARKS[name][1], f"timed out after {timeout} s", met="no")]
    rows: list[Row] = []
    for line in proc.stdout.splitlines():
        if line.startswith(ROWS_MARK):
            rows = [Row(**r) for r in json.loads(line[len(ROWS_MARK) :])]
        elif line.strip():
            print(line)
    if proc.returncode != 0 or not rows:
        rows.append(
            Row(
                name,
                BENCHMARKS[name][1],
                f"failed (exit code {proc.returncode}); see the traceback above",
                met="no",
            )
        )
    print(f"  {name}: {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)
    return rows


def child_main(args: argparse.Namespace) -> int:
    import importlib

    import torch
    from common import emit

    # Set once, before any torch work: every trainer of the benchmark pins the same count.
    torch.set_num_threads(args.threads)
    module = importlib.import_module(BENCHMARKS[args.child][0])
    opts = Options(
        quick=args.quick, long=args.long, threads=args.threads, tmp=args.tmp, goal_threads=args.goal_threads
    )
    emit(module.run(opts))
    return 0


def render_text(rows: list[Row]) -> str:
    cells = [COLUMNS] + [(r.id, r.name, r.result, r.spread, r.goal, r.met) for r in rows]
    widths = [max(len(c[i]) for c in cells) for i in range(len(COLUMNS))]
    lines = []
    for k, c in enumerate(cells):
        lines.append("  ".join(v.ljust(w) for v, w in zip(c, widths, strict=True)).rstrip())
        if k == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def render_markdown(rows: list[Row], info: list[tuple[str, str]]) -> str:
    def esc(s: str) -> str:
        return s.replace("|", "\\|") or " "

    out = ["| " + " | ".join(COLUMNS) + " |", "|" + "|".join("---" for _ in COLUMNS) + "|"]
    for r in rows:
        cells = (r.id, r.name, r.result, r.spread, r.goal, r.met)
        out.append("| " + " | ".join(esc(v) for v in cells) + " |")
    machine_lines = [f"- **{k}**: {v}" for k, v in info]
    return "\n".join(machine_lines) + "\n\n" + "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    if args.child:
        return child_main(args)
    t0 = time.perf_counter()
    print(
        "GAN Studio benchmarks"
        + (" (quick: checks the harness; figures are not meaningful)" if args.quick else ""),
        flush=True,
    )
    if args.threads > 0 or args.quick:
        import torch

        threads, default = args.threads or 1, torch.get_num_threads()
        chosen_by = "--threads" if args.threads > 0 else "--quick: 1 unless --threads"
    else:
        threads, default = choose_threads()
        chosen_by = "core.train.threads.choose_threads on the default digits run"
    info = machine(threads, default, chosen_by)
    if threads > 1 and threads >= usable_cores():
        info.append(
            (
                "warning",
                f"{threads} torch threads on {usable_cores()} cores: whenever another thread "
                "(the GUI, background metrics, another process) wants a core, OpenMP's barriers "
                "stall and training can fall to a few steps/s; --threads 1 gives steadier numbers",
            )
        )
    for k, v in info:
        print(f"{k:>22}: {v}")
    print(flush=True)
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="ganstudio-bench-") as tmp:
        for name in args.names:
            print(f"{name}: {BENCHMARKS[name][1]}", file=sys.stderr, flush=True)
            counts = [threads]
            if name == "peer" and not args.quick:  # the other counts too, each in its own process
                counts += [c for c in sorted({1, default}) if c != threads]
            for c in counts:
                rows += run_child(name, args, tmp, c, threads)
    info.append(("load average at end", load_average()))
    info.append(
        (
            "mode",
            ("quick" if args.quick else "long" if args.long else "default")
            + f", {time.perf_counter() - t0:.0f} s in all, {usable_cores()} cores",
        )
    )
    print()
    print(render_text(rows))
    print()
    for k, v in info[-2:]:
        print(f"{k:>22}: {v}")
    if args.markdown:
        Path(args.markdown).write_text(render_markdown(rows, info), encoding="utf-8")
        print(f"wrote {args.markdown}")
    failed = [r for r in rows if r.result.startswith(("failed", "timed out"))]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
