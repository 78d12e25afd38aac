"""The app's side for the integration tests: a run folder that appears under `out` is followed and
steered through its control file (pause, a live edit with resume, stop), as the window does."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch

from ganstudio.core.run.folder import RunFolder
from ganstudio.core.run.log import read_metrics
from ganstudio.core.run.steer import ControlFile

ROOT = Path(__file__).resolve().parents[2]
WAIT_S = 60.0
EDIT = {"optim.lr_g": 1e-3, "optim.lr_d": 5e-4}


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def wait_for(predicate: Callable[[], Any], timeout: float = WAIT_S) -> Any:
    end = time.monotonic() + timeout
    while not (value := predicate()):
        if time.monotonic() > end:
            raise AssertionError("timed out waiting")
        time.sleep(0.02)
    return value


def lines(folder: RunFolder, kind: str) -> list[dict]:
    try:
        return [r for r in read_metrics(folder.metrics_path) if r["event"] == kind]
    except FileNotFoundError:
        return []


def run_folder(out: Path) -> RunFolder:
    return RunFolder(wait_for(lambda: next(Path(out).glob("*/run.json"), None)).parent)


class App(threading.Thread):
    """Steers the run that appears under `out`: pause once stats come (and, given `step_of`, checks
    the loop stays at its step while paused), then the edit with resume, then stop. It asks for
    stop whatever happens, so a loop under test always ends; `check()` re-raises its failure."""

    def __init__(self, out: Path, step_of: Callable[[], int] | None = None, edit: dict = EDIT):
        super().__init__(daemon=True)
        self.out, self.step_of, self.edit = out, step_of, edit
        self.error: BaseException | None = None
        self.paused: dict = {}
        self.changed: dict = {}
        self.start()

    def run(self) -> None:
        control = None
        try:
            folder = run_folder(self.out)
            control = ControlFile(folder)
            wait_for(lambda: lines(folder, "stats"))
            control.request("pause")
            self.paused = wait_for(lambda: lines(folder, "paused"))[0]
            if self.step_of is not None:
                blocked = self.step_of()
                beat = folder.heartbeat_path
                wait_for(lambda: beat.exists() and json.loads(beat.read_text())["status"] == "paused")
                assert self.step_of() == blocked, "the loop went on while paused"
            control.request("set", values=self.edit)
            control.request("resume")
            self.changed = wait_for(lambda: lines(folder, "hparams"))[0]
            wait_for(lambda: lines(folder, "resumed"))
        except BaseException as e:
            self.error = e
        finally:
            if control is not None:
                control.request("stop")

    def check(self) -> None:
        self.join(WAIT_S)
        if self.error is not None:
            raise self.error
        assert self.changed["changes"]["optim.lr_g"] == [2e-4, 1e-3]
        # nothing ran between the pause and the edit: it applies at the step the loop paused at
        assert self.changed["step"] == self.paused["step"], (self.paused, self.changed)


def example(name: str):
    """examples/<name>.py as a module (examples/ is not a package)."""
    spec = importlib.util.spec_from_file_location(f"example_{name}", ROOT / "examples" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def torchrun(script: str, *args: str) -> subprocess.Popen:
    """examples/<script> on 2 CPU processes (Gloo), one torch thread each."""
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(
        [*cmd, str(ROOT / "examples" / script), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=ROOT,
    )


def ended(proc: subprocess.Popen) -> dict[int, str]:
    """{rank: its last line, "ended at step N, lr_g X lr_d Y"} once the job is over."""
    try:
        out, err = proc.communicate(timeout=WAIT_S)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err[-6000:]
    # (two processes share the pipe: a line may land in the middle of the other's)
    found = re.findall(r"rank (\d+): (ended at step \d+, lr_g \S+ lr_d [\d.e-]+)", out)
    assert len(found) == 2, out
    return {int(rank): said for rank, said in found}
