"""A full disk, a read-only or invalid output folder: a message that names the path and what to do,
the exit code the README gives, the last good checkpoint kept, no temporary files left, and
training that goes on when only a sample or a checkpoint could not be written."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from ganstudio.cli import EXIT_BAD_INPUT, EXIT_FAILED, EXIT_OK, main
from ganstudio.core.checkpoint import io as checkpoints
from ganstudio.core.run.folder import RunFolder
from ganstudio.core.run.log import read_metrics
from tests.core.conftest import tiny_cli

TINY = tiny_cli({"metrics.every": 0})


def _only_run(out: Path) -> RunFolder:
    (run,) = [p for p in out.iterdir() if p.is_dir()]
    return RunFolder(run)


def _temp_files(folder: RunFolder) -> list[str]:
    return [p.name for p in folder.path.rglob("*") if p.name.endswith(".tmp")]


def test_the_log_filling_the_disk_stops_cleanly_with_a_final_checkpoint(tmp_path, capsys, monkeypatch):
    from ganstudio.core.run import log as runlog

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


# --- a disk that fills up: told once per kind, and a halt before training is lost ------------------------


def _full_after(monkeypatch, first: int, what: str = ".pt") -> list[int]:
    """os.replace of a file whose name ends with `what` finds the disk full after `first` of them:
    the rename that finishes an atomic save (a full disk fails the writes before it the same way)."""
    real = os.replace
    calls = [0]

    def replace(src, dst, *a, **k):
        if str(dst).endswith(what):
            calls[0] += 1
            if calls[0] > first:
                raise OSError(errno.ENOSPC, "No space left on device")
        return real(src, dst, *a, **k)

    monkeypatch.setattr(os, "replace", replace)
    return calls


def _samples_full_from(monkeypatch, step: int, until: int | None = None) -> None:
    real = RunFolder.write_samples

    def write(self, s, *a, **k):
        if s >= step and (until is None or s <= until):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(self, s, *a, **k)

    monkeypatch.setattr(RunFolder, "write_samples", write)


def test_a_full_disk_is_told_once_per_kind_and_stops_after_three_intervals(tmp_path, capsys, monkeypatch):
    """The first checkpoint fits and no later one does: the run used to train on for minutes, one
    warning per failed write (1,451 of them). Now each kind is told once, the rest counted, and
    after 3 checkpoint intervals in a row with no checkpoint the CLI stops with exit 1, saying where
    and how much space is free."""
    _full_after(monkeypatch, first=2)  # step-4.pt and latest.pt (a hard link to it) fit
    _samples_full_from(monkeypatch, 6)
    out = tmp_path / "runs"
    code = main(
        [
            "train",
            "--steps",
            "400",
            "--out",
            str(out),
            "--set",
            "log.checkpoint_every=4",
            "--set",
            "log.sample_every=2",
            *TINY,
        ]
    )
    err = capsys.readouterr().err
    folder = _only_run(out)
    assert code == EXIT_FAILED, err
    assert "Traceback" not in err
    assert err.count("warning: cannot write checkpoint") == 1, err
    assert f"The checkpoints already in {folder.checkpoints_dir} are unchanged" in err, err
    assert err.count("the samples of step") == 1 and "counted, not each told" in err, err
    halt = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(halt) == 1, err
    words = [
        "no checkpoint could be written for 3 checkpoint intervals in a row (steps 8, 12, 16)",
        f"in {folder.checkpoints_dir} (",
        " free there)",
        "training stopped",
        f"The last checkpoint written, {folder.checkpoints.latest}, is kept (a checkpoint of this run takes ",
        f"ganstudio train --run-dir {folder.path} --resume auto",
        f"ganstudio train --resume {folder.checkpoints.latest} --out DIR",
    ]
    for w in words:
        assert w in halt[0], (w, halt[0])
    # The counts, once each, before the end: steps 12 and 16, and the final checkpoint tried at 16.
    assert (
        "warning at step 16: 3 more checkpoint writes failed after the first (steps 12 to 16); they "
        "were not written" in err
    ), err
    assert "warning at step 16: 5 more sample writes failed after the first (steps 8 to 16)" in err, err
    assert "the final checkpoint was not saved" not in err  # the reason it stopped says it
    records = read_metrics(folder.metrics_path)
    assert [r["step"] for r in records if r["event"] == "stats"][-1] == 16  # stopped, not trained on
    assert len([r for r in records if r["event"] == "alert"]) == 4  # sample, halt, two counts
    assert checkpoints.load(folder.latest_checkpoint())["step"] == 4
    assert _temp_files(folder) == []


def test_writes_that_work_again_tell_how_many_failed_and_the_run_goes_on(tmp_path, capsys, monkeypatch):
    _samples_full_from(monkeypatch, 4, until=10)
    real = os.replace

    def replace(src, dst, *a, **k):  # two checkpoint intervals fail (8, 12), then the disk has room
        if Path(dst).name in ("step-000000008.pt", "step-000000012.pt"):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(src, dst, *a, **k)

    monkeypatch.setattr(os, "replace", replace)
    out = tmp_path / "runs"
    code = main(
        [
            "train",
            "--steps",
            "20",
            "--out",
            str(out),
            "--set",
            "log.checkpoint_every=4",
            "--set",
            "log.sample_every=2",
            *TINY,
        ]
    )
    err = capsys.readouterr().err
    assert code == EXIT_OK, err
    assert err.count("warning: cannot write checkpoint") == 1, err
    assert (
        "warning at step 16: 1 more checkpoint write failed after the first (step 12); writing "
        "works again from step 16" in err
    ), err
    assert (
        "warning at step 12: 3 more sample writes failed after the first (steps 6 to 10); writing "
        "works again from step 12" in err
    ), err
    folder = _only_run(out)
    assert checkpoints.load(folder.latest_checkpoint())["step"] == 20


def test_a_paused_run_halts_again_only_after_as_many_more_intervals(tmp_path, monkeypatch):
    """The app: the run pauses with the message; resumed with the disk still full, it trains on for
    another 3 intervals before it pauses again, rather than at every interval."""
    from ganstudio.core.run.control import Control
    from ganstudio.core.run.driver import RunDriver
    from ganstudio.core.run.events import Alert, CheckpointFailed
    from tests.core.conftest import make_tiny_config

    _full_after(monkeypatch, first=2)
    control = Control()
    cfg = make_tiny_config("digits", steps=40, every=2, checkpoint_every=2, sample_every=0)
    (tmp_path / "run").mkdir()
    driver = RunDriver(cfg, folder=RunFolder(tmp_path / "run"), control=control, on_log_failure="pause")
    driver.prepare()
    halts = []
    failed = []
    try:
        for ev in driver.events():
            if isinstance(ev, CheckpointFailed):
                failed.append(ev.step)
            if isinstance(ev, Alert) and ev == driver.halted:
                halts.append(ev)
                assert control.paused
                if len(halts) == 2:
                    control.stop(save=False)
                control.resume()  # as Resume in the app, the disk still full
    finally:
        driver.close()
    assert failed[:6] == [4, 6, 8, 10, 12, 14]
    assert [h.step for h in halts] == [8, 14]
    assert "training is paused. Free some space on that disk, then press Resume" in halts[0].message
    assert "(steps 4, 6, 8)" in halts[0].message and "(steps 10, 12, 14)" in halts[1].message


def test_a_killed_saves_temporary_files_go_when_a_run_starts_in_its_folder(tmp_path):
    """28 kills mid-save left 9 temporary files (11.5 MB): a run starting in the folder removes those
    whose writer has ended, before it trains (a run killed again before its first save never got to
    remove them), and leaves one a live process may still be writing."""
    import subprocess
    import sys

    from ganstudio.core.run.driver import RunDriver

    run_dir = tmp_path / "run"
    assert (
        main(["train", "--steps", "4", "--run-dir", str(run_dir), "--set", "log.checkpoint_every=2", *TINY])
        == EXIT_OK
    )
    folder = RunFolder(run_dir)
    ended = subprocess.run([sys.executable, "-c", "pass"], check=True)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    host = checkpoints._host_tag()
    stale = [
        folder.checkpoints_dir / f".step-00000000{k}.pt.{host}-{dead.pid}.abcd{k}xyz.tmp" for k in (6, 8)
    ]
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


def test_a_config_that_cannot_be_saved_is_told_once_too(tmp_path, monkeypatch):
    """The siblings of samples and checkpoints: config.toml, rewritten by each live edit, is told once
    while it cannot be written, and the count when it can be again."""
    from ganstudio.core.run.events import Alert, HyperparamsChanged
    from ganstudio.core.run.folder import RunFolderError
    from ganstudio.core.run.log import RunWriter
    from tests.core.conftest import make_tiny_config

    folder = RunFolder(tmp_path / "run")
    writer = RunWriter(folder, make_tiny_config("digits"))
    real = RunFolder.save_config
    full = {"on": True}

    def save_config(self, cfg):
        if full["on"]:
            raise RunFolderError(f"cannot write {self.config_path}: the disk is full")
        return real(self, cfg)

    monkeypatch.setattr(RunFolder, "save_config", save_config)
    told = []
    with writer:
        for step, lr in ((2, 1e-3), (4, 2e-3), (6, 3e-3), (8, 4e-3)):
            full["on"] = step < 8
            told += writer.handle(HyperparamsChanged(step=step, changes={"optim.lr_g": (2e-4, lr)}))
    assert all(isinstance(a, Alert) and a.kind == "disk" for a in told)
    assert [a.step for a in told] == [2, 8], told
    assert told[0].message == (
        f"cannot write {folder.config_path}: the disk is full; the change is in metrics.jsonl"
    )
    assert told[1].message == (
        "2 more config.toml writes failed after the first (steps 4 to 6); writing works again from step 8"
    )
    assert folder.load_config().optim.lr_g == 4e-3
