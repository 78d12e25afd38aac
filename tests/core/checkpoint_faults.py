"""Fault injection for checkpoints, run in a child process so that a native crash is seen by the
test as a signal instead of killing pytest.

    python -m tests.core.checkpoint_faults parts DIR     # each CASES entry: corrupt, save, resume
    python -m tests.core.checkpoint_faults flips FILE N  # N seeded single-byte flips of FILE, loaded

Each prints one JSON object per line: {"case": name} before it starts (so the parent can name the
case a crash interrupted), then its result.
"""

from __future__ import annotations

import copy
import json
import math
import random
import struct
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from ganstudio.core.checkpoint import io as checkpoints
from ganstudio.core.checkpoint.io import CheckpointError
from ganstudio.core.train.trainer import Trainer
from tests.core.conftest import assert_same, make_tiny_config, new_trainer, snapshot

N_DATA = 1797  # samples in the digits dataset: the sampler's permutation length


def trained_trainer() -> Trainer:
    """The tiny digits trainer of test_checkpoints' `trained` fixture: EMA on, 3 steps made."""
    t = new_trainer(make_tiny_config("digits", {"train.ema": 0.5}, steps=10, every=2))
    for _ in range(3):
        t.train_step()
    return t


# ----- the parts of a checkpoint, each corrupted in turn ----------------------------------------------

Edit = Callable[[dict[str, Any]], None]


def _opt(ck: dict, name: str = "G") -> dict:
    return ck["optimizers"][name]


def _each_step(ck: dict, name: str, value: float) -> None:
    for s in _opt(ck, name)["state"].values():
        s["step"] = torch.tensor(value)


def _nan_at(t: torch.Tensor) -> torch.Tensor:
    t = t.clone()
    t.view(-1)[0] = math.nan
    return t


def _extra_state(ck: dict) -> None:
    state = _opt(ck)["state"]
    state[len(state)] = copy.deepcopy(state[0])


def _extra_group(ck: dict) -> None:
    groups = _opt(ck)["param_groups"]
    groups.append(copy.deepcopy(groups[0]))


def _set_group(key: str, value: Any) -> Edit:
    def edit(ck: dict) -> None:
        _opt(ck)["param_groups"][0][key] = value

    return edit


def _perm_at(i: int, value: int | None = None, same_as: int | None = None) -> Edit:
    def edit(ck: dict) -> None:
        perm = ck["sampler"]["perm"].clone()
        perm[i] = value if value is not None else perm[same_as]
        ck["sampler"]["perm"] = perm

    return edit


# One logged point (NaN: a stat not measured at that point) and a marker: what the history edits
# below start from, so that they test the history's checks, not an empty one.
HISTORY = {
    "step": [2],
    "wall": [0.01],
    "epoch": [0.02],
    "values": {"loss_d": [0.7], "grad_d": [math.nan]},
    "markers": [[2, "checkpoint", "checkpoint saved: x.pt"]],
}


def _history(*path_and_value: Any) -> Edit:
    def edit(ck: dict) -> None:
        ck["history"] = copy.deepcopy(HISTORY)
        if path_and_value:
            _set("history", *path_and_value)(ck)

    return edit


def _set(*path_and_value: Any) -> Edit:
    *path, value = path_and_value

    def edit(ck: dict) -> None:
        d = ck
        for key in path[:-1]:
            d = d[key]
        d[path[-1]] = value(d[path[-1]]) if callable(value) else value

    return edit


def _many(*edits: Edit) -> Edit:
    def edit(ck: dict) -> None:
        for e in edits:
            e(ck)

    return edit


