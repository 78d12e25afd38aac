"""The checks of GAN Studio's CUDA path that need a GPU, run as a user would (the real CLI).

    python benchmarks/gpu_check.py [--out DIR]

Each check prints one line, PASS/FAIL/INFO, and all go to DIR/gpu_check.json. The test suite runs
on machines without a GPU, so these run on a lent GPU machine; BENCHMARKS.md records the last run.
Without CUDA it says so and exits 0.

- C1 trains the default digits GAN on CUDA (samples, metrics, checkpoints, EMA, holdout);
- C2/C3: DCGAN and WGAN-GP (a double backward) with bf16 autocast (train.amp);
- C4 continues a CUDA checkpoint on CUDA; C5 a run resumed midway ends with the same weights as
  one that did not stop;
- C6/C7: a CUDA checkpoint continues and samples on a machine without a GPU, and a CPU one on
  the GPU;
- C8 refuses an optimizer state that does not fit the models (the fused CUDA Adam would crash);
- C9 runs the GPU out of memory (capped with set_per_process_memory_fraction): a message, no
  traceback, checkpoints kept;
- C10/C11: torchrun with more processes than GPUs is refused with what to do; one process per GPU
  trains.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS: list[dict] = []
SMALL = ["--set", "metrics.every=0", "--set", "log.sample_every=0", "--quiet"]


def record(cid: str, name: str, ok: bool | None, detail: str) -> None:
    verdict = "INFO" if ok is None else ("PASS" if ok else "FAIL")
    RESULTS.append({"id": cid, "check": name, "verdict": verdict, "detail": detail})
    print(f"{verdict} {cid} {name}: {detail}", flush=True)


def cli(*args: str, env: dict | None = None, timeout: float = 240.0, torchrun: int = 0):
    base = (
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            f"--nproc_per_node={torchrun}",
            "-m",
            "ganstudio",
        ]
        if torchrun
        else [sys.executable, "-m", "ganstudio"]
    )
    t0 = time.monotonic()
    p = subprocess.run(
        [*base, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
        env={**os.environ, "PYTHONWARNINGS": "ignore", **(env or {})},
    )
    return p.returncode, p.stdout, p.stderr, time.monotonic() - t0


def tail(text: str, n: int = 400) -> str:
    return " | ".join(text.strip().splitlines())[-n:]


def check(cid: str, name: str):
    def wrap(fn):
        def run(*a):
            try:
                return fn(*a)
            except Exception as e:
                record(cid, name, False, f"{type(e).__name__}: {e} {tail(traceback.format_exc(), 600)}")
                return None

        return run

    return wrap


def latest(run_dir: Path) -> Path:
    return run_dir / "checkpoints" / "latest.pt"


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--out", default=".")
    args = p.parse_args()
    out = Path(args.out)
    import torch

    if not torch.cuda.is_available() and not os.environ.get("GPU_CHECK_DRY"):  # DRY: try the script on a CPU
        print("no CUDA GPU: nothing to check")
        return 0
    from ganstudio.core.checkpoint import io as checkpoints
    from ganstudio.core.run.log import read_metrics

    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU (dry run)"
    record(
        "C0",
        "machine",
        None,
        f"{gpu} x{torch.cuda.device_count()}, "
        f"torch {torch.__version__}, CUDA {torch.version.cuda}, Python {sys.version.split()[0]}",
    )
    tmp = Path(tempfile.mkdtemp(prefix="gpucheck-"))

    @check("C1", "digits MLP on CUDA: samples, metrics, checkpoints, EMA, holdout")
    def c1():
        code, so, se, s = cli(
            "train",
            "--run-dir",
            str(tmp / "c1"),
            "--steps",
            "300",
            "--set",
            "metrics.every=100",
            "--set",
            "log.sample_every=100",
            "--set",
            "log.checkpoint_every=100",
            "--set",
            "train.ema=0.999",
            "--quiet",
        )
        ck = checkpoints.load(latest(tmp / "c1")) if code == 0 else None
        samples = len(list((tmp / "c1" / "samples").glob("*.png"))) if code == 0 else 0
        # The metrics thread (CPU) may skip a waiting evaluation when the GPU outruns it; a
        # completed run's last step is always evaluated.
        metrics = (
            [r["step"] for r in read_metrics(tmp / "c1" / "metrics.jsonl") if r["event"] == "metrics"]
            if code == 0
            else []
        )
        ok = (
            code == 0
            and ck["step"] == 300
            and ck.get("verified", False)
            and samples >= 4
            and metrics[-1:] == [300]
            and ck["rng"]["noise_device"] == "cuda"
        )
        record(
            "C1",
            "digits MLP on CUDA",
            ok,
            f"exit {code} in {s:.1f}s, step {ck and ck['step']}, "
            f"{samples} grids, metrics at steps {metrics}, "
            f"noise on {ck and ck['rng']['noise_device']} {tail(se)}",
        )

    @check("C2", "DCGAN + bf16 autocast on CUDA")
    def c2():
        code, so, se, s = cli(
            "train",
            "--run-dir",
            str(tmp / "c2"),
            "--steps",
            "60",
            "--set",
            "model.arch=dcgan",
            "--set",
            "data.image_size=32",
            "--set",
            "train.amp=true",
            *SMALL,
        )
        stats = (
            [r for r in read_metrics(tmp / "c2" / "metrics.jsonl") if r["event"] == "stats"]
            if code == 0
            else []
        )
        finite = all(abs(r["loss_d"]) < 1e6 and abs(r["loss_g"]) < 1e6 for r in stats)
        record(
            "C2",
            "DCGAN + bf16 autocast on CUDA",
            code == 0 and stats and finite,
            f"exit {code} in {s:.1f}s, {len(stats)} stats rows, last D {stats and stats[-1]['loss_d']:.3f} "
            f"G {stats and stats[-1]['loss_g']:.3f} {tail(se)}",
        )

    @check("C3", "WGAN-GP (double backward) + bf16 autocast on CUDA")
    def c3():
        code, so, se, s = cli(
            "train",
            "--run-dir",
            str(tmp / "c3"),
            "--steps",
            "30",
            "--set",
            "model.arch=dcgan",
            "--set",
            "data.image_size=32",
            "--set",
            "loss.kind=wgan-gp",
            "--set",
            "optim.d_steps=5",
            "--set",
            "train.amp=true",
            *SMALL,
        )
        record("C3", "WGAN-GP + amp on CUDA", code == 0, f"exit {code} in {s:.1f}s {tail(se)}")

    @check("C4", "a CUDA checkpoint continues on CUDA")
    def c4():
        code, so, se, s = cli(
            "train", "--resume", str(latest(tmp / "c1")), "--steps", "400", "--out", str(tmp / "c4"), *SMALL
        )
        record(
            "C4",
            "CUDA checkpoint continues on CUDA",
            code == 0 and "at step 400" in so,
            f"exit {code} in {s:.1f}s: {tail(so, 200)} {tail(se)}",
        )

    @check("C5", "resumed midway = not stopped (CUDA)")
    def c5():
        common = ["--set", "log.checkpoint_every=0", *SMALL]
        a = cli("train", "--run-dir", str(tmp / "c5a"), "--steps", "200", *common)
        b1 = cli("train", "--run-dir", str(tmp / "c5b"), "--steps", "100", *common)
        b2 = cli("train", "--run-dir", str(tmp / "c5b"), "--resume", "auto", "--steps", "200", *common)
        if a[0] or b1[0] or b2[0]:
            record("C5", "resume exactness on CUDA", False, f"exits {a[0]} {b1[0]} {b2[0]} {tail(b2[2])}")
            return
        ka, kb = checkpoints.load(latest(tmp / "c5a")), checkpoints.load(latest(tmp / "c5b"))
        diff = max(
            (ka["models"][n][k].float() - kb["models"][n][k].float()).abs().max().item()
            for n in ("G", "D")
            for k in ka["models"][n]
        )
        record(
            "C5",
            "resume exactness on CUDA",
            diff == 0.0 or None,
            f"largest weight difference after 200 steps: {diff:.3g} (0 = bit-exact)",
        )

    @check("C6", "a CUDA checkpoint continues and samples without a GPU")
    def c6():
        nogpu = {"CUDA_VISIBLE_DEVICES": ""}
        code, so, se, s = cli(
            "train",
            "--resume",
            str(latest(tmp / "c1")),
            "--steps",
            "320",
            "--out",
            str(tmp / "c6"),
            *SMALL,
            env=nogpu,
        )
        scode, sso, sse, _ = cli(
            "sample", str(latest(tmp / "c1")), "--n", "16", "--out", str(tmp / "c6.png"), env=nogpu
        )
        record(
            "C6",
            "CUDA checkpoint on a machine without a GPU",
            code == 0 and "device cpu" in se and scode == 0 and (tmp / "c6.png").exists(),
            f"train exit {code} ({tail(se, 200)}), sample exit {scode} {tail(sse, 200)}",
        )

    @check("C7", "a CPU checkpoint continues on CUDA")
    def c7():
        a = cli("train", "--run-dir", str(tmp / "c7"), "--steps", "20", "--set", "train.device=cpu", *SMALL)
        b = cli(
            "train",
            "--resume",
            str(latest(tmp / "c7")),
            "--steps",
            "40",
            "--out",
            str(tmp / "c7b"),
            "--quiet",
        )
        sc = cli("sample", str(latest(tmp / "c7")), "--n", "16", "--out", str(tmp / "c7.png"))
        record(
            "C7",
            "CPU checkpoint continues on CUDA",
            a[0] == 0 and b[0] == 0 and sc[0] == 0,
            f"exits {a[0]} {b[0]} {sc[0]} {tail(b[2], 300)} {tail(sc[2], 200)}",
        )

    @check("C8", "an optimizer state that does not fit is refused, no crash")
    def c8():
        cli("train", "--run-dir", str(tmp / "c8w"), "--steps", "3", "--set", "model.width=32", *SMALL)
        base = checkpoints.load(latest(tmp / "c1"))
        wide = checkpoints.load(latest(tmp / "c8w"))
        base["optimizers"] = wide["optimizers"]
        bad = tmp / "mixed.pt"
        checkpoints.save_atomic(base, bad)
        code, so, se, s = cli(
            "train", "--resume", str(bad), "--steps", "310", "--out", str(tmp / "c8"), *SMALL
        )
        record(
            "C8",
            "mismatched optimizer state refused on CUDA",
            code == 2 and "Traceback" not in se,
            f"exit {code}: {tail(se, 300)}",
        )

    @check("C9", "out of GPU memory: a message, checkpoints kept")
    def c9():
        script = (
            "import sys, torch; torch.cuda.set_per_process_memory_fraction(0.004);"
            "from ganstudio.cli import main;"
            f"sys.exit(main(['train','--run-dir',{str(tmp / 'c9')!r},'--steps','50',"
            "'--set','model.arch=dcgan',"
            "'--set','data.image_size=64','--set','model.width=128','--set','train.batch_size=1024',"
            "'--set','metrics.every=0','--set','log.sample_every=0','--quiet']))"
        )
        t0 = time.monotonic()
        p = subprocess.run(
            [sys.executable, "-c", script], capture_output=True, text=True, timeout=240, cwd=ROOT
        )
        ok = (
            p.returncode in (1, 2) and "out of GPU memory on cuda" in p.stderr and "Traceback" not in p.stderr
        )
        record(
            "C9",
            "out of GPU memory",
            ok,
            f"exit {p.returncode} in {time.monotonic() - t0:.1f}s: {tail(p.stderr, 500)}",
        )

    @check("C10", "torchrun: 2 processes on a 1-GPU machine refused with what to do")
    def c10():
        if torch.cuda.device_count() != 1:
            record("C10", "more processes than GPUs", None, "not a one-GPU machine: skipped")
            return
        code, so, se, s = cli(
            "train", "--run-dir", str(tmp / "c10"), "--steps", "5", *SMALL, torchrun=2, timeout=180
        )
        record(
            "C10",
            "more processes than GPUs",
            code != 0 and "one process per GPU" in se,
            f"exit {code} in {s:.1f}s: {tail(se, 500)}",
        )

    @check("C11", "torchrun, one process per GPU, trains on CUDA")
    def c11():
        n = torch.cuda.device_count()
        code, so, se, s = cli(
            "train", "--run-dir", str(tmp / "c11"), "--steps", "100", *SMALL, torchrun=n, timeout=180
        )
        ck = checkpoints.load(latest(tmp / "c11")) if code == 0 else None
        record(
            "C11",
            f"torchrun --nproc_per_node={n} on CUDA",
            code == 0 and ck["step"] == 100,
            f"exit {code} in {s:.1f}s {tail(so, 200)} {tail(se, 300)}",
        )

    for fn in (c1, c2, c3, c4, c5, c6, c7, c8, c9, c10, c11):
        fn()
        (out / "gpu_check.json").write_text(json.dumps(RESULTS, indent=1))
    failed = [r["id"] for r in RESULTS if r["verdict"] == "FAIL"]
    print(f"{len(RESULTS)} checks, failed: {', '.join(failed) or 'none'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
