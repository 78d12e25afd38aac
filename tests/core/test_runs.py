"""Listing a folder of run folders (ganstudio.core.runs and `ganstudio runs`): columns, status from the
log's end and the heartbeat, forks as a tree, damaged and foreign folders with their reason, rename,
note and the trash (never for a running run)."""

from __future__ import annotations

import json
import os
import shutil
import time

import pytest

from ganstudio.cli import EXIT_BAD_INPUT, EXIT_OK, main
from ganstudio.core import runs
from ganstudio.core.runfolder import TRASH, RunFolder
from ganstudio.core.runlog import STALE_S

TINY = ["--set", "train.threads=1", "--set", "train.device=cpu", "--set", "train.batch_size=16",
        "--set", "model.width=8", "--set", "model.latent_dim=16", "--set", "log.every=2",
        "--set", "log.sample_every=0", "--quiet"]


@pytest.fixture(scope="module")
def runs_dir(tmp_path_factory):
    """A folder with a finished run (quality metrics on), a fork of it with another loss, and a
    run on ring8; tests copy it before changing anything."""
    out = tmp_path_factory.mktemp("runs") / "runs"
    assert main(["train", "--steps", "12", "--out", str(out), "--set", "log.checkpoint_every=6",
                 "--set", "log.name=first", "--set", "metrics.every=6", "--set", "metrics.samples=50",
                 *TINY]) == EXIT_OK
    first = RunFolder(next(out.iterdir()))
    assert main(["train", "--fork", str(first.checkpoints.path_for(6)), "--steps", "10", "--set",
                 "loss.kind=hinge", "--set", "log.name=child", "--set", "metrics.every=0", *TINY]) == EXIT_OK
    assert main(["train", "--steps", "4", "--out", str(out), "--preset", "ring8", "--set", "log.name=toy",
                 "--set", "metrics.every=0", *TINY]) == EXIT_OK
    return out


@pytest.fixture
def copy(runs_dir, tmp_path):
    target = tmp_path / "runs"
    shutil.copytree(runs_dir, target)
    return target


def _by_name(found: list[runs.RunInfo]) -> dict[str, runs.RunInfo]:
    return {r.name: r for r in found}


def test_three_runs_are_listed_with_their_columns(runs_dir, capsys):
    found = _by_name(runs.RunScanner().scan([runs_dir]))
    assert set(found) == {"first", "child", "toy"}
    first, child, toy = found["first"], found["child"], found["toy"]
    assert (first.dataset, first.arch, first.loss, first.step, first.total) == ("digits", "mlp",
                                                                                 "nonsaturating", 12, 12)
    assert first.status == child.status == toy.status == "finished" and not first.problem
    assert first.metric is not None and first.metric[0] == "fd" and first.metric_text().startswith("fd ")
    assert child.metric is None and child.loss == "hinge" and child.steps_text() == "10 / 10"
    assert (toy.dataset, toy.step) == ("ring8", 4)
    assert first.duration > 0 and first.created is not None
    # The fork under its parent.
    tree = [(d, r.name) for d, r in runs.tree(list(found.values()))]
    assert tree == [(0, "first"), (1, "child"), (0, "toy")]

    assert main(["runs", str(runs_dir)]) == EXIT_OK
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["name", "dataset", "arch", "loss", "steps", "status", "started", "duration",
                                "metric"]
    assert lines[1].startswith("first ") and "12 / 12" in lines[1] and "finished" in lines[1]
    assert "fd " in lines[1]
    assert lines[2].startswith("└ child ") and "hinge" in lines[2]
    assert lines[3].startswith("toy ") and "ring8" in lines[3]


def test_status_comes_from_the_end_of_the_log_and_the_heartbeat(copy):
    folder = RunFolder(next(p for p in copy.iterdir() if p.name.endswith("first")))
    # Cut the log after its last stats line, as if the process were still training.
    lines = folder.metrics_path.read_text().splitlines(keepends=True)
    last_stats = max(i for i, line in enumerate(lines) if '"event": "stats"' in line)
    folder.metrics_path.write_text("".join(lines[: last_stats + 1]))
    beat = folder.heartbeat_path
    beat.write_text(json.dumps({"time": time.time(), "step": 12, "status": "paused"}))
    now = time.time()
    assert runs.describe(folder.path, now).status == "paused"
    beat.write_text(json.dumps({"time": time.time(), "step": 12, "status": "running"}))
    info = runs.describe(folder.path, now)
    assert info.status == "running" and info.alive
    # Quiet for longer than STALE_S: stale (the process died, or the folder stopped syncing).
    assert runs.describe(folder.path, now + STALE_S + 1).status == "stale"
    # A long run's log: the started line is far back, never read; the tail still gives step and status.
    with open(folder.metrics_path, "a") as f:
        for step in range(14, 20_000, 2):
            rec = {"event": "stats", "step": step, "epoch": 0.0, "wall": step / 100, "loss_d": 1.0}
            f.write(json.dumps(rec) + "\n")
    info = runs.describe(folder.path, time.time())
    assert (info.step, info.status, info.duration) == (19_998, "running", 199.98)


def test_a_run_is_listed_without_parsing_its_whole_log(copy, monkeypatch):
    folder = RunFolder(next(p for p in copy.iterdir() if p.name.endswith("first")))
    with open(folder.metrics_path, "a") as f:
        for step in range(14, 100_000, 2):
            f.write(f'{{"event": "stats", "step": {step}, "epoch": 0.0, "wall": 1.0, "loss_d": 1.0}}\n')
    calls = []
    real = runs.orjson.loads
    monkeypatch.setattr(runs.orjson, "loads", lambda b: calls.append(1) or real(b))
    assert runs.describe(folder.path).step == 99_998
    assert len(calls) < runs.TAIL_BYTES // 40  # the last lines only, not 50,000


