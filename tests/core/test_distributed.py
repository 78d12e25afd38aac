"""torchrun with 2 CPU processes (Gloo): the job trains the same GAN as one process, only rank 0
writes, checkpoints resume exactly (and in one process), requests and signals reach every rank at
the same step, and a killed rank's job restarts where its checkpoint left it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from functools import partial
from pathlib import Path

import pytest
import torch

from ganstudio.core import models
from ganstudio.core.checkpoint import io as checkpoints
from ganstudio.core.config import is_2d, resolved_image_shape
from ganstudio.core.data import load_dataset
from ganstudio.core.run.folder import RunFolder
from ganstudio.core.run.log import read_metrics, read_run
from ganstudio.core.run.steer import ControlFile
from tests.core.conftest import last_stats_step, log_records, wait_until

WAIT_S = 120.0
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
QUIET = ["--set", "train.device=cpu", "--set", "metrics.every=0", "--set", "log.sample_every=0", "--quiet"]
CONFIGS = {
    # The default MLP, BatchNorm in G: global batch statistics matter here.
    "mlp": [],
    # Width 32: at width 8 the nonsaturating dcgan's D output bias starts with a true gradient of
    # ~0, so Adam turns the batch split's rounding (1e-7) into lr-sized steps within 5 steps, while
    # 1 against 2 threads happens not to touch that sum: the yardstick then misses what it measures.
    "dcgan": ["--set", "model.arch=dcgan", "--set", "data.image_size=16", "--set", "model.width=32"],
    # WGAN-GP with 5 critic steps a step.
    "wgan-gp": ["--set", "loss.kind=wgan-gp", "--set", "optim.d_steps=5"],
    # The relativistic pairing loss with R1 and R2 (lazy, every 2nd step) and a spectral-normed D.
    "stabilisers": [
        *("--set", "loss.kind=rpgan", "--set", "loss.r1=1", "--set", "loss.r2=0.5"),
        *("--set", "loss.r_every=2", "--set", "model.spectral_norm=d"),
    ],
    # Class-conditional: each rank's rows of the batch carry their own labels to G and D.
    "conditional": ["--set", "model.conditional=true"],
}
# The relative floor of the weight-by-weight comparison. WGAN-GP's critic learns from a difference
# of two expectations, E[D(fake)] - E[D(real)], whose terms cancel element by element; where they
# nearly do (its biases' gradients), the batch split's rounding is a large part of what is left, and
# Adam's normalised step passes it on: those tensors differ by ~3e-5 relative after 5 steps, while 1
# against 2 threads happens not to touch them. What D and G compute (their outputs, checked with the
# plain rule below) still agrees as closely as 1 against 2 threads.
WEIGHT_FLOOR = {"mlp": 1e-5, "dcgan": 1e-5, "wgan-gp": 1e-4, "stabilisers": 1e-5, "conditional": 1e-5}
# Steps compared. WGAN-GP with 5 critic steps a step is chaotic at this size: now and then a rounding
# difference puts one sample on the other side of a LeakyReLU's kink, G's gradient then differs by
# ~1e-2 relative, and from there the two runs are equally right and drift apart. Which step that
# happens at depends on the seed and the data (at step 10 here; 1 against 2 threads does it too, at
# other steps and seeds), so WGAN-GP is compared over the 5 steps (25 critic updates) before it.
STEPS = {"mlp": 20, "dcgan": 20, "wgan-gp": 5, "stabilisers": 20, "conditional": 20}


def zero_gradient(cfg, net: str, key: str) -> bool:
    """Parameters whose true gradient is zero by construction, so that both runs move them by
    Adam's normalised rounding noise alone (lr-sized steps of random sign) and no yardstick can
    bound them: a bias right before BatchNorm (the norm subtracts it again), and for WGAN-GP the
    critic's output bias (its loss, E[D(fake)] - E[D(real)], and the penalty ignore a constant).
    Neither changes what G makes or what D tells apart: G's and D's outputs are compared below."""
    if net == "D":
        # The mlp critic's last Linear; rpgan's loss, too, sees only differences of D's outputs.
        return cfg.loss.kind in ("wgan-gp", "rpgan") and key == "net.5.bias"
    layers = {"net.2.bias", "net.5.bias", "net.8.bias"} if cfg.model.arch == "mlp" else set()
    return key in layers  # the Linear layers that feed BatchNorm1d (dcgan's have no bias)


def torchrun(*args: str, nproc: int = 2, **kw) -> subprocess.Popen:
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        f"--nproc_per_node={nproc}",
        "-m",
        "ganstudio",
        "train",
        *args,
    ]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV, **kw)


def single(*args: str) -> subprocess.CompletedProcess:
    # No OMP_NUM_THREADS here: with it at 1, torch.set_num_threads(2) runs as 1 thread would, and
    # the yardstick (1 against 2 threads) would measure nothing.
    env = {k: v for k, v in ENV.items() if k != "OMP_NUM_THREADS"}
    # And no dynamic thread counts: on a busy machine MKL would quietly run the 2-thread side on
    # one thread, and the yardstick would be (nearly) zero.
    env.update(MKL_DYNAMIC="FALSE", OMP_DYNAMIC="FALSE")
    return subprocess.run(
        [sys.executable, "-m", "ganstudio", "train", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=WAIT_S,
    )


def finish(proc: subprocess.Popen) -> tuple[int, str, str]:
    try:
        out, err = proc.communicate(timeout=WAIT_S)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    return proc.returncode, out, err


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a.double(), b.double()
    return float((a - b).norm() / max(float(a.norm()), 1e-30))


def _outputs(ck: dict) -> dict[str, torch.Tensor]:
    """G on the checkpoint's fixed noise and D on fixed real inputs, in eval mode."""
    cfg = checkpoints.config_of(ck)
    shape = (2,) if is_2d(cfg) else resolved_image_shape(cfg.data)
    data = load_dataset(cfg.data, seed=cfg.train.seed)
    classes = data.num_classes if cfg.model.conditional else None
    g, d = models.build(cfg, shape, num_classes=classes)
    g.load_state_dict(ck["models"]["G"])
    d.load_state_dict(ck["models"]["D"])
    x = data.x[:64]
    # A conditional pair is asked for the reals' own classes (G: every class in turn, as its grid).
    label = (data.labels[:64],) if classes else ()
    with torch.no_grad():
        return {"G(z)": g.eval()(ck["fixed_noise"]), "D(x)": d.eval()(x, *label)}


