"""Every part of a checkpoint is checked against a fresh trainer before anything is loaded (issue #9).

An Adam state of another model's shapes used to load and then crash the fused kernel (SIGSEGV), a
sampler permutation could index past the data, and so on. Each corrupted file runs in a child
process, so that a crash shows as a signal naming the case instead of killing pytest.
"""

from __future__ import annotations

import copy
import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from ganstudio.core.checkpoint import io as checkpoints
from ganstudio.core.config import presets, validate, with_values
from tests.core.checkpoint_faults import CASES
from tests.core.conftest import new_trainer

ROOT = Path(__file__).resolve().parents[2]


def _how(returncode: int) -> str:
    if returncode < 0:
        return f"signal {signal.Signals(-returncode).name}"
    return f"exit code {returncode}"


@pytest.fixture(scope="module")
def part_results(tmp_path_factory) -> tuple[dict, str]:
    """Every CASES entry loaded in one child process: {case: record}, and how the child died, if it did."""
    folder = tmp_path_factory.mktemp("parts")
    proc = subprocess.run(
        [sys.executable, "-m", "tests.core.checkpoint_faults", "parts", str(folder)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    results, started = {}, None
    for line in proc.stdout.splitlines():
        rec = json.loads(line)
        if "refused" in rec:
            results[rec["case"]] = rec
        else:
            started = rec["case"]
    died = (
        ""
        if proc.returncode == 0
        else (
            f"the child process ended with {_how(proc.returncode)} in case {started!r}:\n"
            f"{proc.stderr[-3000:]}"
        )
    )
    return results, died


@pytest.mark.parametrize("case", list(CASES))
def test_each_part_is_checked_before_loading(case, part_results):
    results, died = part_results
    assert case in results, died or f"no result for {case}"
    rec, words = results[case], CASES[case][1]
    if words is None:
        assert rec["refused"] is None, rec["refused"]  # the untouched file resumes and trains
        return
    msg = rec["refused"]
    assert msg is not None, f"{case}: the corrupted checkpoint was loaded and trained on"
    assert rec["path"] in msg and words in msg, msg


def test_refusals_leave_the_running_trainer_alone(part_results):
    results, died = part_results
    assert results.get("running trainer untouched", {}).get("refused") == "yes", died


# --- the reproduction from the issue: ganstudio train --resume on another model's Adam state ---------


def _default_digits(width: int = 0):
    return validate(
        with_values(
            presets.get("digits"),
            {"train.device": "cpu", "train.threads": 1, "metrics.every": 0, "model.width": width},
        )
    )


@pytest.fixture(scope="module")
def default_state() -> dict:
    """The default digits model's checkpoint after one step."""
    t = new_trainer(_default_digits())
    t.train_step()
    return t.state_dict()


def _width_32(ck: dict) -> str:
    other = new_trainer(_default_digits(32))
    other.train_step()
    ck["optimizers"] = other.state_dict()["optimizers"]
    return (
        "optimizers.G state of parameter 0 (net.0.weight) exp_avg has shape (32, 100), "
        "the model's is (64, 100)"
    )


def _larger(ck: dict) -> str:
    state = ck["optimizers"]["G"]["state"]
    state[len(state)] = copy.deepcopy(state[0])  # accepted before: load_state_dict keeps it aside
    return f"optimizers.G has state for parameter {len(state) - 1}, but the model has only"


@pytest.mark.parametrize("make", [_width_32, _larger], ids=["width 32", "larger state"])
def test_resume_refuses_another_models_optimizer_state(make, default_state, tmp_path):
    ck = copy.deepcopy(default_state)
    words = make(ck)
    path = checkpoints.save_atomic(ck, tmp_path / "swapped.pt")  # a valid digest: only the check can tell
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "ganstudio",
            "train",
            "--resume",
            str(path),
            "--out",
            str(tmp_path / "runs"),
            "--steps",
            "3",
            "--quiet",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert proc.returncode == 2, f"{_how(proc.returncode)}:\n{proc.stderr[-3000:]}"
    assert str(path) in proc.stderr and words in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr
    assert not list((tmp_path / "runs").glob("*")), "a refused resume leaves no run folder"
