"""Your own loop as a GAN Studio run (ganstudio.init, core/api): what it writes, how it is steered
through the folder's control file, and that nothing it meets stops the loop."""

from __future__ import annotations

import errno
import json
import math
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import torch

import ganstudio
from ganstudio.core.api import GanStudioWarning
from ganstudio.core.config import ConfigError
from ganstudio.core.run import log as runlog
from ganstudio.core.run.log import read_metrics, read_run
from ganstudio.core.run.steer import ControlFile

ROOT = Path(__file__).resolve().parents[2]
WAIT_S = 30.0


def wait_until(predicate, timeout: float = WAIT_S) -> None:
    end = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > end:
            raise AssertionError("timed out waiting")
        time.sleep(0.01)


def lines(run, kind: str | None = None) -> list[dict]:
    if run._writer is not None:
        run._writer.drain()  # what the loop queued, written now (the writer's thread does it every 50 ms)
    recs = read_metrics(run.folder.metrics_path)
    return [r for r in recs if kind is None or r["event"] == kind]


def heartbeat(run) -> dict:
    return json.loads(run.folder.heartbeat_path.read_text())


class Loop:
    """A hand-written loop on its own thread, logging every step until tick says stop."""

    def __init__(self, run, opt=None, sleep: float = 0.002):
        self.run, self.opt, self.sleep = run, opt, sleep
        self.step = 0
        self.lrs: list[float] = []
        self.thread = threading.Thread(target=self._body, daemon=True)
        self.thread.start()

    def _body(self) -> None:
        with self.run:
            while True:
                self.step += 1
                if self.opt is not None:
                    self.lrs.append(self.opt.param_groups[0]["lr"])
                self.run.log(self.step, loss_d=torch.tensor(0.7), loss_g=0.69)
                time.sleep(self.sleep)
                if not self.run.tick(self.step):
                    return

    def join(self) -> None:
        self.thread.join(WAIT_S)
        assert not self.thread.is_alive()


@pytest.fixture
def make(tmp_path):
    runs = []

    def make(**kw):
        kw.setdefault("out", tmp_path)
        kw.setdefault("name", "loop")
        run = ganstudio.init(**kw)
        runs.append(run)
        return run

    yield make
    for run in runs:
        run.control.stop()
        run.finish()