def test_damaged_and_foreign_folders_are_listed_with_the_reason(copy, capsys):
    first = next(p for p in copy.iterdir() if p.name.endswith("first"))
    (copy / "notes").mkdir()
    (copy / "notes" / "todo.txt").write_text("x")
    no_config = copy / "no-config"
    shutil.copytree(first, no_config)
    (no_config / "config.toml").unlink()
    foreign = copy / "foreign"
    shutil.copytree(first, foreign)
    (foreign / "metrics.jsonl").write_text('{"loss": 1}\n' * 5)
    torn = copy / "torn"
    shutil.copytree(first, torn)
    text = (torn / "metrics.jsonl").read_text()
    (torn / "metrics.jsonl").write_text(text[:-40] + "\n" + text[-200:])  # a line cut mid-write
    newer = copy / "newer"
    shutil.copytree(first, newer)
    meta = json.loads((newer / "run.json").read_text())
    (newer / "run.json").write_text(json.dumps({**meta, "version": 99}))
    (copy / TRASH).mkdir()
    (copy / TRASH / "old-run").mkdir()

    found = {r.path.name: r for r in runs.RunScanner().scan([copy])}
    assert "old-run" not in found and TRASH not in found
    assert found["notes"].status == runs.NOT_A_RUN and "not a GAN Studio run folder" in found["notes"].problem
    assert found["no-config"].status == runs.DAMAGED and "has no config.toml" in found["no-config"].problem
    assert found["no-config"].step == 12  # what can be read still is
    assert found["foreign"].status == runs.DAMAGED and "not a GAN Studio log" in found["foreign"].problem
    assert found["torn"].status == runs.DAMAGED and "torn line" in found["torn"].problem
    assert found["newer"].status == runs.NEWER and "newer GAN Studio" in found["newer"].problem
    assert main(["runs", str(copy)]) == EXIT_OK
    out = capsys.readouterr().out
    for why in ("not a GAN Studio run folder", "has no config.toml", "not a GAN Studio log", "torn line",
                "newer GAN Studio"):
        assert f"! {why}" in out or why in out.split("! ", 1)[1]


def test_runs_of_an_unknown_folder_say_so(tmp_path, capsys):
    assert main(["runs", str(tmp_path / "nope")]) == EXIT_BAD_INPUT
    assert "no such folder" in capsys.readouterr().err
    assert main(["runs", str(tmp_path)]) == EXIT_OK
    assert "no runs in" in capsys.readouterr().out


def test_the_scanner_rereads_only_folders_that_changed(copy, monkeypatch):
    scanner = runs.RunScanner()
    scanner.scan([copy])
    described = []
    real = runs.describe
    monkeypatch.setattr(runs, "describe",
                        lambda path, now=None: described.append(path.name) or real(path, now))
    scanner.scan([copy])
    assert described == []
    first = next(p for p in copy.iterdir() if p.name.endswith("first"))
    runs.set_note(first, "the baseline")
    assert _by_name(scanner.scan([copy]))["first"].note == "the baseline"
    assert described == [first.name]
    # A new run appears; a removed one goes.
    shutil.copytree(first, copy / "copy-of-first")
    shutil.rmtree(next(p for p in copy.iterdir() if p.name.endswith("toy")))
    assert sorted(r.path.name for r in scanner.scan([copy])) == sorted(p.name for p in copy.iterdir())


def test_rename_and_note_live_in_run_json(copy):
    first = next(p for p in copy.iterdir() if p.name.endswith("first"))
    runs.rename(first, "  baseline lr 2e-4 ")
    runs.set_note(first, "before the change")
    info = runs.describe(first)
    assert (info.name, info.note) == ("baseline lr 2e-4", "before the change")
    assert first.exists()  # the folder keeps its name: its fork still finds its parent
    assert [(d, r.name) for d, r in runs.tree(runs.RunScanner().scan([copy]))][:2] == [
        (0, "baseline lr 2e-4"), (1, "child")]
    with pytest.raises(runs.RunsError, match="cannot be empty"):
        runs.rename(first, " ")


def test_trash_moves_a_finished_run_and_refuses_a_running_one(copy):
    first = next(p for p in copy.iterdir() if p.name.endswith("first"))
    toy = next(p for p in copy.iterdir() if p.name.endswith("toy"))
    # Training in another process: its log has no end and its heartbeat is fresh.
    folder = RunFolder(first)
    lines = [line for line in folder.metrics_path.read_text().splitlines(keepends=True)
             if '"event": "finished"' not in line]
    folder.metrics_path.write_text("".join(lines))
    folder.heartbeat_path.write_text(json.dumps({"time": time.time(), "step": 12, "status": "running"}))
    with pytest.raises(runs.RunsError, match="running in another process.*stop it first"):
        runs.trash(first)
    assert first.exists()
    # Once it has gone quiet (stale), it may go.
    old = time.time() - STALE_S - 5
    for p in (folder.metrics_path, folder.heartbeat_path):
        os.utime(p, (old, old))
    assert runs.describe(first).status == "stale"
    where = runs.trash(first)
    assert where == copy / TRASH / first.name and where.is_dir() and not first.exists()
    # Nothing is deleted: a second run of the same name goes beside it.
    shutil.copytree(toy, copy / first.name)
    assert runs.trash(copy / first.name) == copy / TRASH / f"{first.name}-1"
    assert sorted(r.name for r in runs.RunScanner().scan([copy])) == ["child", "toy"]
