"""When a run's system lines are due (log.system_every seconds), and how a job's ranks' readings
reach rank 0 without a collective of their own.

A run writes one system line per process when it starts, then every log.system_every seconds, each
at a log interval's end (the first after the seconds have passed), just before that interval's
stats line, so the reducer puts the readings on that stats point (core/run/state.py).

One process decides by its own clock. The ranks of a job must agree, and without an extra collective
per step: their readings ride on the one all-reduce a log interval already makes (the stats' mean,
`Trainer.flush_stats`). That all-reduce carries one more number, rank 0's "lines due next", so every
rank learns at the same interval that the *next* interval carries readings; there each rank puts its
readings, times the world size, in its own slots (zeros elsewhere), and the mean gives every rank's
readings to every rank. So a job's lines come one log interval after rank 0's clock said so, at the
same step on every rank, and between them the stats carry a single extra number. At the start, where
no interval has run yet, every rank's host, devices and first readings are gathered once
(`Collective.gather`).
"""

from __future__ import annotations

import math
import time
from typing import Any

import torch

from ganstudio.core.config import Config
from ganstudio.core.run.events import System
from ganstudio.core.run.system import SystemSampler, rounded, system_event

K = len(System.FIELDS)


class SystemLines:
    """A trainer's system lines: `start` at the run's start, `ride`/`settle` around each log
    interval's all-reduce, `take` the lines to yield before the interval's stats."""

    def __init__(self, collective: Any, device: Any, clock: Any = time.monotonic):
        self.collective = collective
        self.sampler = SystemSampler(device)
        self._clock = clock
        self._last = -math.inf  # when rank 0's clock last asked for lines
        self._ready: list[System] = []
        self._riding = False  # this interval's all-reduce carries every rank's readings (a job)
        host, devices = self.sampler.where()
        self._where: list[tuple[str, tuple[str, ...]]] = [(host, devices)]

    @property
    def _size(self) -> int:
        return self.collective.world_size

    def start(self, step: int, cfg: Config) -> list[System]:
        """Every rank's first line (the same on every rank of a job: one gather at the start, every
        rank takes part whether lines are on or not, since it learns where the others run)."""
        mine = (self.sampler.where(), self.sampler.read())
        gathered = self.collective.gather(mine)
        self._where = [where for where, _ in gathered]
        self._riding = False
        if not cfg.log.system_every:
            return []
        self._last = self._clock()
        return [system_event(step, r, readings, *where) for r, (where, readings) in enumerate(gathered)]

    def _due(self, cfg: Config) -> bool:
        """Rank 0's clock says lines are due (and it starts counting the next interval from now)."""
        every = cfg.log.system_every
        if not every or self._clock() - self._last < every:
            return False
        self._last = self._clock()
        return True

    def ride(self, cfg: Config, like: torch.Tensor) -> torch.Tensor:
        """The numbers this rank adds to the log interval's all-reduce (a mean over the ranks), as
        a tensor of `like`'s dtype and device: nothing for one process; in a job rank 0's "due
        next" and, on an interval that carries them, this rank's readings in its own slots."""
        n = self._size
        if n == 1:
            return like.new_zeros(0)
        numbers = [float(n) if self.collective.main and self._due(cfg) else 0.0]
        if self._riding:
            slots = [0.0] * (K * n)
            rank = self.collective.world.rank
            for j, value in enumerate(self.sampler.read().values()):
                slots[rank * K + j] = n * (math.nan if value is None else value)
            numbers += slots
        return torch.tensor(numbers, dtype=like.dtype).to(like.device)

    def settle(self, means: list[float], step: int, cfg: Config) -> None:
        """What came back of this rank's `ride` (`means`, the same on every rank): the lines it
        carried, and whether the next interval carries readings. One process reads its own."""
        if self._size == 1:
            if self._due(cfg):
                self._ready.append(system_event(step, 0, self.sampler.read(), *self._where[0]))
            return
        riding, self._riding = self._riding, means[0] > 0.5
        if not riding:
            return
        slots = means[1:]
        for r in range(self._size):
            readings = dict(zip(System.FIELDS, map(rounded, slots[r * K : (r + 1) * K]), strict=True))
            where = self._where[r] if r < len(self._where) else ("", ())
            self._ready.append(system_event(step, r, readings, *where))

    def take(self) -> list[System]:
        """The lines of the interval just ended (yielded before its stats)."""
        ready, self._ready = self._ready, []
        return ready
