"""Checkpoint files: atomic save, validated load, rotation.

A checkpoint is a dict of state_dicts and plain values (see `Trainer.state_dict`). It is written to
a temporary file in the same folder, fsynced and renamed over the target, so a crash or a full disk
during a save leaves the previous file intact. It is read with torch.load(weights_only=True) only:
a file that needs anything more is refused, never unpickled.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import tempfile
from pathlib import Path
from typing import Any

import torch

from ganstudio.core.config import Config, ConfigError, from_dict
from ganstudio.core.runlog import LATEST, list_checkpoints, step_path

FORMAT = "ganstudio-checkpoint"
VERSION = 1

# Top-level keys and the Python type each must have; load() refuses a file that differs.
REQUIRED: dict[str, type | tuple[type, ...]] = {
    "format": str,
    "version": int,
    "config": dict,
    "step": int,
    "epoch": float,
    "wall": float,
    "models": dict,
    "optimizers": dict,
    "sampler": dict,
    "rng": dict,
    "fixed_noise": torch.Tensor,
    "stats_accumulator": dict,
    "history": dict,
}


class CheckpointError(Exception):
    """A checkpoint that cannot be written or read; str(e) names the file and what is wrong."""


def _fsync_dir(folder: Path) -> None:
    # Makes the rename itself durable; not possible on every platform, and harmless to skip there.
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def save_atomic(obj: dict[str, Any], path: str | Path) -> Path:
    """Write `obj` to `path` so that `path` is always either the old file or the complete new one."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as e:
        raise CheckpointError(f"cannot write checkpoint {path}: {e.strerror or e}") from e
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as e:
        with contextlib.suppress(OSError):
            tmp.unlink()
        if isinstance(e, OSError):
            raise CheckpointError(
                f"cannot write checkpoint {path}: {e.strerror or e}. "
                "The previous checkpoint is unchanged; free some disk space or choose another folder."
            ) from e
        raise
    _fsync_dir(path.parent)
    return path


def load(path: str | Path) -> dict[str, Any]:
    """Read and check a checkpoint's structure and config. Tensors stay on the CPU.

    Shapes are checked against the config when a Trainer is built from it (`Trainer.from_checkpoint`),
    which loads every state into fresh objects before anything is replaced.
    """
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"checkpoint {path} does not exist")
    if path.is_dir():
        raise CheckpointError(f"{path} is a folder; choose a .pt checkpoint file (for example {LATEST})")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # corrupt bytes can fail anywhere in the unpickler: KeyError, IndexError...
        if isinstance(e, pickle.UnpicklingError) and "GLOBAL" in str(e):
            raise CheckpointError(
                f"{path} was refused: it contains objects other than tensors and plain values, so it "
                f"is not a GAN Studio checkpoint and loading it could run code ({_first_line(e)})"
            ) from None
        raise CheckpointError(
            f"{path} is not a readable checkpoint: it is truncated, corrupt or another kind of file "
            f"({_first_line(e)})"
        ) from None
    return check(obj, path)


def _first_line(e: BaseException) -> str:
    # torch's weights-only refusal opens with boilerplate; the line naming the global says what it was.
    text = [line.strip() for line in str(e).strip().splitlines() if line.strip()]
    line = next((t for t in text if "GLOBAL" in t), text[0] if text else type(e).__name__)
    return line[:300]


def check(obj: Any, path: str | Path = "checkpoint") -> dict[str, Any]:
    if not isinstance(obj, dict) or obj.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a GAN Studio checkpoint (no '{FORMAT}' marker)")
    version = obj.get("version")
    if version != VERSION:
        raise CheckpointError(
            f"{path} has checkpoint format version {version!r}; this GAN Studio reads version {VERSION}"
        )
    for key, kind in REQUIRED.items():
        if key not in obj:
            raise CheckpointError(f"{path} is incomplete: it has no '{key}'")
        if not isinstance(obj[key], kind):
            raise CheckpointError(f"{path} is damaged: '{key}' is a {type(obj[key]).__name__}")
    for group, names in (("models", ("G", "D")), ("optimizers", ("G", "D"))):
        for name in names:
            if not isinstance(obj[group].get(name), dict):
                raise CheckpointError(f"{path} is incomplete: it has no {group}.{name} state")
    try:
        obj["config_obj"] = from_dict(obj["config"], source=f"{path}'s config")
    except ConfigError as e:
        raise CheckpointError(f"{path} holds an invalid config:\n" + "\n".join(e.problems)) from None
    return obj


def config_of(ckpt: dict[str, Any]) -> Config:
    return ckpt["config_obj"]


def save_rotating(obj: dict[str, Any], folder: str | Path, step: int, keep: int) -> Path:
    """Save as step-N.pt, point latest.pt at it, then delete all but the `keep` newest step files.

    Old files go only after the new one and latest.pt are complete, so there is always a loadable
    checkpoint on disk.
    """
    folder = Path(folder)
    path = save_atomic(obj, step_path(folder, step))
    latest = folder / LATEST
    tmp = folder / f".{LATEST}.link.tmp"
    try:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        os.link(path, tmp)  # a second name for the same bytes: no second write
        os.replace(tmp, latest)
    except OSError:
        with contextlib.suppress(OSError):
            tmp.unlink()
        save_atomic(obj, latest)
    for _, old in list_checkpoints(folder)[:-keep]:
        with contextlib.suppress(OSError):
            old.unlink()
    return path