@pytest.mark.parametrize("kind", list(CONFIGS))
def test_two_processes_train_the_same_gan_as_one(tmp_path, kind):
    args = [
        "--steps",
        str(STEPS[kind]),
        "--set",
        "train.batch_size=64",
        "--set",
        "log.checkpoint_every=0",
        *QUIET,
        *CONFIGS[kind],
    ]
    code, _, err = finish(torchrun("--run-dir", str(tmp_path / "job"), "--set", "train.threads=1", *args))
    assert code == 0, err
    for name, threads in (("one", 1), ("two", 2)):
        done = single("--run-dir", str(tmp_path / name), "--set", f"train.threads={threads}", *args)
        assert done.returncode == 0, done.stderr
    ck = {n: checkpoints.load(RunFolder(tmp_path / n).latest_checkpoint()) for n in ("one", "two", "job")}
    assert ck["job"]["world_size"] == 2 and ck["one"]["world_size"] == 1
    compared = 0
    cfg = checkpoints.config_of(ck["one"])
    for net in ("G", "D"):
        for key, ref in ck["one"]["models"][net].items():
            if not ref.is_floating_point() or zero_gradient(cfg, net, key):
                continue
            # The yardstick: one process with 1 thread against 2 threads (the sums' order differs).
            yardstick = _rel(ref, ck["two"]["models"][net][key])
            err_job = _rel(ref, ck["job"]["models"][net][key])
            assert err_job <= max(10 * yardstick, WEIGHT_FLOOR[kind]), (net, key, err_job, yardstick)
            compared += 1
    outs = {n: _outputs(c) for n, c in ck.items()}
    for what in ("G(z)", "D(x)"):
        yardstick = _rel(outs["one"][what], outs["two"][what])
        assert _rel(outs["one"][what], outs["job"][what]) <= max(10 * yardstick, 1e-5), what
    assert compared > 5


def test_only_rank_0_writes_and_the_checkpoint_goes_on_anywhere(tmp_path):
    job = tmp_path / "job"
    args = [
        "--set",
        "train.threads=1",
        "--set",
        "train.batch_size=32",
        "--set",
        "log.every=2",
        "--set",
        "log.checkpoint_every=5",
        *QUIET,
    ]
    code, out, err = finish(torchrun("--run-dir", str(job), "--steps", "10", *args))
    assert code == 0, err
    folder = RunFolder(job)
    assert sorted(p.name for p in job.iterdir()) == [
        "checkpoints",
        "config.toml",
        "heartbeat.json",
        "metrics.jsonl",
        "run.json",
        "samples",
    ]
    records = read_metrics(folder.metrics_path)
    (started,) = [r for r in records if r["event"] == "started"]  # one writer, one story
    assert started["world_size"] == 2 and started["backend"] == "gloo"
    assert [r["step"] for r in records if r["event"] == "stats"] == [2, 4, 6, 8, 10]
    assert out.count("completed at step 10") == 1  # rank 0 speaks for the job
    beat = json.loads(folder.heartbeat_path.read_text())
    assert beat["rank_steps"] == [10, 10] or beat["rank_steps"] == [9, 9]
    # The job's checkpoint continues in one process.
    done = single(
        "--resume", str(folder.latest_checkpoint()), "--out", str(tmp_path / "alone"), "--steps", "14", *args
    )
    assert done.returncode == 0, done.stderr
    (alone,) = (tmp_path / "alone").iterdir()
    state = read_run(RunFolder(alone))
    assert state.history.steps().tolist() == [2, 4, 6, 8, 10, 12, 14] and state.world_size == 1


