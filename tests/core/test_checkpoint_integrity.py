"""Self-verifying checkpoints (issue #9): a digest of the content in every file, checked on every load.

A flipped byte used to load and train with changed weights, Adam moments or random state. Now a
file either loads exactly what was saved or is refused, naming the checkpoint to use instead.
"""

from __future__ import annotations

import copy
import json
import math
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from ganstudio.core.checkpoint import io as checkpoints
from ganstudio.core.checkpoint.io import CheckpointError
from ganstudio.core.train.trainer import Trainer
from tests.core.checkpoint_faults import trained_trainer
from tests.core.conftest import assert_same

ROOT = Path(__file__).resolve().parents[2]
TORCH_ADVICE = ("weights_only", "safe_globals", "Weights only load failed")


@pytest.fixture
def trained() -> Trainer:
    return trained_trainer()


@pytest.fixture
def good_file(trained, tmp_path) -> Path:
    return Path(trained.save_checkpoint(tmp_path / "good.pt").path)


def _tensors(obj):
    if isinstance(obj, torch.Tensor):
        yield obj
    elif isinstance(obj, dict):
        for v in obj.values():
            yield from _tensors(v)
    elif isinstance(obj, (list, tuple)):
        for v in obj:
            yield from _tensors(v)


# --- the digest -----------------------------------------------------------------------------------------


def test_every_checkpoint_carries_the_digest_of_its_content(good_file):
    raw = torch.load(good_file, map_location="cpu", weights_only=True)
    assert raw["version"] == checkpoints.VERSION == 2
    assert re.fullmatch(r"xxh3-sha256:[0-9a-f]{64}", raw["digest"]), raw["digest"]
    assert checkpoints.content_digest(raw) == raw["digest"]
    assert checkpoints.load(good_file)["verified"] is True


def test_a_digest_of_the_first_method_still_verifies(good_file, tmp_path):
    """Files sealed with CRC-32 (the first method) keep loading, and keep being checked."""
    from ganstudio.core.checkpoint import digest as checkpoint_digest

    raw = torch.load(good_file, map_location="cpu", weights_only=True)
    body = {k: v for k, v in raw.items() if k != "digest"}
    old = tmp_path / "crc.pt"
    torch.save({**body, "digest": checkpoint_digest.digest(body, "crc32-sha256")}, old)
    assert checkpoints.load(old)["verified"] is True
    noise = body["fixed_noise"].clone()
    noise.view(-1)[0] += 1.0
    torch.save({**body, "fixed_noise": noise, "digest": checkpoint_digest.digest(body, "crc32-sha256")}, old)
    with pytest.raises(checkpoints.CheckpointError, match="damaged"):
        checkpoints.load(old)


def _bump_tensor(ck):
    t = ck["fixed_noise"].clone()
    t[3, 1] = torch.nextafter(t[3, 1], torch.tensor(math.inf))  # one ulp: the smallest change there is
    ck["fixed_noise"] = t


def _same_bytes_other_dtype(ck):
    ck["fixed_noise"] = ck["fixed_noise"].view(torch.int32)


def _same_bytes_other_shape(ck):
    ck["fixed_noise"] = ck["fixed_noise"].reshape(-1)


def _keys_reordered(ck):
    sampler = ck["sampler"]
    ck["sampler"] = dict(reversed(list(sampler.items())))


def _int_as_float(ck):
    ck["sampler"]["pos"] = float(ck["sampler"]["pos"])


def _list_as_tuple(ck):
    ck["rng"]["python"] = tuple(ck["rng"]["python"])


def _module_version(ck):
    ck["models"]["G"]._metadata["net.3"]["version"] = 1  # BatchNorm's state-dict version


@pytest.mark.parametrize(
    "edit",
    [
        _bump_tensor,
        _same_bytes_other_dtype,
        _same_bytes_other_shape,
        _keys_reordered,
        _int_as_float,
        _list_as_tuple,
        _module_version,
    ],
)
def test_the_digest_sees_every_kind_of_change(edit, good_file):
    raw = torch.load(good_file, map_location="cpu", weights_only=True)
    changed = copy.deepcopy(raw)
    edit(changed)
    assert checkpoints.content_digest(changed) != raw["digest"]
    assert checkpoints.content_digest(copy.deepcopy(raw)) == raw["digest"]  # and nothing else does