# name -> (the edit, words the refusal must hold besides the file's name; None: it must load and train)
CASES: dict[str, tuple[Edit, str | None]] = {
    "untouched": (_history(), None),
    # Optimizers: the state of another model crashes the fused Adam kernel.
    "opt moment shape": (
        _set("optimizers", "G", "state", 2, "exp_avg", lambda t: t[:, :-1].clone()),
        "optimizers.G state of parameter 2 (net.2.weight) exp_avg has shape (16, 7), the model's is (16, 8)",
    ),
    "opt moment dtype": (
        _set("optimizers", "D", "state", 0, "exp_avg_sq", lambda t: t.double()),
        "optimizers.D state of parameter 0 (net.1.weight) exp_avg_sq is torch.float64",
    ),
    "opt moment NaN": (_set("optimizers", "G", "state", 0, "exp_avg", _nan_at), "NaN or infinite"),
    "opt moment negative": (
        _set("optimizers", "G", "state", 1, "exp_avg_sq", lambda t: -1 - t),
        "exp_avg_sq holds negative values",
    ),
    "opt step negative": (lambda ck: _each_step(ck, "G", -1.0), "step is -1.0"),
    "opt step fraction": (lambda ck: _each_step(ck, "G", 2.5), "step is 2.5"),
    "opt step NaN": (lambda ck: _each_step(ck, "D", math.nan), "step is nan"),
    "opt step not scalar": (
        _set("optimizers", "G", "state", 0, "step", torch.tensor([3.0, 3.0])),
        "a 0-d real tensor",
    ),
    "opt steps differ": (
        _set("optimizers", "G", "state", 1, "step", torch.tensor(2.0)),
        "optimizers.G state steps differ",
    ),
    "opt G step not the checkpoint's": (
        lambda ck: _each_step(ck, "G", 5.0),
        "optimizers.G has made 5 updates, but the checkpoint is at step 3",
    ),
    "opt D behind G": (lambda ck: _each_step(ck, "D", 1.0), "optimizers.D has made 1 updates, fewer than"),
    "opt larger state": (_extra_state, "optimizers.G has state for parameter"),
    "opt missing state": (lambda ck: _opt(ck)["state"].pop(1), "optimizers.G has no state for parameter 1"),
    "opt unknown state key": (
        _set("optimizers", "G", "state", 0, "momentum_buffer", torch.zeros(1)),
        "Adam's is",
    ),
    "opt extra group": (_extra_group, "optimizers.G has 2 parameter groups"),
    "opt ids permuted": (
        _set("optimizers", "G", "param_groups", 0, "params", lambda p: p[::-1]),
        "optimizers.G parameter group 0 lists parameters",
    ),
    "opt ids fewer": (
        _set("optimizers", "D", "param_groups", 0, "params", lambda p: p[:-1]),
        "optimizers.D parameter group 0 lists parameters",
    ),
    "opt amsgrad": (_set_group("amsgrad", True), "amsgrad = True"),
    "opt eps": (_set_group("eps", 0.5), "eps = 0.5"),
    "opt not a state": (_set("optimizers", "D", {"state": [], "param_groups": []}), "not an optimizer state"),
    # Models.
    "model extra key": (_set("models", "G", "net.99.weight", torch.zeros(2)), "models.G has net.99.weight"),
    "model missing key": (lambda ck: ck["models"]["D"].pop("net.3.bias"), "models.D has no net.3.bias"),
    "model dtype": (_set("models", "D", "net.1.weight", lambda t: t.double()), "is torch.float64"),
    "model NaN": (_set("models", "G", "net.0.bias", _nan_at), "models.G.net.0.bias holds NaN"),
    "ema shape": (
        _set("models", "G_ema", "net.0.weight", lambda t: t[:-1].clone()),
        "models.G_ema.net.0.weight has shape (7, 16)",
    ),
    # The data sampler: an index out of range would read past the data (a fault on a GPU).
    "perm out of range": (_perm_at(0, N_DATA + 5), f"sampler.perm holds index {N_DATA + 5}"),
    "perm negative": (_perm_at(3, -1), "sampler.perm holds index -1"),
    "perm repeats": (_perm_at(1, same_as=0), "appears more than once"),
    "perm dtype": (_set("sampler", "perm", lambda t: t.float()), "1-d int64 tensor"),
    "perm short": (_set("sampler", "perm", torch.arange(5)), "sampler permutation has 5 entries"),
    "pos beyond": (_set("sampler", "pos", N_DATA + 16), "sampler.pos is 1813"),
    "pos not a batch": (_set("sampler", "pos", 5), "not a multiple of the batch size 16"),
    "epochs negative": (_set("sampler", "epochs_done", -1), "sampler.epochs_done is -1"),
    "sampler generator": (
        _set("sampler", "generator", lambda t: t[:100].clone()),
        "sampler.generator has 100 bytes",
    ),
    "epoch off": (_set("epoch", 7.0), "epoch is 7.0, but the sampler is"),
    # Random streams.
    "torch rng size": (_set("rng", "torch", lambda t: t[:-8].clone()), "rng.torch has 5048 bytes"),
    "noise rng size": (_set("rng", "noise", lambda t: t[:16].clone()), "rng.noise has 16 bytes"),
    "noise rng dtype": (_set("rng", "noise", lambda t: t.long()), "rng.noise is a tensor of shape"),
    "numpy keys shape": (_set("rng", "numpy", "keys", lambda t: t[:100].clone()), "rng.numpy.keys is"),
    "numpy keys range": (_set("rng", "numpy", "keys", lambda t: t + 2**32), "outside 0 to 2**32 - 1"),
    "numpy pos": (_set("rng", "numpy", "pos", 625), "rng.numpy.pos is 625"),
    "python version": (_set("rng", "python", 0, 2), "rng.python version is 2"),
    "python state length": (_set("rng", "python", 1, lambda w: w[:-1]), "625 ints"),
    "python state value": (_set("rng", "python", 1, lambda w: [-1, *w[1:]]), "not ints from 0 to 2**32 - 1"),
    "python position": (_set("rng", "python", 1, lambda w: [*w[:-1], 700]), "rng.python state position"),
    # Fixed noise, stats accumulator, history, counters.
    "fixed noise shape": (_set("fixed_noise", lambda t: t[:10].clone()), "fixed noise has shape (10, 16)"),
    "fixed noise NaN": (_set("fixed_noise", _nan_at), "fixed noise holds NaN"),
    "fixed noise dtype": (_set("fixed_noise", lambda t: t.double()), "fixed noise is torch.float64"),
    "accumulator shape": (
        _set("stats_accumulator", "sum", torch.zeros(3)),
        "stats_accumulator.sum has shape (3,)",
    ),
    "accumulator count": (_set("stats_accumulator", "count", 4), "stats_accumulator.count is 4"),
    "accumulator wall": (_set("stats_accumulator", "wall", 1e9), "stats_accumulator.wall is"),
    "history series length": (
        _history("values", "loss_d", [0.7, 0.6]),
        "history series 'loss_d' has 2 points, history.step has 1",
    ),
    "history steps order": (
        _many(
            _history("step", [2, 1]),
            _set("history", "wall", [0.0, 0.0]),
            _set("history", "epoch", [0.0, 0.0]),
            _set("history", "values", {}),
        ),
        "history.step is not in order",
    ),
    "history step beyond": (_history("step", [99]), "history.step is not in order"),
    "history values text": (_history("values", "x", ["a"]), "history series 'x' is"),
    "history wall NaN": (_history("wall", [math.nan]), "history.wall holds values"),
    "history marker": (_history("markers", [[1, "x"]]), "history.markers[0]"),
    "step negative": (_set("step", -1), "'step' is -1"),
    "wall infinite": (_set("wall", math.inf), "'wall' is inf"),
}


