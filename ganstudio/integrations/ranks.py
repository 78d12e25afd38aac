"""`ganstudio.init`'s Run on every rank of a job that a framework (Accelerate, Lightning) started.

Rank 0 writes the run folder and reads its control file (`ganstudio.init`); every other rank holds
a Run with `main=False`, which writes nothing. The framework already joined torch.distributed, so
the ranks agree on rank 0's requests with the torchrun path's own `AgreedControl`
(core/train/distributed.py): at each `tick(step)` one small all-reduce on a Gloo group says, the
same on every rank, whether to run, pause, step or stop, and rank 0's live edits and saves are
broadcast, so every rank's Run applies them to its own optimizers at the same step. A paused job
ticks every half second, so no collective waits longer than that.

Rank 0's config (the keys it was given and its optimizers' rates) goes to the other ranks at the
first tick, so an edit is checked alike everywhere.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import torch
import torch.distributed as dist

import ganstudio
from ganstudio.core.api import Run
from ganstudio.core.api.settings import is_ganstudio_key
from ganstudio.core.api.writer import warn
from ganstudio.core.config import KEYS, unknown_key
from ganstudio.core.train.distributed import AgreedControl, Job

PLAIN = (bool, int, float, str)


class RunOnRanks:
    """One run of a framework's loop on every rank: made lazily (the framework decides when its
    process group and config exist), steered by `tick`, agreed across ranks."""

    def __init__(
        self,
        is_main: Callable[[], bool],
        *,
        out: str | os.PathLike = "runs",
        name: str = "",
        config: Mapping[str, Any] | None = None,
        live: Iterable[str] = (),
        on_change: Callable[[dict[str, Any]], Any] | None = None,
        on_nan: str = "warn",
    ):
        self._is_main = is_main
        self._config = dict(config or {})
        live = [live] if isinstance(live, str) else list(live)
        self._init = {"out": out, "name": name, "live": live, "on_change": on_change, "on_nan": on_nan}
        self.run: Run | None = None  # made on rank 0 by start(); on the others at the first tick
        self._optimizers: dict[str, Any] = {}
        self._save_fn: Callable[[int], Any] | None = None
        self._joined = False

    @property
    def main(self) -> bool:
        return self._is_main()

    def start(self, config: Mapping[str, Any] | None = None) -> Run | None:
        """Rank 0's run, made now if not yet, with `config` (the framework's hyperparameters) added
        to the keys given at construction. None on the other ranks (theirs comes at the first tick)."""
        if self.run is None and self.main:
            extra = {k: v for k, v in (config or {}).items() if k not in self._config}
            self._made(ganstudio.init(config={**plain(extra), **self._config}, **self._init))
        return self.run

    def watch(self, g_optimizer: Any = None, d_optimizer: Any = None) -> None:
        """Live optim.* edits go into these optimizers, on every rank (call it on every rank)."""
        self._optimizers = {"g_optimizer": g_optimizer, "d_optimizer": d_optimizer}
        if self.run is not None:
            self.run.watch(**self._optimizers)

    def on_save(self, fn: Callable[[int], Any] | None) -> None:
        """Save from the app calls `fn(step)` on every rank at the same step (rank 0's return value,
        a path or None, is what the run records)."""
        self._save_fn = fn
        if self.run is not None:
            self.run.on_save(fn)

    def log(self, step: int | None, values: Mapping[str, Any]) -> None:
        """Rank 0: numbers (or 0-d tensors) at `step` (None: the last ticked step); text is left out."""
        run = self.start()
        if run is not None:
            numbers = {k: v for k, v in values.items() if not isinstance(v, str)}
            run.log(run.step if step is None else int(step), **numbers)

    def log_images(self, step: int | None, x: Any) -> None:
        run = self.start()
        if run is not None:
            run.log_images(run.step if step is None else int(step), x)

    def tick(self, step: int) -> bool:
        """On every rank, between steps: apply rank 0's edits and saves, block while paused, and
        say whether to go on (False on every rank at the same step once Stop was asked)."""
        if not self._joined:
            self._join()
        return self.run.tick(step)

    def finish(self, failed: BaseException | None = None) -> None:
        if self.run is not None:
            self.run.finish(failed=failed)

    def _join(self) -> None:
        """The first tick, on every rank together: rank 0's config to the others, and the agreement."""
        self._joined = True
        job = job_of_process_group()
        if job is None:  # one process: the run is steered as ganstudio.init's own
            self.start()
            return
        config = job.broadcast(dict(self.start().config) if job.main else None)
        if not job.main:
            self._made(ganstudio.init(config=config, main=False, **self._init))
        run = self.run
        run.control = _Agreed(run.control, job, lambda: run.step)

    def _made(self, run: Run) -> None:
        self.run = run
        if self._optimizers:
            run.watch(**self._optimizers)
        if self._save_fn is not None:
            run.on_save(self._save_fn)


class _Agreed(AgreedControl):
    """The torchrun path's agreement as a Run's control: asked at every tick (the framework's
    gradient all-reduce is its own, so nothing rides on it), and stoppable by rank 0's Run itself
    (its NaN policy)."""

    def quiet(self) -> bool:
        return False

    def stop(self, save: bool = True) -> None:
        self.inner.stop(save)


def job_of_process_group() -> Job | None:
    """This process's place in the torch.distributed job the framework started, as the trainer's
    collective: a Gloo group for the agreement (the default group when it is Gloo; a new one,
    made by every rank at its first tick, beside NCCL). None when not in a job of 2 or more."""
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() < 2:
        return None
    backend = str(dist.get_backend())
    group = dist.group.WORLD if "gloo" in backend else dist.new_group(backend="gloo")
    return Job(
        rank=dist.get_rank(),
        world_size=dist.get_world_size(),
        local_rank=int(os.environ.get("LOCAL_RANK", "0")),
        backend=backend,
        device=torch.device("cpu"),
        control_group=group,
        hosts=[],
    )


def plain(values: Mapping[str, Any]) -> dict[str, Any]:
    """A framework's hyperparameters as config keys: GAN Studio's own (`optim.lr_g`, checked as
    ganstudio.init checks them) and the loop's plain values; None and non-finite numbers left out,
    anything else as its text (a list, a path). A name in one of GAN Studio's sections that is not
    one of its keys is left out with a warning (it would be refused as a misspelling)."""
    out = {}
    for key, value in values.items():
        key = str(key)
        if value is None or (isinstance(value, float) and not math.isfinite(value)):
            continue
        if is_ganstudio_key(key) and key not in KEYS:
            warn(f"hyperparameter {key!r} is not shown in GAN Studio: {unknown_key(key)}")
            continue
        out[key] = value if isinstance(value, PLAIN) else str(value)
    return out
