"""Every logged stat of a run, in growable numpy buffers, plus the run's markers.

A History is part of a run's state (ganstudio.core.run.state.RunState), changed only by RunState.apply.
Buffers double when full, so appending is amortised O(1) and `series()` returns views, not copies:
a plot can redraw a million points without converting a Python list every frame.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ganstudio.core.run.events import CheckpointSaved, HyperparamsChanged, Marker, Stats, StatsBlock

__all__ = ["History", "Marker"]


class History:
    def __init__(self, capacity: int = 1024):
        self._cap = capacity
        self._n = 0
        self._step = np.zeros(capacity, dtype=np.int64)
        self._wall = np.zeros(capacity, dtype=np.float64)
        self._epoch = np.zeros(capacity, dtype=np.float64)
        self._values: dict[str, np.ndarray] = {}
        self.markers: list[Marker] = []
        #: Bumped when points are removed (truncate), so views know to redraw from scratch.
        self.revision = 0

    def __len__(self) -> int:
        return self._n

    @property
    def keys(self) -> list[str]:
        return list(self._values)

    def has(self, key: str) -> bool:
        return key in self._values

    def _grow(self, need: int | None = None) -> None:
        self._cap = max(self._cap * 2, need or 0)
        for name in ("_step", "_wall", "_epoch"):
            old = getattr(self, name)
            new = np.zeros(self._cap, dtype=old.dtype)
            new[: self._n] = old[: self._n]
            setattr(self, name, new)
        for key, old in self._values.items():
            new = np.full(self._cap, np.nan)
            new[: self._n] = old[: self._n]
            self._values[key] = new

    def append(self, stats: Stats) -> None:
        if self._n == self._cap:
            self._grow()
        i = self._n
        self._step[i] = stats.step
        self._wall[i] = stats.wall
        self._epoch[i] = stats.epoch
        for key, value in stats.values.items():
            buf = self._values.get(key)
            if buf is None:
                buf = self._values[key] = np.full(self._cap, np.nan)
            buf[i] = value
        self._n += 1

    def extend(self, block: StatsBlock) -> None:
        """Append many points at once (a run folder read in bulk)."""
        m = len(block)
        if m == 0:
            return
        if self._n + m > self._cap:
            self._grow(1 << (self._n + m - 1).bit_length())
        a, b = self._n, self._n + m
        self._step[a:b] = block.steps
        self._wall[a:b] = block.walls
        self._epoch[a:b] = block.epochs
        for key, values in block.values.items():
            buf = self._values.get(key)
            if buf is None:
                buf = self._values[key] = np.full(self._cap, np.nan)
            buf[a:b] = values
        self._n = b

    def merge(self, step: int, values: dict[str, float]) -> None:
        """Add values computed later for `step` (quality metrics) to the point logged at that step.

        Without such a point one is inserted in step order, its wall time and epoch copied from
        the point before it. Either way `revision` is bumped: views redraw from scratch.
        """
        i = int(np.searchsorted(self.steps(), step))
        if i == self._n or self._step[i] != step:
            if self._n == self._cap:
                self._grow()
            tail = slice(i, self._n)
            moved = slice(i + 1, self._n + 1)
            for buf in (self._step, self._wall, self._epoch, *self._values.values()):
                buf[moved] = buf[tail].copy()
            self._step[i] = step
            self._wall[i] = self._wall[i - 1] if i else 0.0
            self._epoch[i] = self._epoch[i - 1] if i else 0.0
            for buf in self._values.values():
                buf[i] = np.nan
            self._n += 1
        for key, value in values.items():
            buf = self._values.get(key)
            if buf is None:
                buf = self._values[key] = np.full(self._cap, np.nan)
            buf[i] = value
        # A point that views may already have drawn (and cached as NaN) changed: tell them.
        self.revision += 1

    def add_marker(self, event: HyperparamsChanged | CheckpointSaved | Marker) -> None:
        if isinstance(event, Marker):
            self.markers.append(event)
        elif isinstance(event, HyperparamsChanged):
            self.markers.append(Marker(event.step, "hparams", event.describe()))
        elif event.manual:
            text = f"checkpoint saved (kept): {event.path}"
            self.markers.append(Marker(event.step, "checkpoint", text, "manual"))
        else:
            self.markers.append(Marker(event.step, "checkpoint", f"checkpoint saved: {event.path}"))

    def steps(self) -> np.ndarray:
        return self._step[: self._n]

    def walls(self) -> np.ndarray:
        return self._wall[: self._n]

    def epochs(self) -> np.ndarray:
        return self._epoch[: self._n]

    def series(self, key: str) -> np.ndarray:
        """A view of one stat's values (NaN where a point lacked it)."""
        buf = self._values.get(key)
        return buf[: self._n] if buf is not None else np.full(self._n, np.nan)

    def last(self, key: str) -> float | None:
        if self._n == 0 or key not in self._values:
            return None
        return float(self._values[key][self._n - 1])

    def wall_at(self, step: int) -> float:
        """Wall time at the logged point nearest to `step` (for markers on a wall-time axis)."""
        return float(self.walls_at(np.array([step]))[0])

    def walls_at(self, steps: np.ndarray) -> np.ndarray:
        """`wall_at` for each of `steps`: the wall time of the first logged point at or after it
        (the last point for a step not logged yet), 0 while nothing is logged."""
        if self._n == 0:
            return np.zeros(len(steps))
        return self._wall[np.clip(np.searchsorted(self.steps(), steps), 0, self._n - 1)]

    def replace_with(self, other: History | None = None) -> None:
        """Become a copy of `other` (or empty), in place, so views holding this object follow."""
        src = other if other is not None else History()
        self._cap, self._n = src._cap, src._n
        self._step, self._wall, self._epoch = src._step.copy(), src._wall.copy(), src._epoch.copy()
        self._values = {k: v.copy() for k, v in src._values.items()}
        self.markers = list(src.markers)
        self.revision += 1

    def truncate(self, step: int) -> None:
        """Drop points and markers after `step` (used when a run rolls back to a checkpoint)."""
        old_n = self._n
        self._n = int(np.searchsorted(self.steps(), step, side="right"))
        for buf in self._values.values():  # a later point lacking a key must read NaN, not old data
            buf[self._n : old_n] = np.nan
        self.markers = [m for m in self.markers if m.step <= step]
        self.revision += 1

    # Each column as a numpy array of its own (a copy: the buffers change under a save that runs
    # while training goes on), markers as lists of plain values. A checkpoint stores the columns as
    # tensors (core.train.snapshot), so that it loads with torch.load(weights_only=True); not as
    # Python lists of floats: those cost 32 bytes a number (an 8-byte value in a 24-byte float object
    # plus the list's pointer) in every save, then again pickled and digested, so a save's scratch
    # memory grew with the run (BENCHMARKS.md, issue 22). from_state_dict reads arrays, tensors
    # and the lists of older checkpoints alike.
    def state_dict(self) -> dict[str, Any]:
        return {
            "step": self.steps().copy(),
            "wall": self.walls().copy(),
            "epoch": self.epochs().copy(),
            "values": {k: self.series(k).copy() for k in self._values},
            "markers": [[m.step, m.kind, m.text, *([m.tag] if m.tag else [])] for m in self.markers],
        }

    @classmethod
    def from_state_dict(cls, state: dict[str, Any]) -> History:
        n = len(state["step"])
        h = cls(capacity=max(1024, 1 << max(n - 1, 1).bit_length()))
        h._n = n
        h._step[:n] = state["step"]
        h._wall[:n] = state["wall"]
        h._epoch[:n] = state["epoch"]
        for key, values in state["values"].items():
            if len(values) != n:
                raise ValueError(f"history series '{key}' has {len(values)} points, expected {n}")
            buf = np.full(h._cap, np.nan)
            buf[:n] = values
            h._values[key] = buf
        h.markers = [
            Marker(int(m[0]), str(m[1]), str(m[2]), str(m[3]) if len(m) > 3 else "") for m in state["markers"]
        ]
        return h
