"""`ganstudio import`: a TensorBoard log or a CSV becomes a run folder that reads like any other; GAN
Studio's own exports come back as the same curves; bad input is one message, and nothing is left."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from ganstudio.cli import EXIT_BAD_INPUT, EXIT_OK, main
from ganstudio.core.metrics.tabs import rest_keys
from ganstudio.core.run import importer
from ganstudio.core.run.folder import RunFolder
from ganstudio.core.run.listing import IMPORTED, RunScanner, describe
from ganstudio.core.run.log import read_run
from ganstudio.core.run.state import FINISHED

pytest.importorskip("tensorboard", reason="the test extra installs tensorboard")
from torch.utils.tensorboard import SummaryWriter  # noqa: E402

from tests.core.conftest import tiny_cli  # noqa: E402


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> RunFolder:
    """An 8-step run with stats, quality metrics every 4 steps and sample grids."""
    out = tmp_path_factory.mktemp("import") / "runs"
    args = ["train", "--steps", "8", "--out", str(out), "--set", "metrics.every=4"]
    args += ["--set", "metrics.samples=50", "--set", "log.sample_every=4", *tiny_cli()]
    assert main(args) == EXIT_OK
    return RunFolder(next(out.iterdir()))


def _only_run(out) -> RunFolder:
    (path,) = [p for p in out.iterdir()]
    return RunFolder(path)


def _same_curves(a: RunFolder, b: RunFolder, rtol: float, system: bool = False) -> None:
    ha, hb = read_run(a).history, read_run(b).history
    assert hb.steps().tolist() == ha.steps().tolist()
    # The stats and quality metrics, and with `system` the system readings on the same points.
    keys = {k for k in ha.keys if system or not k.startswith("system.")}
    assert keys == {k for k in hb.keys if system or not k.startswith("system.")}
    assert {"fd", "fd_std", "loss_d", "lr_g"} <= keys
    assert not system or {"system.rss_mb.rank0", "system.cpu_percent.rank0"} <= keys
    for key in keys:
        np.testing.assert_allclose(hb.series(key), ha.series(key), rtol=rtol, err_msg=key)  # NaN == NaN


def _is_imported(folder: RunFolder, kind: str, source) -> None:
    meta = folder.meta()
    assert meta["imported"] == {"from": str(source.absolute()), "kind": kind}
    assert not folder.config_path.exists() and not folder.latest_checkpoint()
    state = read_run(folder)
    assert state.status == FINISHED and state.config is None
    info = describe(folder.path)
    assert (info.status, info.arch, info.problem) == (FINISHED, IMPORTED, "")
    assert info.note.startswith(f"imported from {source.absolute()}")


def test_a_tensorboard_export_imports_back_as_the_same_curves(run, tmp_path, capsys):
    assert main(["export", str(run.path), "--tensorboard", str(tmp_path / "tb")]) == EXIT_OK
    out = tmp_path / "imported"
    # The folder given to `export --tensorboard`: the run's subfolder in it is found.
    assert main(["import", str(tmp_path / "tb"), "--out", str(out)]) == EXIT_OK
    printed = capsys.readouterr().out
    folder = _only_run(out)
    assert str(folder.path) in printed and "sample grids" in printed
    _same_curves(run, folder, rtol=1e-6, system=True)  # TensorBoard keeps float32
    _is_imported(folder, "tensorboard", tmp_path / "tb")
    # Metrics stay metrics (the listing's metric column reads them), grids stay grids, pixel for pixel.
    name, value = describe(run.path).metric
    assert describe(folder.path).metric == (name, pytest.approx(value, rel=1e-6))
    grids = [(s, run.read_samples(p, False)["grid"]) for s, p in run.sample_timeline()]
    back = [(s, folder.read_samples(p, False)["grid"]) for s, p in folder.sample_timeline()]
    assert [s for s, _ in back] == [s for s, _ in grids] and len(grids) >= 2
    for (_, g), (_, h) in zip(grids, back, strict=True):
        np.testing.assert_array_equal(h[..., :1] if g.shape[2] == 1 else h, g)


def test_a_csv_export_imports_back_as_the_same_curves(run, tmp_path):
    assert main(["export", str(run.path), "--csv", str(tmp_path / "curves.csv")]) == EXIT_OK
    out = tmp_path / "imported"
    assert main(["import", str(tmp_path / "curves.csv"), "--out", str(out), "--name", "again"]) == EXIT_OK
    folder = _only_run(out)
    assert folder.path.name.endswith("-again") and folder.meta()["name"] == "again"
    _same_curves(run, folder, rtol=0)  # repr() round-trips a float exactly
    h, back = read_run(run).history, read_run(folder).history
    np.testing.assert_array_equal(back.walls(), h.walls())
    np.testing.assert_array_equal(back.epochs(), h.epochs())
    _is_imported(folder, "csv", tmp_path / "curves.csv")


def test_foreign_tags_keep_their_names_and_are_drawn_in_the_logged_tab(tmp_path):
    logdir = tmp_path / "lightning" / "version_0"
    with SummaryWriter(str(logdir)) as w:
        for step in range(0, 30, 10):
            w.add_scalar("Loss/D", 1.0 / (step + 1), step)
            w.add_scalar("train/g_loss", 2.0 + step, step)
            w.add_scalar("epoch", step // 10, step)
            w.add_image("fake_images", np.full((3, 4, 6), step, np.uint8), step)
            w.add_image("real", np.zeros((3, 4, 6), np.uint8), step)
    out = tmp_path / "runs"
    done = importer.import_run(tmp_path / "lightning", out)
    state = read_run(done.folder)
    assert set(state.history.keys) == {"Loss/D", "train/g_loss"}
    assert rest_keys(state.history.keys) == ["Loss/D", "train/g_loss"]  # the plots' Logged tab
    assert state.history.steps().tolist() == [0, 10, 20]
    np.testing.assert_allclose(state.history.series("train/g_loss"), [2.0, 12.0, 22.0])
    np.testing.assert_allclose(state.history.epochs(), [0, 1, 2])
    timeline = done.folder.sample_timeline()
    assert [s for s, _ in timeline] == [0, 10, 20]
    assert done.folder.read_samples(timeline[1][1], False)["grid"][0, 0].tolist() == [10, 10, 10]
    assert any("'real'" in n for n in done.notes)  # which image tag was left out, and said
    assert done.folder.path.name.endswith("-lightning")


def test_subfolders_of_a_log_are_one_run_with_their_names_as_prefixes(tmp_path):
    for sub, value in (("train", 1.0), ("validation", 2.0)):  # Keras writes logs/train, logs/validation
        with SummaryWriter(str(tmp_path / "logs" / sub)) as w:
            w.add_scalar("epoch_loss", value, 1)
    done = importer.import_run(tmp_path / "logs", tmp_path / "runs")
    h = read_run(done.folder).history
    assert sorted(h.keys) == ["train/epoch_loss", "validation/epoch_loss"]
    assert h.series("validation/epoch_loss").tolist() == [2.0]


def test_a_csv_of_your_own_skips_blank_cells_and_text_columns(tmp_path):
    src = tmp_path / "log.csv"
    src.write_text("Step,acc,phase,loss\n1,0.5,train,\n2,,train,0.25\n\n3,0.75,eval,0.125\n")
    done = importer.import_run(src, tmp_path / "runs")
    h = read_run(done.folder).history
    assert h.steps().tolist() == [1, 2, 3] and sorted(h.keys) == ["acc", "loss"]
    np.testing.assert_array_equal(h.series("acc"), [0.5, np.nan, 0.75])
    np.testing.assert_array_equal(h.series("loss"), [np.nan, 0.25, 0.125])
    assert any("phase" in n for n in done.notes)
    # TensorBoard's own "Download CSV": absolute wall times become training time from the start.
    src.write_text("Wall time,Step,Value\n1700000000.5,0,1.0\n1700000010.5,5,0.5\n")
    h = read_run(importer.import_run(src, tmp_path / "runs").folder).history
    assert h.walls().tolist() == [0.0, 10.0] and h.series("Value").tolist() == [1.0, 0.5]


def _events_file(tmp_path):
    with SummaryWriter(str(tmp_path / "good")) as w:
        for step in range(20):
            w.add_scalar("loss", float(step), step)
    (path,) = (tmp_path / "good").iterdir()
    return path


def _bad_inputs(tmp_path) -> dict[str, tuple]:
    (tmp_path / "no_events").mkdir()
    (tmp_path / "no_events" / "notes.txt").write_text("hello")
    (tmp_path / "nostep.csv").write_text("epoch,loss\n1,0.5\n")
    (tmp_path / "badstep.csv").write_text("step,loss\n1,0.5\ntwo,0.4\n")
    (tmp_path / "empty.csv").write_text("")
    (tmp_path / "corrupt").mkdir()
    data = bytearray(_events_file(tmp_path).read_bytes())
    data[60:70] = b"\xff" * 10
    (tmp_path / "corrupt" / "events.out.tfevents.1.host").write_bytes(bytes(data))
    (tmp_path / "a_file").write_text("in the way")
    csv = tmp_path / "ok.csv"
    csv.write_text("step,loss\n1,0.5\n")
    return {
        "missing": (tmp_path / "nope", "does not exist"),
        "no events": (tmp_path / "no_events", "holds no TensorBoard events files"),
        "no step column": (tmp_path / "nostep.csv", "has no 'step' column"),
        "non-numeric step": (tmp_path / "badstep.csv", "line 3: the step is 'two'"),
        "empty": (tmp_path / "empty.csv", "is empty"),
        "corrupt": (tmp_path / "corrupt", "is damaged at byte"),
        "out not writable": (csv, "cannot write in", tmp_path / "a_file" / "runs"),
    }


@pytest.mark.parametrize(
    "case",
    ["missing", "no events", "no step column", "non-numeric step", "empty", "corrupt", "out not writable"],
)
def test_bad_input_is_one_message_and_leaves_nothing(tmp_path, capsys, case):
    source, words, *out = _bad_inputs(tmp_path)[case]
    out = out[0] if out else tmp_path / "runs"
    assert main(["import", str(source), "--out", str(out)]) == EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert words in err and "Traceback" not in err and err.count("\n") == 1
    assert not out.exists() or not list(out.iterdir())


def test_usage_errors_exit_2(tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        main(["import", str(tmp_path)])  # no --out
    assert e.value.code == 2 and "--out" in capsys.readouterr().err
    assert main(["import", str(_events_file(tmp_path)), "--out", str(tmp_path / "r"), "--name", "a/b"]) == 2
    assert "without slashes" in capsys.readouterr().err


def test_a_write_that_fails_midway_leaves_no_folder(tmp_path, monkeypatch):
    """Written under a hidden name and renamed when whole: a failure removes what was written."""
    src = tmp_path / "log.csv"
    src.write_text("step,loss\n1,0.5\n2,0.25\n")

    def full(*_args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(importer, "_write_log", full)
    with pytest.raises(importer.ImportProblem, match="the disk is full"):
        importer.import_run(src, tmp_path / "runs")
    assert os.listdir(tmp_path / "runs") == []


def test_an_imported_run_is_listed_as_a_finished_run(tmp_path):
    src = tmp_path / "log.csv"
    src.write_text("step,loss\n1,0.5\n2,0.25\n")
    done = importer.import_run(src, tmp_path / "runs", now=1_700_000_000)
    (info,) = RunScanner().scan([tmp_path / "runs"])
    assert (info.status, info.step, info.arch, info.name) == (FINISHED, 2, IMPORTED, "log")
    assert json.loads(done.folder.meta_path.read_text())["note"] == f"imported from {src} (CSV)"