def test_single_byte_flips_are_refused_or_change_nothing(good_file):
    """50 seeded flips anywhere in the file (zip headers, pickle, tensor data, padding), each loaded
    in a child process so that a crash would be seen as one."""
    proc = subprocess.run(
        [sys.executable, "-m", "tests.core.checkpoint_faults", "flips", str(good_file), "50", "2026"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    records = [json.loads(line) for line in proc.stdout.splitlines()]
    results = [r for r in records if "refused" in r]
    assert proc.returncode == 0 and len(results) == 50, (proc.returncode, records[-1:], proc.stderr[-3000:])
    flipped = str(good_file.parent / "flips" / "flipped.pt")
    for r in results:
        if r["refused"] is None:
            assert r["same"], f"a flip at byte {r['case']} loaded different content"
        else:
            msg = r["refused"]
            assert msg.startswith(flipped) and "Traceback" not in msg, msg
            assert not any(a in msg for a in TORCH_ADVICE), msg
    by_digest = [r for r in results if r["refused"] and "does not match the digest" in r["refused"]]
    assert by_digest, "no flip reached the content: the sample does not test the digest"


def test_tensors_are_saved_from_the_cpu(trained):
    state = trained.state_dict()
    assert all(t.device.type == "cpu" for t in _tensors(state))
    # on_cpu keeps a state_dict's type and its _metadata (module versions), which the digest covers.
    g = trained.G.state_dict()
    moved = checkpoints.on_cpu(g)
    assert type(moved) is type(g) and moved._metadata == g._metadata


# --- version 1 --------------------------------------------------------------------------------------------


def test_version_1_files_load_unverified(trained, good_file, tmp_path):
    raw = torch.load(good_file, weights_only=True)
    v1 = tmp_path / "v1.pt"
    torch.save({k: v for k, v in raw.items() if k != "digest"} | {"version": 1}, v1)
    ck = checkpoints.load(v1)
    assert ck["verified"] is False
    note = checkpoints.unverified_note(v1)
    assert str(v1) in note and "version-1" in note and "cannot be checked for damage" in note
    t = Trainer.from_checkpoint(v1, dataset=trained.data)
    assert_same(t.G.state_dict(), trained.G.state_dict(), "G")
    # A digest in a version-1 file is checked too: a flip of the version byte is damage, not age.
    torch.save(raw | {"version": 1}, v1)
    with pytest.raises(CheckpointError, match="is damaged: its content does not match the digest"):
        checkpoints.load(v1)


# --- which checkpoint to use instead ------------------------------------------------------------------------


def _damage(path: Path) -> None:
    """Change one value and write the file back in place (the same inode: its hard links see it),
    keeping the digest it had and its modification time."""
    st = path.stat()
    raw = torch.load(path, weights_only=True)
    _bump_tensor(raw)
    torch.save(raw, path)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


def test_a_damaged_checkpoint_names_the_one_to_use_instead(trained, tmp_path):
    folder = tmp_path / "checkpoints"
    now = time.time()
    steps = {}
    for k, step in enumerate((3, 4, 5)):
        path = checkpoints.save_atomic(trained.state_dict() | {"step": step}, folder / f"step-{step:09d}.pt")
        os.utime(path, (now - 100 + k, now - 100 + k))
        steps[step] = path
    latest = folder / "latest.pt"
    os.link(steps[5], latest)  # as the rotation makes it
    v1 = folder / "step-000000006.pt"  # the newest file, but with no digest it cannot verify
    torch.save(
        {k: v for k, v in torch.load(steps[5], weights_only=True).items() if k != "digest"} | {"version": 1},
        v1,
    )

    _damage(steps[5])
    for opened in (steps[5], latest):  # latest.pt is the same file: never offered as the fix
        with pytest.raises(CheckpointError) as info:
            checkpoints.load(opened)
        msg = str(info.value)
        assert msg.startswith(f"{opened} is damaged: its content does not match the digest"), msg
        instead = f"Use {steps[4]} instead: it is the newest other checkpoint in {folder} that verifies"
        assert instead in msg and msg.endswith("(step 4)."), msg
    _damage(steps[4])
    with pytest.raises(CheckpointError, match=f"Use {steps[3]} instead"):
        checkpoints.load(latest)
    _damage(steps[3])
    with pytest.raises(CheckpointError, match=f"No other checkpoint in {folder} verifies"):
        checkpoints.load(latest)
    alone = tmp_path / "alone" / "x.pt"
    alone.parent.mkdir()
    alone.write_bytes(steps[3].read_bytes())
    with pytest.raises(CheckpointError, match=f"There is no other checkpoint in {alone.parent} to use"):
        checkpoints.load(alone)


def test_the_checkpoint_offered_instead_is_the_highest_step_whatever_the_file_times(trained, tmp_path):
    """A copy (cp -r, a sync) rewrites the files' times in any order: after one, the refusal offered
    step 4,000 beside an intact step 5,000. The step comes from a step file's name, or from the
    content of a file of another name, never from its time."""
    folder = tmp_path / "checkpoints"
    now = time.time()
    steps = {}
    for step in (3, 4, 5, 6):
        path = checkpoints.save_atomic(trained.state_dict() | {"step": step}, folder / f"step-{step:09d}.pt")
        os.utime(path, (now - 10 * step, now - 10 * step))  # the higher the step, the older the file
        steps[step] = path
    latest = folder / "latest.pt"
    shutil.copyfile(steps[6], latest)  # a copy makes latest.pt a file of its own, the newest of all

    _damage(steps[6])
    with pytest.raises(CheckpointError) as info:
        checkpoints.load(steps[6])
    assert str(info.value).endswith(
        f"Use {latest} instead: it is the newest other checkpoint in {folder} that verifies (step 6)."
    ), str(info.value)
    _damage(latest)
    for damaged in (steps[6], latest):
        with pytest.raises(CheckpointError) as info:
            checkpoints.load(damaged)
        assert f"Use {steps[5]} instead" in str(info.value) and str(info.value).endswith("(step 5)."), str(
            info.value
        )
    # A file of another name is read for its step: an older file of a later step is offered first.
    best = checkpoints.save_atomic(trained.state_dict() | {"step": 7}, folder / "best.pt")
    os.utime(best, (now - 1000, now - 1000))
    with pytest.raises(CheckpointError, match=re.escape(f"Use {best} instead")):
        checkpoints.load(latest)
    # At the same step, the step file rather than a copy of another name.
    shutil.copyfile(steps[5], folder / "copy.pt")
    os.utime(folder / "copy.pt", (now, now))
    best.unlink()
    with pytest.raises(CheckpointError, match=re.escape(f"Use {steps[5]} instead")):
        checkpoints.load(latest)