def test_resume_with_the_same_world_size_is_exact(tmp_path):
    args = [
        "--set",
        "train.threads=1",
        "--set",
        "train.batch_size=32",
        "--set",
        "log.checkpoint_every=0",
        *QUIET,
    ]
    code, _, err = finish(torchrun("--run-dir", str(tmp_path / "straight"), "--steps", "12", *args))
    assert code == 0, err
    part = tmp_path / "parts"
    for steps in ("6", "12"):
        code, _, err = finish(torchrun("--run-dir", str(part), "--resume", "auto", "--steps", steps, *args))
        assert code == 0, err
    a = checkpoints.load(RunFolder(tmp_path / "straight").latest_checkpoint())
    b = checkpoints.load(RunFolder(part).latest_checkpoint())
    assert b["step"] == 12
    for net in ("G", "D"):
        for key, value in a["models"][net].items():
            assert torch.equal(value, b["models"][net][key]), (net, key)
    assert torch.equal(a["rng"]["noise"], b["rng"]["noise"])


def test_batch_that_does_not_divide_is_refused(tmp_path):
    code, out, err = finish(
        torchrun("--run-dir", str(tmp_path / "job"), "--steps", "3", "--set", "train.batch_size=63", *QUIET)
    )
    assert code != 0
    assert err.count("train.batch_size = 63 is the global batch and must divide by the 2 processes") == 1
    assert "use 62 or 64" in err
    assert "ganstudio/cli" not in err and "ganstudio/core" not in err  # no traceback of ours
    assert not (tmp_path / "job" / "metrics.jsonl").exists()


_wait = partial(wait_until, timeout=WAIT_S)  # torchrun jobs start slowly on 2 cores
LONG = [
    "--steps",
    "100000000",
    "--set",
    "train.threads=1",
    "--set",
    "train.batch_size=32",
    "--set",
    "log.every=1",
    "--set",
    "log.checkpoint_every=0",
    *QUIET,
]


def test_the_control_file_pauses_and_steps_every_rank_together(tmp_path):
    folder = RunFolder(tmp_path / "job")
    proc = torchrun("--run-dir", str(folder.path), *LONG)
    try:
        _wait(lambda: last_stats_step(folder) >= 5, "the job to train")
        ControlFile(folder).request("pause")
        _wait(lambda: any(r["event"] == "paused" for r in log_records(folder)), "the pause")
        paused_at = next(r["step"] for r in log_records(folder) if r["event"] == "paused")
        beat = _wait(
            lambda: (b := json.loads(folder.heartbeat_path.read_text()))["status"] == "paused" and b,
            "a paused heartbeat",
        )
        assert beat["rank_steps"] == [paused_at, paused_at]  # every rank stopped at the same step
        ControlFile(folder).request("set", values={"optim.lr_d": 0.001})
        ControlFile(folder).request("step", n=2)
        _wait(lambda: last_stats_step(folder) == paused_at + 2, "two steps on every rank")
        ControlFile(folder).request("stop")
        code, _, err = finish(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert code == 0, err
    records = log_records(folder)
    assert records[-1] == {"event": "finished", "step": paused_at + 2, "reason": "stopped"}
    ck = checkpoints.load(folder.latest_checkpoint())
    assert ck["step"] == paused_at + 2 and ck["optimizers"]["D"]["param_groups"][0]["lr"] == 0.001


# Rank 1 alone gets NaN from D from step NAN_FROM on (fault injection: the job runs this file in
# place of `-m ganstudio`, with the same arguments).
NAN_ON_RANK_1 = """
import math, os, sys
from ganstudio.cli import main
from ganstudio.core.train.trainer import Trainer

if os.environ.get("RANK") == "1":
    real = Trainer.train_step

    def train_step(self):
        if self.step + 1 >= int(os.environ["NAN_FROM"]) and not getattr(self, "nan_hook", None):
            self.nan_hook = self.D.register_forward_hook(lambda m, i, out: out * math.nan)
        real(self)

    Trainer.train_step = train_step
sys.exit(main())
"""


def test_a_nan_on_one_rank_pauses_every_rank_at_that_step_before_any_checkpoint(tmp_path):
    script = tmp_path / "nan_on_rank_1.py"
    script.write_text(NAN_ON_RANK_1)
    folder = RunFolder(tmp_path / "job")
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node=2",
        str(script),
        "train",
        "--run-dir",
        str(folder.path),
        "--steps",
        "50",
        "--set",
        "train.threads=1",
        "--set",
        "train.batch_size=32",
        "--set",
        "log.every=4",
        "--set",
        "log.checkpoint_every=1",
        *QUIET,
    ]
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**ENV, "NAN_FROM": "7"}
    )
    code, _, err = finish(proc)
    assert code == 1, err
    records = log_records(folder)
    (paused,) = [r for r in records if r["event"] == "paused"]
    assert paused["step"] == 7 and "NaN or infinite" in paused["reason"]
    assert records[-1] == {"event": "finished", "step": 7, "reason": "stopped"}
    assert err.count("became NaN or infinite by step 7") == 1  # rank 0 speaks for the job
    assert json.loads(folder.heartbeat_path.read_text())["rank_steps"] == [7, 7]  # both stopped there
    ck = checkpoints.load(folder.latest_checkpoint())
    assert ck["step"] == 6  # the last good one
    assert all(torch.isfinite(v).all() for net in ("G", "D") for v in ck["models"][net].values())


