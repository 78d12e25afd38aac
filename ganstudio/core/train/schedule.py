"""What is due at a step: the training loop's whole timetable, in one pure function of the config
and the process's place in its job (no torch, no trainer: tests/core/test_schedule.py checks it
without either).

    stats       the interval's averaged stats are logged (on every rank: averaging them is a collective)
    samples     a sample grid (rank 0)
    checkpoint  a checkpoint interval ends: every rank averages and checks the losses, rank 0 saves
    metrics     the quality metrics are handed the current weights (rank 0)
    health      the logged stats go through the health checks (rank 0)
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from ganstudio.core.config import Config


@dataclass(frozen=True)
class World:
    """Where this process stands: rank `rank` of a job of `size` processes (one process: 0 of 1).
    Rank 0 writes the run folder, samples, evaluates and checks the run's health."""

    rank: int = 0
    size: int = 1

    @property
    def main(self) -> bool:
        return self.rank == 0


@dataclass(frozen=True)
class Due:
    """What the step just taken calls for (see the module's doc)."""

    stats: bool = False
    samples: bool = False
    checkpoint: bool = False
    metrics: bool = False
    health: bool = False


@dataclass(frozen=True)
class Schedule:
    """The timetable of a run with config `cfg`, for a process at `world`. `checkpoints`: whether
    the run writes checkpoints at all (it has a checkpoint folder; a job's other ranks take part in
    rank 0's). A live edit makes a new one (`for_config`): every interval is a live key."""

    cfg: Config
    world: World = World()
    checkpoints: bool = True

    def for_config(self, cfg: Config) -> Schedule:
        return self if cfg is self.cfg else dataclasses.replace(self, cfg=cfg)

    def samples_at_start(self, step: int) -> bool:
        """A new run shows its first samples (of the untrained generator) before its first step."""
        return bool(self.cfg.log.sample_every) and step == 0 and self.world.main

    def due(self, step: int, *, single: bool = False, broken: bool = False) -> Due:
        """What is due after the step that reached `step`. `single`: it was one step asked for while
        paused (its stats and samples are shown at once); `broken`: a NaN was seen, so nothing is
        evaluated or saved from these weights."""
        cfg, main = self.cfg, self.world.main
        end = step >= cfg.train.steps
        metrics = _every(cfg.metrics.every, step) and not broken
        # At the run's end the final checkpoint comes after the last metrics, so they are in it.
        checkpoint = (
            self.checkpoints
            and _every(cfg.log.checkpoint_every, step)
            and not broken
            and not (metrics and end)
        )
        stats = step % cfg.log.every == 0 or single or end or metrics
        samples = bool(cfg.log.sample_every) and (step % cfg.log.sample_every == 0 or single)
        return Due(
            stats=stats,
            samples=samples and main,
            checkpoint=checkpoint,
            metrics=metrics and main,
            health=main,
        )


def _every(interval: int, step: int) -> bool:
    """Whether an interval of `interval` steps (0: never) ends at `step`."""
    return bool(interval) and step % interval == 0
