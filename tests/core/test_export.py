"""A run's curves out: `ganstudio export RUN --csv FILE / --tensorboard DIR`, and `log.tensorboard`
writing event files while training. TensorBoard's files are read back with TensorBoard's own
reader (EventAccumulator), not with the writer that made them."""

from __future__ import annotations

import csv
import math
import sys

import numpy as np
import pytest

from ganstudio.cli import EXIT_BAD_INPUT, EXIT_OK, main
from ganstudio.core.run.folder import RunFolder
from ganstudio.core.run.log import read_metrics, read_run

pytest.importorskip("tensorboard", reason="the test extra installs tensorboard")
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # noqa: E402

from tests.core.conftest import tiny_cli

TINY = tiny_cli()


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> RunFolder:
    """A 12-step run with metrics, samples, a checkpoint at 6, and (as a fork) a learning-rate
    change at step 6: every kind of thing an export writes."""
    out = tmp_path_factory.mktemp("export") / "runs"
    assert (
        main(
            [
                "train",
                "--steps",
                "6",
                "--out",
                str(out),
                "--set",
                "log.checkpoint_every=6",
                "--set",
                "log.name=parent",
                "--set",
                "metrics.every=0",
                *TINY,
            ]
        )
        == EXIT_OK
    )
    parent = RunFolder(next(out.iterdir()))
    assert (
        main(
            [
                "train",
                "--fork",
                str(parent.checkpoints.path_for(6)),
                "--steps",
                "12",
                "--set",
                "optim.lr_g=0.001",
                "--set",
                "log.name=run",
                "--set",
                "metrics.every=4",
                "--set",
                "metrics.samples=50",
                "--set",
                "log.sample_every=4",
                "--set",
                "log.tensorboard=true",
                *TINY,
            ]
        )
        == EXIT_OK
    )
    return RunFolder(next(p for p in out.iterdir() if p.name.endswith("-run")))


def _accumulator(path) -> EventAccumulator:
    acc = EventAccumulator(str(path), size_guidance={"scalars": 0, "images": 0, "tensors": 0})
    acc.Reload()
    return acc


def test_csv_has_a_row_per_logged_step_and_a_column_per_series(run, tmp_path, capsys):
    target = tmp_path / "out" / "curves.csv"
    assert main(["export", str(run.path), "--csv", str(target)]) == EXIT_OK
    assert f"{target}: " in capsys.readouterr().out
    with open(target, newline="") as f:
        rows = list(csv.reader(f))
    header, body = rows[0], rows[1:]
    h = read_run(run).history
    assert header[:5] == ["step", "epoch", "wall", "loss_d", "loss_g"]
    assert set(header[3:]) == set(h.keys) and "fd" in header
    assert [int(r[0]) for r in body] == h.steps().tolist()
    for key in ("loss_d", "fd", "lr_g"):
        column = [float(r[header.index(key)]) if r[header.index(key)] else math.nan for r in body]
        np.testing.assert_array_equal(column, h.series(key))  # exactly: repr() round-trips a float
    assert [r[header.index("fd")] for r in body if int(r[0]) == 10] == [""]  # no metric at step 10: empty


def _check_tensorboard(acc: EventAccumulator, run: RunFolder) -> None:
    records = read_metrics(run.metrics_path)
    stats = [r for r in records if r["event"] == "stats"]
    tags = acc.Tags()
    wanted = {"train/loss_d", "train/loss_g", "train/lr_g", "metrics/fd", "metrics/fd_std"}
    assert wanted <= set(tags["scalars"])
    loss = acc.Scalars("train/loss_d")
    assert [e.step for e in loss] == [r["step"] for r in stats]
    np.testing.assert_allclose([e.value for e in loss], [r["loss_d"] for r in stats], rtol=1e-6)  # float32
    metrics = [r for r in records if r["event"] == "metrics"]
    assert [e.step for e in acc.Scalars("metrics/fd")] == [r["step"] for r in metrics] == [8, 12]
    samples = [r["step"] for r in records if r["event"] == "samples"]
    images = acc.Images("samples")
    assert [e.step for e in images] == samples and images[0].width > 8  # a grid, not one digit
    (text,) = acc.Tensors("hyperparameters/text_summary")
    assert text.step == 6 and b"optim.lr_g: 0.0002 \xe2\x86\x92 0.001" in text.tensor_proto.string_val[0]


def test_tensorboard_export_reads_back_in_tensorboard(run, tmp_path, capsys):
    target = tmp_path / "tb"
    assert main(["export", str(run.path), "--tensorboard", str(target)]) == EXIT_OK
    assert "scalars" in capsys.readouterr().out
    acc = _accumulator(target / run.name)
    _check_tensorboard(acc, run)
    # Wall times are the run's: its start plus each point's logged training time.
    created = run.meta()["created"]
    first = read_metrics(run.metrics_path)[0]
    assert acc.Scalars("train/loss_d")[0].wall_time == pytest.approx(created + first["wall"])


def test_log_tensorboard_writes_event_files_while_training(run):
    assert run.tensorboard_dir.is_dir()
    _check_tensorboard(_accumulator(run.tensorboard_dir), run)  # the replayed parent part too


def test_export_errors_are_for_people(tmp_path, run, capsys, monkeypatch):
    assert main(["export", str(run.path)]) == EXIT_BAD_INPUT
    assert "--csv FILE and/or --tensorboard DIR" in capsys.readouterr().err
    assert main(["export", str(tmp_path / "nope"), "--csv", str(tmp_path / "x.csv")]) == EXIT_BAD_INPUT
    assert "is not a folder" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert main(["export", str(tmp_path / "empty"), "--csv", str(tmp_path / "x.csv")]) == EXIT_BAD_INPUT
    assert "has no metrics.jsonl" in capsys.readouterr().err
    # Without the tensorboard package: the command says how to install it.
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)
    assert main(["export", str(run.path), "--tensorboard", str(tmp_path / "tb")]) == EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert "needs the tensorboard package" in err and "Traceback" not in err


def test_log_tensorboard_without_the_package_refuses_to_start(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)
    out = tmp_path / "runs"
    args = ["train", "--steps", "2", "--out", str(out), "--set", "log.tensorboard=true", *TINY]
    assert main(args) == EXIT_BAD_INPUT
    assert "pip install" in capsys.readouterr().err
    assert not out.exists() or not any(out.iterdir())  # no folder left behind
