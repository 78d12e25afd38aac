"""`ganstudio train --fork CKPT`: a new run that continues a checkpoint exactly, with changed keys,
recording its parent; a fork of a fork too."""

from __future__ import annotations

import json

import pytest
import torch

from ganstudio.cli import EXIT_BAD_INPUT, EXIT_OK, main
from ganstudio.core.checkpoint import io as checkpoints
from ganstudio.core.run.folder import RunFolder
from ganstudio.core.run.log import read_metrics, read_run
from tests.core.conftest import tiny_cli

TINY = tiny_cli({"metrics.every": 0, "log.sample_every": 0})


@pytest.fixture
def parent(tmp_path):
    out = tmp_path / "runs"
    args = ["train", "--steps", "12", "--out", str(out), "--set", "log.checkpoint_every=6", *TINY]
    assert main(args) == EXIT_OK
    (run,) = [p for p in out.iterdir() if p.is_dir()]
    return RunFolder(run)


def _children(parent: RunFolder) -> list[RunFolder]:
    others = (RunFolder(p) for p in parent.path.parent.iterdir() if p != parent.path)
    return sorted(others, key=lambda f: f.name)


def _weights(folder: RunFolder) -> dict:
    return checkpoints.load(folder.latest_checkpoint())["models"]["G"]


def test_a_fork_with_no_change_is_the_parents_continuation(parent, capsys):
    ckpt = parent.checkpoints.path_for(6)
    assert main(["train", "--fork", str(ckpt), "--steps", "12", *TINY]) == EXIT_OK
    (child,) = _children(parent)
    # Beside its parent, which it records.
    assert child.path.parent == parent.path.parent
    meta = child.meta()["parent"]
    assert meta["kind"] == "fork" and meta["step"] == 6 and meta["run"] == str(parent.path.resolve())
    # Named after its parent, told apart from it in the runs list and the plots' legend.
    assert read_run(child).config.log.name == "digits-mlp-nonsaturating-fork"
    assert child.name.endswith("digits-mlp-nonsaturating-fork")
    for key, value in _weights(parent).items():  # exactly, on the CPU
        assert torch.equal(value, _weights(child)[key]), key
    # Its history: the parent's up to the fork step, then its own.
    assert read_run(child).history.steps().tolist() == list(range(2, 13, 2))
    capsys.readouterr()


def test_a_fork_with_other_keys_differs_and_says_where(parent, capsys):
    ckpt = parent.checkpoints.path_for(6)
    args = ["train", "--fork", str(ckpt), "--steps", "12", "--set", "optim.lr_g=0.005", *TINY]
    assert main(args) == EXIT_OK
    (child,) = _children(parent)
    assert any(not torch.equal(v, _weights(child)[k]) for k, v in _weights(parent).items())
    (change,) = [r for r in read_metrics(child.metrics_path) if r["event"] == "hparams"]
    assert change == {"event": "hparams", "step": 6, "changes": {"optim.lr_g": [0.0002, 0.005]}}
    state = read_run(child)
    assert state.config.optim.lr_g == 0.005
    assert [m.kind for m in state.history.markers if m.step == 6] == ["hparams"]
    capsys.readouterr()


def test_a_new_seed_changes_the_noise_not_the_data_order(parent, capsys):
    ckpt = parent.checkpoints.path_for(6)
    assert main(["train", "--fork", str(ckpt), "--steps", "7", "--set", "train.seed=9", *TINY]) == EXIT_OK
    (child,) = _children(parent)
    mine = checkpoints.load(child.latest_checkpoint())
    base = checkpoints.load(ckpt)
    assert torch.equal(mine["sampler"]["perm"], base["sampler"]["perm"])  # the same data order
    assert not torch.equal(mine["rng"]["noise"], base["rng"]["noise"])
    assert checkpoints.config_of(mine).train.seed == 9
    capsys.readouterr()


@pytest.mark.parametrize(
    "key", ["model.width=16", "data.dataset=ring8", "train.batch_size=8", "data.channels=3"]
)
def test_a_fork_that_would_change_shapes_is_refused_by_key(parent, capsys, key):
    ckpt = parent.checkpoints.path_for(6)
    before = set(parent.path.parent.iterdir())
    assert main(["train", "--fork", str(ckpt), *TINY, "--set", key]) == EXIT_BAD_INPUT
    err = capsys.readouterr().err
    name = key.split("=")[0]
    assert name in err and "a fork can change" in err and "Traceback" not in err
    assert set(parent.path.parent.iterdir()) == before  # no folder left behind


def test_a_fork_of_a_fork(parent, capsys):
    assert (
        main(
            [
                "train",
                "--fork",
                str(parent.checkpoints.path_for(6)),
                "--steps",
                "10",
                "--set",
                "log.checkpoint_every=4",
                "--set",
                "log.name=child",
                *TINY,
            ]
        )
        == EXIT_OK
    )
    (child,) = _children(parent)
    grand_ckpt = child.checkpoints.path_for(8)
    assert (
        main(
            [
                "train",
                "--fork",
                str(grand_ckpt),
                "--steps",
                "10",
                "--set",
                "log.name=grandchild",
                "--set",
                "loss.kind=hinge",
                *TINY,
            ]
        )
        == EXIT_OK
    )
    grand = next(f for f in _children(parent) if f.name.endswith("grandchild"))
    meta = json.loads(grand.meta_path.read_text())["parent"]
    assert meta["run"] == str(child.path.resolve()) and meta["step"] == 8
    state = read_run(grand)
    assert state.history.steps().tolist() == list(range(2, 11, 2))  # grandparent, parent, own
    assert state.config.loss.kind == "hinge"
    capsys.readouterr()


def test_fork_takes_no_resume_or_run_dir(parent, tmp_path, capsys):
    ckpt = str(parent.checkpoints.path_for(6))
    assert main(["train", "--fork", ckpt, "--resume", ckpt]) == EXIT_BAD_INPUT
    assert main(["train", "--fork", ckpt, "--run-dir", str(tmp_path / "x")]) == EXIT_BAD_INPUT
    assert "--fork makes a new run" in capsys.readouterr().err