def test_sigterm_to_torchrun_stops_every_rank_after_the_same_step(tmp_path):
    folder = RunFolder(tmp_path / "job")
    proc = torchrun("--run-dir", str(folder.path), *LONG)
    try:
        _wait(lambda: last_stats_step(folder) >= 5, "the job to train")
        proc.send_signal(signal.SIGTERM)
        _, out, err = finish(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
    records = log_records(folder)
    assert records[-1]["event"] == "finished" and records[-1]["reason"] == "stopped"
    assert checkpoints.load(folder.latest_checkpoint())["step"] == records[-1]["step"]
    assert json.loads(folder.heartbeat_path.read_text())["rank_steps"][0] in (
        records[-1]["step"],
        records[-1]["step"] - 1,
    )
    assert err.count("SIGTERM: stopping after this step") == 2  # both ranks heard it, and obeyed


def test_a_killed_rank_restarts_from_the_last_checkpoint(tmp_path):
    folder = RunFolder(tmp_path / "job")
    args = [
        "--resume",
        "auto",
        "--steps",
        "100000000",
        "--set",
        "train.threads=1",
        "--set",
        "train.batch_size=32",
        "--set",
        "log.every=2",
        "--set",
        "log.checkpoint_every=10",
        *QUIET,
    ]
    proc = torchrun("--run-dir", str(folder.path), *args)
    try:
        _wait(
            lambda: folder.latest_checkpoint() is not None and last_stats_step(folder) >= 14,
            "a checkpoint and some steps past it",
        )
        beat = json.loads(folder.heartbeat_path.read_text())
        workers = subprocess.run(
            ["pgrep", "-f", "-P", str(proc.pid), "ganstudio"], capture_output=True, text=True
        ).stdout.split()
        victim = next(int(p) for p in workers if int(p) != beat["pid"])  # rank 1
        os.kill(victim, signal.SIGKILL)
        code, _, _ = finish(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert code != 0  # torchrun tore the job down
    saved = checkpoints.load(folder.latest_checkpoint())["step"]
    logged = last_stats_step(folder)
    assert logged >= saved
    # torchrun --max-restarts would run the same command again: it continues where it was saved.
    code, _, err = finish(
        torchrun("--run-dir", str(folder.path), *[a if a != "100000000" else str(saved + 6) for a in args])
    )
    assert code == 0, err
    state = read_run(folder)
    steps = state.history.steps().tolist()
    assert steps == list(range(2, saved + 7, 2))  # no step twice, none missing
    assert checkpoints.load(folder.latest_checkpoint())["step"] == saved + 6
    assert Path(folder.metrics_path).exists()


def test_more_processes_than_gpus_on_a_machine_is_refused_with_what_to_do(monkeypatch):
    """torchrun --nproc_per_node=2 on a one-GPU machine: the second process says how many GPUs
    there are and what to start instead, before any process group forms."""
    from ganstudio.core.train import distributed

    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("LOCAL_RANK", "1")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setattr(torch.cuda, "set_device", lambda d: pytest.fail("set_device on a missing GPU"))
    with pytest.raises(distributed.DistributedSetupError) as e:
        distributed.init_from_env("auto")
    assert "1 CUDA GPU(s)" in str(e.value)
    assert "--nproc_per_node=1" in str(e.value) and "train.device=cpu" in str(e.value)