def run_parts(folder: Path) -> None:
    """Each case: corrupt one part of a good checkpoint, save it with a valid digest (as a program
    that wrote it wrong would), and resume from it next to a running trainer that must not change."""
    t = trained_trainer()
    good = t.state_dict()
    running = new_trainer(make_tiny_config("digits", steps=100))
    running.train_step()
    before = snapshot(running)
    for i, (name, (edit, _)) in enumerate(CASES.items()):
        _say(case=name)
        ck = copy.deepcopy(good)
        edit(ck)
        path = checkpoints.save_atomic(ck, folder / f"case-{i:02d}.pt")
        try:
            resumed = Trainer.from_checkpoint(path, dataset=running.data)
        except CheckpointError as e:
            _say(case=name, path=str(path), refused=str(e))
            continue
        for _ in range(2):  # what the bug did next: train on it
            resumed.train_step()
        _say(case=name, path=str(path), refused=None)
    assert_same(snapshot(running), before, "running trainer")
    _say(case="running trainer untouched", refused="yes")


# ----- single-byte flips ------------------------------------------------------------------------------


def run_flips(good: Path, n: int, seed: int) -> None:
    """N seeded single-byte flips anywhere in `good`, each loaded: refused, or the same content."""
    data = good.read_bytes()
    reference = torch.load(good, map_location="cpu", weights_only=True)
    rng = random.Random(seed)
    flipped = good.parent / "flips" / "flipped.pt"
    flipped.parent.mkdir()
    for pos in sorted(rng.sample(range(len(data)), n)):
        _say(case=pos)
        damaged = bytearray(data)
        damaged[pos] ^= rng.randrange(1, 256)
        flipped.write_bytes(bytes(damaged))
        try:
            ck = checkpoints.load(flipped)
        except CheckpointError as e:
            _say(case=pos, refused=str(e))
            continue
        body = {k: v for k, v in ck.items() if k not in ("config_obj", "verified")}
        _say(case=pos, refused=None, same=same_content(body, reference))


def same_content(a: Any, b: Any) -> bool:
    """Exactly the same values and types: tensors by dtype, shape and bytes, floats by their bits
    (so NaN equals NaN), dicts by keys in order."""
    if type(a) is not type(b):
        return False
    if isinstance(a, torch.Tensor):
        return (
            a.dtype == b.dtype
            and a.shape == b.shape
            and bytes(a.contiguous().view(-1).view(torch.uint8).numpy())
            == bytes(b.contiguous().view(-1).view(torch.uint8).numpy())
        )
    if isinstance(a, dict):
        return (
            list(a) == list(b)
            and all(same_content(a[k], b[k]) for k in a)
            and same_content(getattr(a, "__dict__", None), getattr(b, "__dict__", None))
        )
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same_content(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float):
        return struct.pack("<d", a) == struct.pack("<d", b)
    return a == b


def _say(**record: Any) -> None:
    print(json.dumps(record), flush=True)


if __name__ == "__main__":
    torch.set_num_threads(1)
    if sys.argv[1] == "parts":
        run_parts(Path(sys.argv[2]))
    else:
        run_flips(Path(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]))