def test_import_ganstudio_loads_neither_qt_nor_torch_and_is_quick():
    code = (
        "import sys, time; t = time.perf_counter(); import ganstudio; t = time.perf_counter() - t; "
        "print(t, 'torch' in sys.modules, any(m.startswith('PySide6') for m in sys.modules)); "
        "ganstudio.init; print('torch' in sys.modules, any(m.startswith('PySide6') for m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    first, second = out.stdout.split("\n")[:2]
    seconds, torch_loaded, qt_loaded = first.split()
    assert float(seconds) < 0.2 and torch_loaded == qt_loaded == "False"
    assert second == "False False"  # the API itself needs neither until the loop hands it a tensor


def test_log_keeps_tensors_and_reads_them_in_one_batch_per_interval(make, monkeypatch):
    run = make(config={"log.every": 5})
    stacks = []
    real_stack = torch.stack
    monkeypatch.setattr(torch, "stack", lambda ts, *a, **k: stacks.append(len(ts)) or real_stack(ts, *a, **k))
    for step in range(1, 13):
        run.log(step, loss_d=torch.tensor(0.5 + step), loss_g=torch.tensor([2.0]), mine=float(step))
        assert run.tick(step)
    assert stacks == [10, 10]  # one batch per interval, two tensors a step; nothing read per call
    run.finish()
    stats = lines(run, "stats")
    assert [r["step"] for r in stats] == [5, 10, 12]  # steps 11-12 at finish
    assert stats[0]["loss_d"] == 3.5 and stats[0]["loss_g"] == 2.0 and stats[0]["mine"] == 3.0  # means
    assert stacks == [10, 10, 4]
    state = read_run(run.folder)  # the app's reader: a run like its own
    assert state.status == "finished" and state.history.series("loss_d")[-1] == 12.0
    assert heartbeat(run)["status"] == "finished" and heartbeat(run)["host"]


def test_a_bad_value_in_log_is_a_warning_and_an_alert_once_and_the_loop_goes_on(make):
    run = make(config={"log.every": 1})
    with pytest.warns(GanStudioWarning) as told:
        run.log(1, loss_d="high", loss_g=1.0, many=torch.zeros(3))
        run.log(2, loss_d="high", loss_g=1.0)  # told once
        run.log_images(2, torch.zeros(3, 5))
    assert len(told) == 3 and "loss_d=...) at step 1 was left out: str 'high'" in str(told[0].message)
    assert told[0].filename == __file__  # pointing at the loop's line
    run.finish()
    alerts = [r for r in lines(run, "alert") if r["kind"] == "log"]
    assert len(alerts) == 3 and "shape (3,)" in alerts[1]["message"] and "log_images" in alerts[2]["message"]
    assert [r["loss_g"] for r in lines(run, "stats")] == [1.0, 1.0]


def test_images_and_points_are_samples_of_the_run(make):
    run = make()
    run.log_images(3, torch.rand(16, 1, 8, 8) * 2 - 1)
    run.log_images(4, torch.randn(100, 2))
    run.finish()
    samples = lines(run, "samples")
    assert [r["step"] for r in samples] == [3, 4]
    assert all((run.folder.path / r["file"]).exists() for r in samples)


def test_pause_step_resume_and_stop_from_the_control_file(make):
    run = make()
    loop = Loop(run)
    control = ControlFile(run.folder)
    wait_until(lambda: loop.step > 3)
    control.request("pause")
    wait_until(lambda: lines(run, "paused"))
    blocked = loop.step
    wait_until(lambda: heartbeat(run)["status"] == "paused")  # within a beat (2 s)
    assert loop.step == blocked  # the loop blocks in tick
    control.request("step", n=1)
    wait_until(lambda: len(lines(run, "paused")) == 2)
    assert loop.step == blocked + 1
    control.request("resume")
    wait_until(lambda: loop.step > blocked + 5)
    assert lines(run, "resumed")
    control.request("stop")
    loop.join()
    end = lines(run)[-1]
    assert end == {"event": "finished", "step": loop.step, "reason": "stopped"}
    assert read_run(run.folder).status == "stopped"


def test_live_edits_reach_the_optimizer_the_config_and_on_change(make):
    seen = []
    opt = torch.optim.Adam([torch.nn.Parameter(torch.zeros(2))], lr=2e-4, betas=(0.5, 0.999))
    run = make(config={"my.weight": 10.0, "my.kind": "a"}, live=["my.weight"], on_change=seen.append)
    run.watch(g_optimizer=opt)
    assert run.config["optim.lr_g"] == 2e-4  # the optimizer's own, shown as the key's value
    loop = Loop(run, opt)
    control = ControlFile(run.folder)
    control.request("set", values={"optim.lr_g": 1e-3, "optim.beta1": 0.0, "my.weight": 3})
    wait_until(lambda: lines(run, "hparams"))
    wait_until(lambda: loop.lrs and loop.lrs[-1] == 1e-3)
    assert opt.param_groups[0]["betas"] == (0.0, 0.999)
    assert run.config["my.weight"] == 3.0 and isinstance(run.config["my.weight"], float)
    assert seen == [{"optim.lr_g": 1e-3, "optim.beta1": 0.0, "my.weight": 3.0}]
    assert seen[0] and threading.current_thread() is not loop.thread  # (on_change ran on the loop's)
    change = lines(run, "hparams")[0]
    assert change["changes"]["my.weight"] == [10.0, 3.0]
    assert run.folder.load_config().optim.lr_g == 1e-3  # config.toml: what the app's fields show
    assert run.folder.meta()["loop"]["values"] == {"my.kind": "a", "my.weight": 3.0}

    for refused in ({"model.width": 64}, {"my.kind": "b"}, {"my.weight": "x"}, {"optim.lr_d": -1.0}):
        control.request("set", values=refused)
    wait_until(lambda: len([r for r in lines(run, "alert") if r["kind"] == "config"]) == 4)
    messages = [r["message"] for r in lines(run, "alert") if r["kind"] == "config"]
    assert "model.width cannot change while training runs" in messages[0]
    assert "my.kind is not live" in messages[1] and "live=['my.kind']" in messages[1]
    assert "my.weight = 'x' is not a finite number" in messages[2]
    assert "optim.lr_d" in messages[3]
    assert len(seen) == 1 and run.config["my.kind"] == "a"
    stats = lines(run, "stats")
    assert stats[-1]["lr_g"] == 1e-3  # the watched optimizer's rate is logged
    control.request("stop")
    loop.join()


def test_on_change_raising_is_told_and_the_loop_goes_on(make):
    def broken(changes):
        raise RuntimeError("oops")

    run = make(config={"my.x": 1}, live=["my.x"], on_change=broken)
    with pytest.warns(GanStudioWarning, match="on_change raised RuntimeError: oops"):
        assert run.apply({"my.x": 2}) == {"my.x": 2}
    assert run.config["my.x"] == 2 and run.tick(1)


def test_keys_are_checked_at_init():
    with pytest.raises(ConfigError) as e:
        ganstudio.init(
            out="unused", config={"optim.lr_gg": 1e-3, "optim.lr_d": -1, "my.f": [1, 2]}, live=["z"]
        )
    text = "\n".join(e.value.problems)
    assert "did you mean 'optim.lr_g'" in text and "my.f" in text and "'z' has no starting value" in text
    assert not Path("unused").exists()


def test_save_calls_the_loop_s_function_inside_tick_or_is_refused(make):
    run = make()
    loop = Loop(run)
    control = ControlFile(run.folder)
    control.request("save")
    wait_until(lambda: lines(run, "checkpoint_failed"))
    assert "registered no save function" in lines(run, "checkpoint_failed")[0]["message"]
    threads = []

    def save(step):
        threads.append(threading.current_thread())
        path = run.folder.path.parent / f"mine-{step}.pt"
        path.write_bytes(b"x")
        return path

    run.on_save(save)
    control.request("save")
    wait_until(lambda: lines(run, "checkpoint"))
    saved = lines(run, "checkpoint")[0]
    assert threads == [loop.thread] and saved["manual"] and Path(saved["path"]).exists()
    assert run.folder.meta()["loop"]["save"] is True
    control.request("stop")
    loop.join()


def test_an_exception_marks_the_run_failed_and_ctrl_c_stopped(make):
    run = make()
    with pytest.raises(ValueError), run:
        run.log(1, loss_d=1.0)
        run.tick(1)
        raise ValueError("the loop's bug")
    failed = lines(run, "failed")[0]
    assert failed["message"] == "ValueError: the loop's bug" and "the loop's bug" in failed["traceback"]
    assert heartbeat(run)["status"] == "failed" and read_run(run.folder).status == "failed"
    other = make(name="other")
    with pytest.raises(KeyboardInterrupt), other:
        raise KeyboardInterrupt
    assert read_run(other.folder).status == "stopped"


def test_a_script_that_never_calls_finish_ends_its_run(tmp_path):
    script = (
        "import sys, ganstudio; run = ganstudio.init(out=sys.argv[1], name=sys.argv[2]); "
        "run.log(1, loss_d=1.0); run.tick(1)\nif sys.argv[2] == 'crash': raise SystemError('boom')"
    )
    for name in ("ok", "crash"):
        subprocess.run([sys.executable, "-c", script, str(tmp_path), name], cwd=ROOT, capture_output=True)
    ok, crash = (next(tmp_path.glob(f"*-{n}")) for n in ("ok", "crash"))
    assert read_metrics(ok / "metrics.jsonl")[-1]["reason"] == "completed"
    assert read_metrics(crash / "metrics.jsonl")[-1]["message"] == "SystemError: boom"


def test_a_deleted_run_folder_is_a_warning_and_the_loop_goes_on(make):
    run = make(config={"log.every": 1})
    run.log(1, loss_d=1.0)
    with pytest.warns(GanStudioWarning, match="was deleted or moved"):
        shutil.rmtree(run.folder.path)
        for step in range(2, 6):
            run.log(step, loss_d=1.0)
            run.log_images(step, torch.zeros(4, 1, 8, 8))
            assert run.tick(step)
        run.flush()
    run.finish()
    assert not run.folder.path.exists()  # nothing made it again


def test_a_full_disk_is_a_warning_the_loop_goes_on_and_the_log_resumes(make, monkeypatch):
    run = make(config={"log.every": 1})
    run.log(1, loss_d=1.0)
    run.flush()
    real_write = os.write
    full = [True]

    def write(fd, data):
        if full[0] and fd == run._writer.writer._fd:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(fd, data)

    monkeypatch.setattr(runlog.os, "write", write)
    monkeypatch.setattr("ganstudio.core.api.writer.RETRY_S", 0.2)
    with pytest.warns(GanStudioWarning, match="the disk is full"):
        for step in range(2, 30):
            run.log(step, loss_d=1.0)
            assert run.tick(step)
        run.flush()
    full[0] = False
    time.sleep(0.25)
    with pytest.warns(GanStudioWarning, match="stats lines from step 3 on were not written"):
        run.log(30, loss_d=1.0)
        run.flush()
    run.log(31, loss_d=1.0)
    run.finish()
    steps = [r["step"] for r in lines(run, "stats")]
    assert steps[:2] == [1, 2] and steps[-2:] == [30, 31]  # the line that failed first is kept
    assert any("stats lines from step 3" in r["message"] for r in lines(run, "alert"))


@pytest.mark.parametrize("policy", ["warn", "pause", "stop"])
def test_a_nan_follows_the_loop_s_policy(make, policy):
    run = make(on_nan=policy, config={"log.every": 100})
    assert run.tick(1)
    if policy == "pause":
        run.log(2, loss_d=1.0, loss_g=math.nan)  # a Python float: seen at once
        result = []
        t = threading.Thread(target=lambda: result.append(run.tick(2)), daemon=True)
        t.start()
        wait_until(lambda: lines(run, "paused"))
        assert t.is_alive()  # blocked in tick, paused with the reason
        assert "loss_g became NaN" in lines(run, "paused")[0]["reason"]
        ControlFile(run.folder).request("resume")
        t.join(WAIT_S)
        assert result == [True]
        return
    with pytest.warns(GanStudioWarning, match="loss_g became NaN"):
        run.log(2, loss_d=1.0, loss_g=math.nan)
    run.log(3, loss_g=torch.tensor(math.inf))  # the same episode: told once
    run.flush()
    assert run.tick(3) is (policy == "warn")
    assert [r["kind"] for r in lines(run, "alert")] == ["nan"]
    run.log(4, loss_g=1.0)
    run.flush()  # a finite interval ends the episode
    with pytest.warns(GanStudioWarning, match="loss_g became NaN"):
        run.log(5, loss_g=torch.tensor(math.nan))  # a tensor: seen when read, at the flush
        run.flush()
    assert [r["kind"] for r in lines(run, "alert")] == ["nan", "nan"]


def test_health_alerts_use_the_app_s_thresholds(make):
    run = make(config={"log.every": 1, "health.d_wins_window": 3})
    for step in range(1, 6):
        run.log(step, loss_d=0.01, d_real=0.99, d_fake=0.01)
    run.finish()
    alerts = [r for r in lines(run, "alert") if r["kind"] == "d_wins"]
    assert len(alerts) == 1 and alerts[0]["step"] == 3


def test_the_tutorial_example_runs(tmp_path):
    proc = subprocess.run(
        [
            sys.executable,
            str(ROOT / "examples" / "tutorial_loop.py"),
            "--steps",
            "60",
            "--out",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert proc.returncode == 0, proc.stderr
    assert "done: 60 steps" in proc.stdout
    (folder,) = [p for p in tmp_path.iterdir() if p.name.endswith("tutorial-loop")]
    state = read_run(ganstudio.core.run.folder.RunFolder(folder))
    assert state.status == "finished" and state.step == 60
    assert state.history.steps().tolist() == [10, 20, 30, 40, 50, 60]  # every log.every steps
    assert state.config.train.steps == 60 and state.config.optim.lr_g == 2e-4
    assert {"loss_d", "loss_g", "d_real", "d_fake", "lr_g", "lr_d"} <= set(state.history.keys)
    assert state.latest_samples is not None and state.latest_samples.step == 60
