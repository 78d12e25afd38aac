"""Ctrl+C and SIGTERM on a real `ganstudio train` process: the step finishes, a checkpoint is
saved, the exit code says which signal it was; during start-up it just exits; a second Ctrl+C
during the final save never loses that save."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ganstudio.core.checkpoint import io as checkpoints
from ganstudio.core.run.folder import RunFolder
from ganstudio.core.run.log import read_metrics
from tests.core.conftest import ENDLESS, tiny_cli, wait_until

WAIT_S = 60.0
TRAIN = ["train", *tiny_cli(ENDLESS)[:-1], "--steps", "10000000"]


def _stats(folder: RunFolder) -> int:
    try:
        return sum(1 for r in read_metrics(folder.metrics_path) if r["event"] == "stats")
    except FileNotFoundError:
        return 0


def _start(args: list[str], **kw) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "ganstudio", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kw,
    )


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_signal_mid_training_saves_and_exits_with_its_code(tmp_path, signum, code):
    folder = RunFolder(tmp_path / "run")
    proc = _start([*TRAIN, "--run-dir", str(folder.path)])
    try:
        wait_until(lambda: _stats(folder) >= 5, "training")
        proc.send_signal(signum)
        out, err = proc.communicate(timeout=WAIT_S)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == code, err
    assert "Traceback" not in err and "stopping after this step" in err
    records = read_metrics(folder.metrics_path)
    assert records[-1]["event"] == "finished" and records[-1]["reason"] == "stopped"
    assert checkpoints.load(folder.latest_checkpoint())["step"] == records[-1]["step"]
    assert f"stopped at step {records[-1]['step']}" in out


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_during_start_up_exits_quietly(tmp_path, signum, code):
    """The process is held in start-up reading a --resume checkpoint that is a FIFO nobody writes
    yet: the signal lands there, before any training, for certain."""
    fifo = tmp_path / "slow.pt"
    os.mkfifo(fifo)
    out_dir = tmp_path / "runs"
    proc = _start([*TRAIN, "--resume", str(fifo), "--out", str(out_dir)])
    writer = None
    try:

        def reader_is_waiting() -> bool:
            nonlocal writer
            try:  # succeeds only once the process has the FIFO open for reading
                writer = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
                return True
            except OSError:
                return False

        wait_until(reader_is_waiting, "the process to open the checkpoint")
        time.sleep(0.2)
        proc.send_signal(signum)
        out, err = proc.communicate(timeout=WAIT_S)
    finally:
        if writer is not None:
            os.close(writer)
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == code, err
    assert "Traceback" not in err and ("interrupted" in err or "terminated" in err)
    assert not out_dir.exists() or not any(out_dir.iterdir())


SLOW_SAVE = """
import sys, time
from pathlib import Path
from ganstudio.core.checkpoint import io as checkpoints
real = checkpoints.save_atomic
marker = Path(sys.argv[1])
def slow(obj, path):
    if marker.parent.joinpath("stopping").exists():
        marker.write_text("saving")
        time.sleep(1.5)
    return real(obj, path)
checkpoints.save_atomic = slow
from ganstudio.cli import main
sys.exit(main(sys.argv[2:]))
"""


def test_a_second_ctrl_c_during_the_final_save_does_not_lose_it(tmp_path):
    folder = RunFolder(tmp_path / "run")
    marker = tmp_path / "saving"
    cmd = [sys.executable, "-c", SLOW_SAVE, str(marker), *TRAIN, "--run-dir", str(folder.path)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_until(lambda: _stats(folder) >= 3, "training")
        (tmp_path / "stopping").write_text("")
        proc.send_signal(signal.SIGINT)
        wait_until(marker.exists, "the final save to begin")
        proc.send_signal(signal.SIGINT)  # impatient
        out, err = proc.communicate(timeout=WAIT_S)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert "finishing it first" in err and "Traceback" not in err
    records = read_metrics(folder.metrics_path)
    final = checkpoints.load(folder.latest_checkpoint())
    assert final["step"] == records[-1]["step"] and records[-1]["event"] == "finished"
    assert not [p for p in Path(folder.checkpoints_dir).iterdir() if p.name.endswith(".tmp")]
