"""A trainer's checkpoint written: `save` into the run's checkpoint folder (rotated, store.py) or to
a file, `attempt` the same or the reason it was not (a CheckpointFailed event). What a checkpoint
holds is snapshot.py's; the format and atomic writes are core/checkpoint/io.py's."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import torch

from ganstudio.core.checkpoint import io as checkpoints
from ganstudio.core.checkpoint.io import CheckpointError
from ganstudio.core.run.events import CheckpointFailed, CheckpointSaved, Event

if TYPE_CHECKING:
    from ganstudio.core.train.trainer import Trainer


def save(t: Trainer, path: str | Path | None, manual: bool) -> CheckpointSaved:
    """Save to `path`, or into the run's checkpoint folder. Raises CheckpointError."""
    if path is None and t.store is None:
        raise CheckpointError("this run has no checkpoint folder; choose a file to save to")
    t.saving = True  # the CLI's second Ctrl+C waits for this to end rather than lose the save
    try:
        state = t.state_dict()
        if path is not None:
            saved = checkpoints.save_atomic(state, path)
        else:
            saved = t.store.save(state, t.step, t.cfg.log.keep_checkpoints, manual=manual)
    finally:
        t.saving = False
    t.last_checkpoint = t.step
    # Absolute: a path relative to the working directory reads as one inside the run folder
    # once it is in the log, and was joined to the folder a second time.
    return CheckpointSaved(step=t.step, path=str(Path(saved).absolute()), manual=manual or path is not None)


def attempt(t: Trainer, path: str | Path | None, manual: bool, interval: bool) -> Event:
    """Save, or say why not (CheckpointFailed); `interval`: the checkpoint of a checkpoint
    interval (log.checkpoint_every), counted in `t.unsaved_intervals` when it cannot be written."""
    where = str(path or t.checkpoint_dir)
    if t.broken or not _finite(t):
        return CheckpointFailed(
            step=t.step,
            path=where,
            message=f"not saved: the losses or weights hold NaN/Inf values at step "
            f"{t.step}; the previous checkpoint is the last good one",
        )
    try:
        saved = save(t, path, manual)
    except CheckpointError as e:
        t.unsaved_intervals += interval
        return CheckpointFailed(step=t.step, path=where, message=str(e))
    t.unsaved_intervals = 0
    return saved


def _finite(t: Trainer) -> bool:
    """Whether the unreported losses and every weight are finite (one host sync: for saves)."""
    tensors = [t._acc, *t.G.parameters(), *t.D.parameters()]
    return bool(torch.stack([torch.isfinite(x).all() for x in tensors]).all())
