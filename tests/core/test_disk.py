"""A full disk, a read-only or invalid output folder: a message that names the path and what to do,
the exit code the README gives, the last good checkpoint kept, no temporary files left, and
training that goes on when only a sample or a checkpoint could not be written."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from ganstudio.cli import EXIT_BAD_INPUT, EXIT_FAILED, EXIT_OK, main
from ganstudio.core import checkpoints
from ganstudio.core.runfolder import RunFolder
from ganstudio.core.runlog import read_metrics

TINY = ["--set", "train.threads=1", "--set", "train.device=cpu", "--set", "train.batch_size=16",
        "--set", "model.width=8", "--set", "model.latent_dim=16", "--set", "log.every=2",
        "--set", "metrics.every=0", "--quiet"]


def _only_run(out: Path) -> RunFolder:
    (run,) = [p for p in out.iterdir() if p.is_dir()]
    return RunFolder(run)


def _temp_files(folder: RunFolder) -> list[str]:
    return [p.name for p in folder.path.rglob("*") if p.name.endswith(".tmp")]


def test_the_log_filling_the_disk_stops_cleanly_with_a_final_checkpoint(tmp_path, capsys, monkeypatch):
    from ganstudio.core import runlog

    real = os.write
    lines = [0]

    def write(fd, data):
        if data.startswith(b'{"event": "stats"'):
            lines[0] += 1
        if lines[0] >= 4 and data.endswith(b"\n") and b'"event"' in data:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(fd, data)

    monkeypatch.setattr(runlog.os, "write", write)
    out = tmp_path / "runs"
    code = main(["train", "--steps", "100", "--out", str(out), "--set", "log.checkpoint_every=4", *TINY])
    err = capsys.readouterr().err
    assert code == EXIT_FAILED
    folder = _only_run(out)
    assert f"cannot write {folder.metrics_path}: the disk is full" in err and "Traceback" not in err
    ck = checkpoints.load(folder.latest_checkpoint())
    assert 6 <= ck["step"] < 100  # stopped soon after, and saved where it stopped
    assert _temp_files(folder) == []


def test_samples_that_do_not_fit_are_an_alert_and_training_goes_on(tmp_path, capsys, monkeypatch):
    def full(self, *a, **k):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(RunFolder, "write_samples", full)
    out = tmp_path / "runs"
    code = main(["train", "--steps", "6", "--out", str(out), "--set", "log.sample_every=2", *TINY])
    err = capsys.readouterr().err
    assert code == EXIT_OK, err
    folder = _only_run(out)
    alerts = [r for r in read_metrics(folder.metrics_path) if r["event"] == "alert"]
    assert alerts and all(a["kind"] == "disk" for a in alerts)
    assert "the disk is full" in alerts[0]["message"] and "Training goes on" in alerts[0]["message"]
    assert "warning at step 0: the samples of step 0 were not saved" in err
    assert checkpoints.load(folder.latest_checkpoint())["step"] == 6


def test_checkpoints_that_do_not_fit_keep_training_and_the_last_good_one(tmp_path, capsys, monkeypatch):
    import torch

    real = torch.save
    calls = [0]

    def save(obj, f, *a, **k):
        calls[0] += 1
        if calls[0] > 1:  # the first autosave fits, the rest find the disk full (torch's own error)
            raise RuntimeError("[enforce fail at inline_container.cc:664] . unexpected pos 3072 vs 2963")
        return real(obj, f, *a, **k)

    monkeypatch.setattr(torch, "save", save)
    out = tmp_path / "runs"
    code = main(["train", "--steps", "8", "--out", str(out), "--set", "log.checkpoint_every=2", *TINY])
    err = capsys.readouterr().err
    folder = _only_run(out)
    assert code == EXIT_FAILED  # the final checkpoint is not saved: the script must know
    assert "the final checkpoint was not saved" in err and "Traceback" not in err
    assert checkpoints.load(folder.latest_checkpoint())["step"] == 2  # the last good one is kept
    records = read_metrics(folder.metrics_path)
    assert [r["step"] for r in records if r["event"] == "stats"][-1] == 8  # training went on
    assert _temp_files(folder) == []


@pytest.mark.parametrize("case", ["file_in_path", "too_long", "read_only"])
def test_an_unusable_out_folder_is_named(tmp_path, capsys, monkeypatch, case):
    if case == "file_in_path":
        blocker = tmp_path / "blocker"
        blocker.write_text("x")
        out = blocker / "runs"
        words = [str(blocker), "a file is in the way"]
    elif case == "too_long":
        out = tmp_path / ("x" * 300)
        words = ["too long for the file system"]
    else:
        out = tmp_path / "ro"
        real = Path.mkdir

        def mkdir(self, *a, **k):
            if str(self).startswith(str(out)):
                raise PermissionError(errno.EACCES, "Permission denied", str(self))
            return real(self, *a, **k)

        monkeypatch.setattr(Path, "mkdir", mkdir)
        words = [str(out), "permission denied"]
    code = main(["train", "--steps", "2", "--out", str(out), *TINY])
    err = capsys.readouterr().err
    assert code == EXIT_BAD_INPUT, err
    assert err.startswith("ganstudio: error: ") and "Traceback" not in err
    for w in words:
        assert w in err, (w, err)
    assert "--out" in err


def test_a_killed_saves_temporary_files_go_when_a_run_starts_in_its_folder(tmp_path):
    """28 kills mid-save left 9 temporary files (11.5 MB): a run starting in the folder removes those
    whose writer has ended, before it trains (a run killed again before its first save never got to
    remove them), and leaves one a live process may still be writing."""
    import subprocess
    import sys

    from ganstudio.core.driver import RunDriver

    run_dir = tmp_path / "run"
    assert main(["train", "--steps", "4", "--run-dir", str(run_dir), "--set", "log.checkpoint_every=2",
                 *TINY]) == EXIT_OK
    folder = RunFolder(run_dir)
    ended = subprocess.run([sys.executable, "-c", "pass"], check=True)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    host = checkpoints._host_tag()
    stale = [folder.checkpoints_dir / f".step-00000000{k}.pt.{host}-{dead.pid}.abcd{k}xyz.tmp"
             for k in (6, 8)]
    for p in stale:
        p.write_bytes(b"\0" * 100_000)
    writer = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE)
    try:
        live = folder.checkpoints_dir / f".step-000000006.pt.{host}-{writer.pid}.abcdefgh.tmp"
        live.write_bytes(b"a save in progress")
        driver = RunDriver(None, resume="auto", folder=folder)
        try:
            driver.prepare()
            assert not any(p.exists() for p in stale) and live.exists()
        finally:
            driver.close()
    finally:
        writer.kill()
        writer.communicate()
    assert ended.returncode == 0
