"""Shared fixtures for the core tests: tiny configs that train in a fraction of a second on a CPU.

Every config here runs on the CPU with one thread: results are then bit-for-bit repeatable, and a
2-core machine runs a dcgan step in milliseconds.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pytest
import torch

from ganstudio.core.config import Config, DataConfig, validate, with_values
from ganstudio.core.data import Dataset, load_dataset
from ganstudio.core.run.control import Control
from ganstudio.core.run.folder import RunFolder
from ganstudio.core.run.log import read_metrics
from ganstudio.core.train.trainer import Trainer

# The keys every tiny config sets, whatever its dataset.
TINY_BASE: dict[str, Any] = {
    "train.batch_size": 16,
    "train.steps": 6,
    "train.threads": 1,
    "train.device": "cpu",
    "log.every": 2,
    "log.sample_every": 0,
    "log.checkpoint_every": 0,
    "metrics.every": 0,  # quality metrics have their own tests; here they would only cost time
}
# Per dataset: small models that still have every layer kind of their arch.
TINY_DATA: dict[str, dict[str, Any]] = {
    "digits": {"model.width": 8, "model.latent_dim": 16},
    "ring8": {"data.dataset": "ring8", "model.width": 16, "model.latent_dim": 4},
    "dcgan": {"model.arch": "dcgan", "data.image_size": 16, "model.width": 8, "model.latent_dim": 16},
}


LOG_SHORTHANDS = ("every", "sample_every", "checkpoint_every", "keep_checkpoints")


# `ganstudio train` arguments for a run that takes a second on one CPU thread.
TINY_CLI: dict[str, Any] = {
    "train.threads": 1,
    "train.device": "cpu",
    "train.batch_size": 16,
    "model.width": 8,
    "model.latent_dim": 16,
    "log.every": 2,
}


# ...and one that trains until it is stopped, logging every step and writing nothing else.
ENDLESS = {"log.every": 1, "metrics.every": 0, "log.sample_every": 0, "log.checkpoint_every": 0}


def tiny_cli(extra: dict[str, Any] | None = None) -> list[str]:
    """`--set KEY=VALUE` for TINY_CLI and `extra`, then `--quiet`."""
    args = []
    for key, value in {**TINY_CLI, **(extra or {})}.items():
        args += ["--set", f"{key}={value}"]
    return [*args, "--quiet"]


def make_tiny_config(kind: str = "digits", values: dict[str, Any] | None = None, **flat: Any) -> Config:
    """A validated tiny config. kind: digits, ring8 or dcgan (digits upscaled to 16 px).

    values: {'section.key': value} overrides; flat keyword arguments such as `steps=10` or
    `every=1` are shorthands for the train.* and log.* keys of that name.
    """
    merged = {**TINY_BASE, **TINY_DATA[kind], **(values or {})}
    for name, value in flat.items():
        merged[f"{'log' if name in LOG_SHORTHANDS else 'train'}.{name}"] = value
    return validate(with_values(Config(), merged))


@pytest.fixture
def tiny_config() -> Callable[..., Config]:
    """The `make_tiny_config` factory: tiny_config('ring8', {'loss.kind': 'hinge'}, steps=4)."""
    return make_tiny_config


_DATASETS: dict[tuple, Dataset] = {}


def dataset_for(data: DataConfig, seed: int = 0) -> Dataset:
    """Load each dataset once per session: digits costs a sklearn read, the toys 50,000 draws."""
    key = (data, seed)
    if key not in _DATASETS:
        _DATASETS[key] = load_dataset(data, seed=seed, download=False)
    return _DATASETS[key]


def new_trainer(cfg: Config, **kwargs: Any) -> Trainer:
    return Trainer(cfg, dataset=dataset_for(cfg.data, cfg.train.seed), **kwargs)


@pytest.fixture
def make_trainer() -> Callable[..., Trainer]:
    """make_trainer(cfg, checkpoint_dir=...): a Trainer on a cached copy of cfg's dataset."""
    return new_trainer


def run_all(trainer: Trainer, control: Control | None = None) -> list:
    """Every event of trainer.run(control), in order."""
    return list(trainer.run(control))


def of_type(events: Iterable, cls: type) -> list:
    return [e for e in events if isinstance(e, cls)]


def snapshot(trainer: Trainer) -> dict[str, Any]:
    """A deep copy of everything a trainer would lose if something overwrote it."""
    state = trainer.state_dict()
    return {
        "G": {k: v.clone() for k, v in trainer.G.state_dict().items()},
        "D": {k: v.clone() for k, v in trainer.D.state_dict().items()},
        "opt_g": _clone(state["optimizers"]["G"]),
        "opt_d": _clone(state["optimizers"]["D"]),
        "step": trainer.step,
        "sampler": _clone(state["sampler"]),
        "noise": trainer.noise_gen.get_state().clone(),
        "fixed": trainer.fixed_noise.clone(),
        "cfg": trainer.cfg,
    }


def _clone(obj: Any) -> Any:
    if torch.is_tensor(obj):
        return obj.clone()
    if isinstance(obj, dict):
        return {k: _clone(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_clone(v) for v in obj)
    return obj


def assert_same(a: Any, b: Any, where: str = "") -> None:
    """Exact equality of nested dicts/lists of tensors and plain values (tensors: torch.equal)."""
    if torch.is_tensor(a):
        assert torch.is_tensor(b) and a.dtype == b.dtype and torch.equal(a, b), f"{where} differs"
    elif isinstance(a, dict):
        assert isinstance(b, dict) and a.keys() == b.keys(), f"{where} keys differ"
        for k in a:
            assert_same(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), f"{where} lengths differ"
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            assert_same(x, y, f"{where}[{i}]")
    else:
        assert a == b, f"{where}: {a!r} != {b!r}"


# ----- another process's run folder ------------------------------------------------------------------


def wait_until(predicate: Callable[[], Any], what: str, timeout: float = 60.0) -> Any:
    """Poll `predicate` until it returns something true (and return that), or fail naming `what`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def log_records(folder: RunFolder | Path) -> list[dict]:
    """The run folder's metrics.jsonl so far; [] before it exists."""
    folder = folder if isinstance(folder, RunFolder) else RunFolder(folder)
    try:
        return read_metrics(folder.metrics_path)
    except FileNotFoundError:
        return []


def last_stats_step(folder: RunFolder | Path) -> int:
    """The step of the run folder's last stats line; -1 before there is one."""
    steps = [r["step"] for r in log_records(folder) if r["event"] == "stats"]
    return steps[-1] if steps else -1
