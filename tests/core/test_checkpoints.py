"""ganstudio.core.checkpoint.io: the file format, atomic saves, rotation, refusals, and exact resume."""

from __future__ import annotations

import builtins
import errno
import io
import os
import pickle
import random
import re
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from ganstudio.core.checkpoint import io as checkpoints
from ganstudio.core.checkpoint.io import CheckpointError
from ganstudio.core.checkpoint.store import CheckpointStore, list_checkpoints
from ganstudio.core.config import to_dict, with_values
from ganstudio.core.run.events import CheckpointFailed, CheckpointSaved, Finished, Stats
from ganstudio.core.run.history import History
from ganstudio.core.run.log import read_metrics
from ganstudio.core.train.trainer import Trainer
from tests.core.conftest import assert_same, dataset_for, of_type, run_all, snapshot


@pytest.fixture
def trained(tiny_config, make_trainer):
    """A tiny digits trainer after 3 bare steps (its stats accumulator holds all three)."""
    t = make_trainer(tiny_config("digits", {"train.ema": 0.5}, steps=10, every=2))
    for _ in range(3):
        t.train_step()
    return t


@pytest.fixture
def good_file(trained, tmp_path) -> Path:
    return Path(trained.save_checkpoint(tmp_path / "good.pt").path)


def files_in(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


# --- the format ----------------------------------------------------------------------------------


def test_checkpoint_is_plain_data(trained, good_file):
    raw = torch.load(good_file, map_location="cpu", weights_only=True)
    for key, kind in checkpoints.REQUIRED.items():
        assert isinstance(raw[key], kind), key
    assert raw["format"] == "ganstudio-checkpoint" and raw["version"] == checkpoints.VERSION
    assert raw["config"] == to_dict(trained.cfg) and raw["step"] == 3
    assert set(raw["models"]) == {"G", "D", "G_ema"}
    assert_same(raw["models"]["G"], trained.G.state_dict(), "G")
    assert_same(raw["models"]["G_ema"], trained.G_ema.state_dict(), "G_ema")
    assert raw["stats_accumulator"]["count"] == 3
    ck = checkpoints.load(good_file)
    assert checkpoints.config_of(ck) == trained.cfg


def test_from_checkpoint_restores_everything(trained, good_file):
    t = Trainer.from_checkpoint(good_file, dataset=trained.data)
    assert t.step == 3 and t.cfg == trained.cfg
    for name in ("G", "D", "G_ema"):
        assert_same(getattr(t, name).state_dict(), getattr(trained, name).state_dict(), name)
    assert_same(t.opt_g.state_dict(), trained.opt_g.state_dict(), "opt_g")
    assert_same(t.opt_d.state_dict(), trained.opt_d.state_dict(), "opt_d")
    assert torch.equal(t.fixed_noise, trained.fixed_noise)
    assert torch.equal(t.noise_gen.get_state(), trained.noise_gen.get_state())
    assert torch.equal(t._acc, trained._acc) and t._acc_n == 3
    # Both go on to train identically.
    t.train_step()
    trained.train_step()
    assert_same(t.G.state_dict(), trained.G.state_dict(), "G after a step")


def test_history_is_saved_as_tensors_and_the_older_lists_still_load(tiny_config, make_trainer, tmp_path):
    """Each history column is one tensor in the file (a save's scratch memory no longer grows by 32
    bytes a logged number); a file of before, with lists, loads to the same History."""
    t = make_trainer(tiny_config("digits", steps=20, every=2))
    run_all(t)
    ck = checkpoints.load(t.save_checkpoint(tmp_path / "new.pt").path)
    h = ck["history"]
    assert all(isinstance(h[k], torch.Tensor) for k in ("step", "wall", "epoch"))
    assert h["step"].dtype == torch.int64 and all(v.dtype == torch.float64 for v in h["values"].values())
    restored = History.from_state_dict(h)
    assert restored.steps().tolist() == t.history.steps().tolist() and len(restored) >= 5
    for key in t.history.keys:
        assert np.array_equal(restored.series(key), t.history.series(key), equal_nan=True), key

    old = torch.load(tmp_path / "new.pt", map_location="cpu", weights_only=True)
    lists = {k: h[k].tolist() for k in ("step", "wall", "epoch")}
    old["history"] = {
        **lists,
        "values": {k: v.tolist() for k, v in h["values"].items()},
        "markers": h["markers"],
    }
    checkpoints.save_atomic(old, tmp_path / "old.pt")
    from_lists = History.from_state_dict(checkpoints.load(tmp_path / "old.pt")["history"])
    assert from_lists.steps().tolist() == restored.steps().tolist()
    for key in t.history.keys:
        assert np.array_equal(from_lists.series(key), restored.series(key), equal_nan=True), key


def test_resume_may_change_live_keys_only(trained, good_file):
    longer = with_values(trained.cfg, {"train.steps": 50, "optim.lr_g": 1e-3, "log.out": "elsewhere"})
    t = Trainer.from_checkpoint(good_file, config=longer, dataset=trained.data)
    assert t.cfg.train.steps == 50 and t.opt_g.param_groups[0]["lr"] == 1e-3
    wider = with_values(trained.cfg, {"model.latent_dim": 32, "train.seed": 1})
    with pytest.raises(CheckpointError) as info:
        Trainer.from_checkpoint(good_file, config=wider, dataset=trained.data)
    msg = str(info.value)
    assert str(good_file) in msg and "model.latent_dim" in msg and "train.seed" in msg


# --- atomic save -------------------------------------------------------------------------------------


def _failing_save(exc: BaseException):
    def fake_save(obj, f, *args, **kwargs):
        f.write(b"PK\x03\x04 half a checkpoint")  # some bytes reach the temporary file first
        raise exc

    return fake_save


def test_disk_full_keeps_the_previous_checkpoint(trained, good_file, monkeypatch):
    before = good_file.read_bytes()
    trained.train_step()
    monkeypatch.setattr(torch, "save", _failing_save(OSError(errno.ENOSPC, "No space left on device")))
    with pytest.raises(CheckpointError) as info:
        trained.save_checkpoint(good_file)
    msg = str(info.value)
    assert str(good_file) in msg and "No space left on device" in msg
    assert "previous checkpoint is unchanged" in msg
    assert files_in(good_file.parent) == ["good.pt"]  # no temporary file left behind
    assert good_file.read_bytes() == before
    assert checkpoints.load(good_file)["step"] == 3
    # In a run the failure is an event, and training goes on.
    failed = trained.try_checkpoint(good_file)
    assert isinstance(failed, CheckpointFailed) and "No space left" in failed.message


@pytest.mark.parametrize("exc", [RuntimeError("simulated crash inside torch.save"), KeyboardInterrupt()])
def test_crash_mid_write_keeps_the_previous_checkpoint(trained, good_file, monkeypatch, exc):
    before = good_file.read_bytes()
    trained.train_step()
    monkeypatch.setattr(torch, "save", _failing_save(exc))
    # A failure is one to report; an interrupt is not a failure of the write, and goes on up.
    with pytest.raises(CheckpointError if isinstance(exc, Exception) else type(exc)):
        checkpoints.save_atomic(trained.state_dict(), good_file)
    assert files_in(good_file.parent) == ["good.pt"]
    assert good_file.read_bytes() == before and checkpoints.load(good_file)["step"] == 3


def test_run_goes_on_when_checkpoints_fail(tiny_config, make_trainer, tmp_path, monkeypatch):
    monkeypatch.setattr(torch, "save", _failing_save(OSError(errno.ENOSPC, "No space left on device")))
    t = make_trainer(tiny_config("digits", steps=4, checkpoint_every=2), checkpoint_dir=tmp_path)
    events = run_all(t)
    failed = of_type(events, CheckpointFailed)
    # Step 4's save fails, and so does the retry when the run ends.
    assert [e.step for e in failed] == [2, 4, 4] and all("No space left" in e.message for e in failed)
    assert events[-1] == Finished(step=4, reason="completed")
    assert files_in(tmp_path) == []


def test_unwritable_folder(trained, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(CheckpointError, match="cannot write checkpoint") as info:
        trained.save_checkpoint(blocker / "sub" / "x.pt")
    assert str(blocker / "sub" / "x.pt") in str(info.value)
    with pytest.raises(CheckpointError, match="no checkpoint folder"):
        trained.save_checkpoint()


class _DiskFillsUp:
    """The temporary file of a save on a disk with `room` bytes left: the write that crosses it
    writes what fits and fails with ENOSPC, as a full disk does part way through torch.save."""

    def __init__(self, f, room: int):
        self._f, self.room = f, room

    def write(self, data) -> int:
        data = bytes(data)
        if len(data) > self.room:
            self._f.write(data[: self.room])
            self.room = 0
            raise OSError(errno.ENOSPC, "No space left on device")
        self.room -= len(data)
        return self._f.write(data)

    def __getattr__(self, name):
        return getattr(self._f, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self._f.close()


def test_disk_filling_up_during_the_real_write(trained, good_file, monkeypatch):
    before = good_file.read_bytes()
    trained.train_step()
    real_fdopen, room = os.fdopen, len(before) // 2
    monkeypatch.setattr(os, "fdopen", lambda fd, *a, **k: _DiskFillsUp(real_fdopen(fd, *a, **k), room))
    with pytest.raises(CheckpointError) as info:
        trained.save_checkpoint(good_file)
    msg = str(info.value)
    assert msg.startswith(f"cannot write checkpoint {good_file}: ") and "No space left on device" in msg, msg
    assert "The previous checkpoint is unchanged; free some disk space (" in msg, msg
    assert " free there) or choose another folder" in msg, msg
    assert files_in(good_file.parent) == ["good.pt"] and good_file.read_bytes() == before


def test_torch_reporting_a_full_disk_as_runtime_error(trained, good_file, monkeypatch):
    # What torch.save raises when the disk fills up under its own writer: not an OSError.
    before = good_file.read_bytes()
    trained.train_step()
    full = RuntimeError("[enforce fail at inline_container.cc:664] . unexpected pos 4352 vs 4246")
    monkeypatch.setattr(torch, "save", _failing_save(full))
    with pytest.raises(CheckpointError) as info:
        trained.save_checkpoint(good_file)
    msg = str(info.value)
    assert str(good_file) in msg and "writing failed" in msg and "unexpected pos 4352 vs 4246" in msg, msg
    assert "previous checkpoint is unchanged" in msg and "free some disk space" in msg, msg
    assert files_in(good_file.parent) == ["good.pt"] and good_file.read_bytes() == before
    # In a run it is an event, and training goes on.
    failed = trained.try_checkpoint(good_file)
    assert isinstance(failed, CheckpointFailed) and "unexpected pos" in failed.message


# A save that is killed while it writes: the child writes one chunk, says so, and waits to be killed.
KILLED_SAVE = """
import os, sys, torch
from ganstudio.core.checkpoint import io as checkpoints

real_fdopen = os.fdopen

class Stall:
    def __init__(self, f):
        self.f = f
    def write(self, data):
        n = self.f.write(data)
        self.f.flush()
        print("writing", flush=True)
        sys.stdin.readline()  # the parent kills us here
        return n
    def __getattr__(self, name):
        return getattr(self.f, name)
    def __enter__(self):
        return self
    def __exit__(self, *exc):
        self.f.close()

os.fdopen = lambda fd, *a, **k: Stall(real_fdopen(fd, *a, **k))
checkpoints.save_atomic({"x": torch.zeros(1 << 20)}, sys.argv[1])
"""


def test_a_killed_save_leaves_a_temp_file_that_a_later_save_removes(trained, tmp_path):
    folder = tmp_path / "checkpoints"
    folder.mkdir()
    proc = subprocess.Popen(
        [sys.executable, "-c", KILLED_SAVE, str(folder / "step-000000007.pt")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    try:
        assert proc.stdout.readline().strip() == "writing"
    finally:
        proc.kill()  # SIGKILL: no handler, no cleanup
        proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    (leftover,) = folder.iterdir()
    name = re.fullmatch(r"\.step-000000007\.pt\.([0-9a-f]{6})-(\d+)\.[a-z0-9_]{8}\.tmp", leftover.name)
    assert name and int(name[2]) == proc.pid and leftover.stat().st_size  # the name says whose it is
    host = name[1]

    # Files that are not ours, or whose writer may be alive, stay: another process may be saving now.
    writer = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE)
    try:
        elsewhere = "0" * 6 if host != "0" * 6 else "1" * 6
        live = [
            _write(folder / f".step-000000009.pt.{host}-{writer.pid}.abcd_123.tmp", b"a live writer"),
            # another machine's process: its pid says nothing here
            _write(folder / f".step-000000009.pt.{elsewhere}-{proc.pid}.abcd_123.tmp", b"elsewhere"),
            # no writer named (an older version's): only its age tells
            _write(folder / ".step-000000009.pt.abcd_123.tmp", b"an older version's"),
        ]
        others = [
            _write(folder / name, b"x")
            for name in (
                "notes.tmp",
                ".x.pt.abc.tmp",
                ".x.pt.ABCDEFGH.tmp",
                "x.pt.abcdefgh.tmp",
                "keep.pt",
                f".x.pt.{host}-{proc.pid}.tmp",
            )
        ]
        others.append(_mkdir(folder / ".d.pt.abcdefgh.tmp"))
        others.append(folder / ".l.pt.abcdefgh.tmp")
        others[-1].symlink_to(others[0])
        old = time.time() - checkpoints.STALE_TEMP_S - 60
        for p in others:
            os.utime(p, (old, old), follow_symlinks=False)

        trained.save_checkpoint(folder / "a.pt")
        assert not leftover.exists()  # its writer has ended: at once, however young it is
        assert all(p.exists() for p in live) and all(p.exists() or p.is_symlink() for p in others)
        # Untouched for STALE_TEMP_S, whoever wrote it: a writer stalled that long loses nothing.
        for p in live:
            os.utime(p, (old, old))
        trained.save_checkpoint(folder / "b.pt")
        assert not any(p.exists() for p in live)
        assert all(p.exists() or p.is_symlink() for p in others)
    finally:
        writer.kill()
        writer.communicate()
    assert checkpoints.load(folder / "b.pt")["step"] == 3


# --- rotation ---------------------------------------------------------------------------------------


def test_rotation_keeps_the_newest(tiny_config, make_trainer, tmp_path):
    cfg = tiny_config("digits", steps=5, checkpoint_every=1, keep_checkpoints=2)
    t = make_trainer(cfg, checkpoint_dir=tmp_path)
    saved = of_type(run_all(t), CheckpointSaved)
    assert [e.step for e in saved] == [1, 2, 3, 4, 5]
    assert files_in(tmp_path) == ["latest.pt", "step-000000004.pt", "step-000000005.pt"]
    assert [s for s, _ in list_checkpoints(tmp_path)] == [4, 5]
    latest = checkpoints.load(tmp_path / "latest.pt")
    newest = checkpoints.load(tmp_path / "step-000000005.pt")
    assert latest["step"] == 5
    assert_same(latest["models"], newest["models"], "models")
    assert_same(latest["models"]["G"], t.G.state_dict(), "G")


def test_rotation_without_hard_links(trained, tmp_path, monkeypatch):
    def no_links(*args, **kwargs):
        raise OSError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(os, "link", no_links)
    store = CheckpointStore(tmp_path)
    store.save(trained.state_dict() | {"step": 2}, 2, keep=1, manual=True)
    for step in (3, 4, 5):
        store.save(trained.state_dict() | {"step": step}, step, keep=1)
    # Rotation keeps the newest step file and never touches a checkpoint someone asked for.
    assert files_in(tmp_path) == ["latest.pt", "manual-000000002.pt", "step-000000005.pt"]
    assert checkpoints.load(tmp_path / "latest.pt")["step"] == 5


# --- refusals ------------------------------------------------------------------------------------------


class _RunsCode:
    """Pickles to a call of `func(arg)`: what a booby-trapped checkpoint would contain."""

    def __init__(self, func, arg):
        self.func, self.arg = func, arg

    def __reduce__(self):
        return (self.func, (self.arg,))


def _edited(good: Path, out: Path, edit) -> Path:
    """A file with a valid digest whose content is wrong: what a program that wrote it wrong makes."""
    ck = torch.load(good, weights_only=True)
    edit(ck)
    return checkpoints.save_atomic(ck, out)


def _set_version(ck):
    ck["version"] = 3


def _bad_lr(ck):
    ck["config"]["optim"]["lr_g"] = -1.0


def _no_d(ck):
    del ck["models"]["D"]


def _no_history(ck):
    del ck["history"]


def _step_as_text(ck):
    ck["step"] = "3"


# name -> (make the bad file from (good, tmp_path), words the message holds besides the file name)
BAD_FILES = {
    "truncated": (
        lambda g, d: _write(d / "x.pt", g.read_bytes()[: g.stat().st_size // 2]),
        "is not a readable checkpoint: it is damaged: a zip archive whose directory cannot be "
        "read, so truncated",
    ),
    "empty": (lambda g, d: _write(d / "x.pt", b""), "is empty (0 bytes)"),
    "text": (
        lambda g, d: _write(d / "x.pt", b"step = 3\nthis is not a checkpoint\n"),
        "is a text file, not a GAN Studio checkpoint (it begins 'step = 3')",
    ),
    "random": (
        lambda g, d: _write(d / "x.pt", random.Random(1).randbytes(4096)),
        "is not a zip archive written by torch.save",
    ),
    "png": (lambda g, d: _write(d / "x.pt", _png_bytes()), "is a PNG image, not a GAN Studio checkpoint"),
    "npy": (lambda g, d: _npy(d / "x.pt"), "is a NumPy .npy array, not a GAN Studio checkpoint"),
    "zip": (lambda g, d: _zip(d / "x.pt"), "is a zip archive, but not one written by torch.save"),
    "pickle": (
        lambda g, d: _write(d / "x.pt", pickle.dumps({"step": 3, "w": [1.0, 2.0]})),
        "is a Python pickle",
    ),
    "legacy torch.save": (
        lambda g, d: _torch_save({"w": torch.ones(3)}, d / "x.pt", legacy=True),
        "torch.save's legacy format",
    ),
    "folder": (lambda g, d: _mkdir(d / "x.pt"), "is a folder"),
    "missing": (lambda g, d: d / "nope.pt", "does not exist"),
    "foreign": (
        lambda g, d: _torch_save({"weight": torch.ones(3), "bias": torch.zeros(3)}, d / "x.pt"),
        "not a GAN Studio checkpoint",
    ),
    "version": (lambda g, d: _edited(g, d / "x.pt", _set_version), "version 3 (a newer GAN Studio wrote it)"),
    "invalid config": (lambda g, d: _edited(g, d / "x.pt", _bad_lr), "optim.lr_g = -1.0 is too small"),
    "missing model": (lambda g, d: _edited(g, d / "x.pt", _no_d), "no models.D state"),
    "missing key": (lambda g, d: _edited(g, d / "x.pt", _no_history), "no 'history'"),
    "wrong type": (lambda g, d: _edited(g, d / "x.pt", _step_as_text), "'step' is a str"),
}


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _mkdir(path: Path) -> Path:
    path.mkdir()
    return path


def _torch_save(obj, path: Path, legacy: bool = False) -> Path:
    torch.save(obj, path, _use_new_zipfile_serialization=not legacy)
    return path


def _png_bytes() -> bytes:
    buf = io.BytesIO()
    Image.new("L", (8, 8)).save(buf, format="PNG")
    return buf.getvalue()


def _npy(path: Path) -> Path:
    with open(path, "wb") as f:
        np.save(f, np.zeros((4, 2), np.float32))
    return path


def _zip(path: Path) -> Path:
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("notes.txt", "not a checkpoint")
    return path


# torch's advice for a file its weights-only loader refuses: never in a message of ours.
TORCH_ADVICE = ("weights_only", "safe_globals", "add_safe_globals", "Weights only load failed")


def assert_readable(msg: str, path: Path) -> None:
    """A refusal for people: it names the file, and gives neither a traceback nor torch's advice."""
    assert str(path) in msg, msg
    assert "Traceback" not in msg and not any(a in msg for a in TORCH_ADVICE), msg


@pytest.fixture
def running(tiny_config, make_trainer):
    """A trainer in mid-run: what a failed load must leave exactly as it was."""
    t = make_trainer(tiny_config("digits", steps=100))
    for _ in range(2):
        t.train_step()
    return t


def assert_untouched(t: Trainer, before: dict) -> None:
    assert_same(snapshot(t), before, "running trainer")
    t.train_step()  # and it still trains
    assert t.step == before["step"] + 1


@pytest.mark.parametrize("kind", list(BAD_FILES))
def test_bad_file_is_refused(kind, good_file, tmp_path, running):
    make, words = BAD_FILES[kind]
    bad_dir = tmp_path / "bad"
    bad_dir.mkdir()
    path = make(good_file, bad_dir)
    before = snapshot(running)
    with pytest.raises(CheckpointError) as info:
        checkpoints.load(path)
    msg = str(info.value)
    assert str(path) in msg and words in msg, msg
    assert_readable(msg, path)
    with pytest.raises(CheckpointError) as info:
        Trainer.from_checkpoint(path, dataset=running.data)
    assert str(path) in str(info.value) and words in str(info.value)
    assert_untouched(running, before)


def test_every_kind_of_random_bytes_is_refused(tmp_path):
    # A corrupt file can fail anywhere in the unpickler (KeyError, IndexError, struct.error, ...):
    # every one of them must come out as a CheckpointError that names the file.
    rng = random.Random(0)
    path = tmp_path / "noise.pt"
    for i in range(60):
        path.write_bytes(rng.randbytes(rng.choice([1, 7, 100, 3000])))
        with pytest.raises(CheckpointError) as info:
            checkpoints.load(path)
        assert_readable(str(info.value), path)
        assert "could run code" not in str(info.value), i


def test_wrong_shape_names_the_mismatch(good_file, tmp_path, running):
    def narrower_noise(ck):
        w = ck["models"]["G"]["net.0.weight"]
        ck["models"]["G"]["net.0.weight"] = w[:, :-1].clone()

    path = _edited(good_file, tmp_path / "edited.pt", narrower_noise)
    checkpoints.load(path)  # the structure is fine: only the models can tell
    before = snapshot(running)
    with pytest.raises(CheckpointError) as info:
        Trainer.from_checkpoint(path, dataset=running.data)
    msg = str(info.value)
    assert str(path) in msg and "models.G.net.0.weight has shape (8, 15), the model's is (8, 16)" in msg, msg
    assert_untouched(running, before)


def test_other_mismatches_are_refused(good_file, tmp_path, running):
    def short_noise(ck):
        ck["fixed_noise"] = ck["fixed_noise"][:10]

    def short_perm(ck):
        ck["sampler"]["perm"] = torch.arange(5)

    before = snapshot(running)
    for edit, words in ((short_noise, "fixed noise has shape (10, 16)"), (short_perm, "5 entries")):
        path = _edited(good_file, tmp_path / f"{edit.__name__}.pt", edit)
        with pytest.raises(CheckpointError) as info:
            Trainer.from_checkpoint(path, dataset=running.data)
        assert str(path) in str(info.value) and words in str(info.value)
    assert_untouched(running, before)


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
@pytest.mark.parametrize("how", ["torch.save", "legacy torch.save", "plain pickle", "inside a checkpoint"])
@pytest.mark.parametrize("call", ["os.system", "builtins.exec"])
def test_malicious_pickle_is_refused_and_never_run(how, call, good_file, tmp_path, running):
    marker = tmp_path / "pwned"
    trap = (
        _RunsCode(os.system, f"touch {marker}")
        if call == "os.system"
        else _RunsCode(builtins.exec, f"open({str(marker)!r}, 'w').close()")
    )
    path = tmp_path / "evil.pt"
    if how == "torch.save":
        torch.save({"models": trap}, path)
    elif how == "legacy torch.save":
        torch.save({"models": trap}, path, _use_new_zipfile_serialization=False)
    elif how == "plain pickle":
        path.write_bytes(pickle.dumps(trap))
    else:
        ck = torch.load(good_file, weights_only=True)
        ck["history"]["markers"] = [trap]
        buf = io.BytesIO()
        torch.save(ck, buf)
        path.write_bytes(buf.getvalue())
    before = snapshot(running)
    for load in (checkpoints.load, lambda p: Trainer.from_checkpoint(p, dataset=running.data)):
        with pytest.raises(CheckpointError) as info:
            load(path)
        msg = str(info.value)
        assert_readable(msg, path)
        name = call.split(".")[1]  # torch names builtins' `exec` without its module
        assert "refused" in msg and "could run code" in msg and re.search(rf"GLOBAL [\w.]*{name}\b", msg), msg
    assert not marker.exists()
    assert_untouched(running, before)


# --- exact resume in a new process ----------------------------------------------------------------------

N, K = 30, 13  # K is deliberately not a multiple of log.every: the stats accumulator is mid-interval


def _resume_in_new_process(ckpt: Path, out: Path) -> Path:
    """`python -m ganstudio train --resume` in a fresh interpreter; returns its run folder."""
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "ganstudio",
            "train",
            "--resume",
            str(ckpt),
            "--out",
            str(out),
            "--set",
            "train.threads=1",
            "--steps",
            str(N),
            "--quiet",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=out.parent,
    )
    assert proc.returncode == 0, proc.stderr
    m = re.search(r"completed at step (\d+); run folder: (.+)", proc.stdout)
    assert m and int(m.group(1)) == N, proc.stdout
    return Path(m.group(2).strip())


STAT_COMPARED = ("loss_d", "loss_g", "d_real", "d_fake", "grad_d", "grad_g", "lr_d", "lr_g")


@pytest.mark.parametrize(
    ("kind", "values"),
    [
        ("digits", {}),
        ("ring8", {"loss.kind": "wgan-gp", "optim.d_steps": 2, "train.ema": 0.9, "optim.beta1": 0.0}),
    ],
)
def test_exact_resume_in_a_new_process(kind, values, tiny_config, make_trainer, tmp_path):
    cfg = tiny_config(kind, values, steps=N, every=2, sample_every=10, checkpoint_every=K, keep_checkpoints=5)
    straight = make_trainer(cfg, checkpoint_dir=tmp_path / "straight")
    events = run_all(straight)
    assert events[-1] == Finished(step=N, reason="completed")
    assert [e.step for e in of_type(events, CheckpointSaved)] == [K, 2 * K, N]
    at_k = tmp_path / "straight" / f"step-{K:09d}.pt"
    assert checkpoints.load(at_k)["stats_accumulator"]["count"] == 1

    run_dir = _resume_in_new_process(at_k, tmp_path / "resumed")

    a = checkpoints.load(tmp_path / "straight" / "latest.pt")
    b = checkpoints.load(run_dir / "checkpoints" / "latest.pt")
    assert a["step"] == b["step"] == N
    for name in ("G", "D", "G_ema"):
        assert a["models"][name].keys() == b["models"][name].keys()
        for key, tensor in a["models"][name].items():
            assert torch.equal(tensor, b["models"][name][key]), f"{name}.{key} differs after resume"
    assert_same(a["optimizers"], b["optimizers"], "optimizers")
    assert_same(a["sampler"], b["sampler"], "sampler")
    assert torch.equal(a["rng"]["noise"], b["rng"]["noise"])
    if kind == "ring8":
        assert a["models"]["G_ema"]  # EMA really ran

    # The resumed run's log holds the replayed history up to K and its own stats after K.
    records = [r for r in read_metrics(run_dir / "metrics.jsonl") if r["event"] == "stats"]
    assert [r["step"] for r in records] == list(range(2, N + 1, 2))
    mine = {int(s): i for i, s in enumerate(straight.history.steps())}
    after_k = [r for r in records if r["step"] > K]
    assert after_k and after_k[0]["step"] == K + 1
    for r in after_k:
        i = mine[r["step"]]
        for key in STAT_COMPARED:
            assert r[key] == straight.history.series(key)[i], (r["step"], key)
        assert r["epoch"] == straight.history.epochs()[i]
    straight_stats = {e.step: e.values for e in of_type(events, Stats)}
    assert all(r["loss_d"] == straight_stats[r["step"]]["loss_d"] for r in after_k)


def test_resume_in_process_matches_too(tiny_config, make_trainer, tmp_path):
    """The same guarantee without a new process, for a dcgan with BatchNorm buffers."""
    cfg = tiny_config("dcgan", steps=7, every=2, checkpoint_every=3)
    straight = make_trainer(cfg, checkpoint_dir=tmp_path / "a")
    run_all(straight)
    resumed = Trainer.from_checkpoint(
        tmp_path / "a" / f"step-{3:09d}.pt", dataset=dataset_for(cfg.data), checkpoint_dir=tmp_path / "b"
    )
    events = run_all(resumed)
    assert events[0].step == 3 and events[-1] == Finished(step=7, reason="completed")
    assert_same(resumed.G.state_dict(), straight.G.state_dict(), "G")
    assert_same(resumed.D.state_dict(), straight.D.state_dict(), "D")
    assert resumed.history.series("loss_g")[-1] == straight.history.series("loss_g")[-1]
