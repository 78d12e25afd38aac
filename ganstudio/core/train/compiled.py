"""train.compile: the training step's G and D through torch.compile, or eager ("off", the default).

"default" and "reduce-overhead" (CUDA graphs on a GPU; the same as "default" on the CPU) call G and
D in the step through `torch.compile(module, mode=...)` wrappers that share the models' parameters:
the models themselves, their state_dicts, checkpoints, the EMA and sampling are untouched, so a
run can resume in another mode. Off by default because, measured, eager is faster for the default
digits run on the CPU (benchmarks/bench_step.py, row F3: inductor's kernels cost more than the
small ops they fuse) and needs no compiler and no minutes of compiling on a fresh machine.

Compiled code is cached on disk (inductor's cache, in GAN Studio's cache folder unless
TORCHINDUCTOR_CACHE_DIR says otherwise), so a second run of the same models starts in seconds.
A step with a gradient penalty (WGAN-GP, R1, R2: a double backward, which compiled graphs do not
support) calls the eager models. Compiling is tried at the run's start on a throwaway copy of the
trainer (threads.probe_of): when it cannot work (no C++ compiler for the CPU, an inductor error, a
torchrun job) the run trains eager and says why in ONE Alert (kind "compile"), never a traceback.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from typing import TYPE_CHECKING

import torch
from torch import nn

from ganstudio.core.run.events import Alert

if TYPE_CHECKING:
    from ganstudio.core.train.penalties import Due
    from ganstudio.core.train.trainer import Trainer

KIND = "compile"  # the Alert's kind


class StepModels:
    """The G and D the training step calls: compiled wrappers of the trainer's models, or none."""

    def __init__(self) -> None:
        self.mode = "off"
        self.G: nn.Module | None = None
        self.D: nn.Module | None = None

    def pick(self, trainer: Trainer, weights: Due) -> tuple[nn.Module, nn.Module]:
        """(G, D) for this step: the compiled ones unless off, or a penalty needs a double backward."""
        if self.G is None or weights.r1 > 0 or weights.r2 > 0 or trainer.cfg.loss.kind == "wgan-gp":
            return trainer.G, trainer.D
        return self.G, self.D


def compile_module(module: nn.Module, mode: str) -> nn.Module:
    """torch.compile(module, mode=mode) (one place: the tests make it fail here)."""
    return torch.compile(module, mode=mode)


def prepare(trainer: Trainer) -> Iterator[Alert]:
    """At the run's (re)start: compile the step's models as train.compile says, or leave them eager
    and yield one Alert that says why and what to do."""
    models = trainer.step_models
    mode = trainer.cfg.train.compile
    models.mode, models.G, models.D = "off", None, None
    if mode == "off":
        return
    why = _unsupported(trainer)
    if not why:
        _use_cache_folder()
        try:
            _warm_up(trainer, mode)
            models.G, models.D = compile_module(trainer.G, mode), compile_module(trainer.D, mode)
            models.mode = mode
        except Exception as e:  # any failure of the compiler stack: eager is always right
            first = str(e).strip().splitlines()[0][:300] if str(e).strip() else ""
            why = f"torch.compile failed ({type(e).__name__}{': ' + first if first else ''})"
    if why:
        yield Alert(
            step=trainer.step,
            kind=KIND,
            message=f"train.compile = {mode!r} is not used: {why}. The run trains eager, as fast or "
            "faster on the CPU for small models; set train.compile = 'off' to silence this.",
        )


def _unsupported(trainer: Trainer) -> str:
    """Why this run cannot compile ("" when it can try)."""
    if trainer.world_size > 1:
        return "a torchrun job trains eager (compiled models are for one process)"
    if trainer.cfg.loss.kind == "wgan-gp":  # R1/R2 are lazy: their other steps do compile
        return "WGAN-GP's gradient penalty on every step needs a double backward, which compiled graphs lack"
    if trainer.device.type == "cpu" and not _cpp_compiler():
        return (
            "no C++ compiler found (inductor builds CPU kernels with one: install g++ or clang, "
            "or set CXX to one)"
        )
    return ""


def _cpp_compiler() -> str | None:
    """The C++ compiler inductor would use on the CPU (its own pick: $CXX, else g++/clang++), or None."""
    names = [os.environ["CXX"]] if os.environ.get("CXX") else ["g++", "clang++", "c++"]
    return next((found for name in names if (found := shutil.which(name))), None)


def _use_cache_folder() -> None:
    """Inductor's on-disk cache in GAN Studio's cache folder (kept across reboots, unlike /tmp),
    unless TORCHINDUCTOR_CACHE_DIR already names one."""
    if not os.environ.get("TORCHINDUCTOR_CACHE_DIR"):
        from ganstudio.core.metrics.classifier import default_cache_dir

        os.environ["TORCHINDUCTOR_CACHE_DIR"] = str(default_cache_dir() / "inductor")


def _warm_up(trainer: Trainer, mode: str) -> None:
    """Two compiled steps on a throwaway copy of the trainer (its own models, optimizers, noise and
    batches): compiles every graph the step needs, and raises here rather than mid-run. Compiled code
    is shared by every instance of the same models, so the run's own wrappers start compiled."""
    from ganstudio.core.train.threads import probe_of

    probe = probe_of(trainer)
    probe.step_models = StepModels()
    probe.step_models.G = compile_module(probe.G, mode)
    probe.step_models.D = compile_module(probe.D, mode)
    for _ in range(2):
        probe.train_step()
