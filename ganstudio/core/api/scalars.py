"""The values a loop logs, kept as it gave them until they are read all at once.

`run.log(step, loss_d=ld)` takes Python numbers, numpy scalars and one-element tensors on any
device. A tensor is kept (detached) and not looked at: reading it would wait for the GPU to finish
(a host sync per call). `read()` turns every kept tensor into a number in one batch per device:
one sync per flush, as the trainer reads its losses once per log interval. A value that is not a
number is reported back, never raised: a logging mistake must not stop training.
"""

from __future__ import annotations

import math
import sys
from typing import Any

Row = tuple[int, float, dict[str, Any]]  # (step, wall seconds, {name: number or tensor})


class Scalars:
    def __init__(self) -> None:
        self.rows: list[Row] = []
        self._tensors = 0
        self.non_finite: list[str] = []  # names of Python numbers logged as NaN/Inf since the last read

    def __len__(self) -> int:
        return len(self.rows)

    def add(self, step: int, wall: float, values: dict[str, Any]) -> dict[str, str]:
        """Keep one call's values; returns {name: why it was left out} for those that are not numbers."""
        row: dict[str, Any] = {}
        bad: dict[str, str] = {}
        torch = sys.modules.get("torch")  # a tensor can only exist once the loop imported torch
        for name, v in values.items():
            kind = type(v)
            if kind is float or kind is int:
                row[name] = v
                if kind is float and not math.isfinite(v):
                    self.non_finite.append(name)
            elif torch is not None and isinstance(v, torch.Tensor):
                if v.numel() != 1:
                    bad[name] = f"a tensor of shape {tuple(v.shape)}, not one number"
                    continue
                row[name] = v.detach().reshape(())
                self._tensors += 1
            else:
                number, why = _number(v)
                if why:
                    bad[name] = why
                    continue
                row[name] = number
                if not math.isfinite(number):
                    self.non_finite.append(name)
        if row:
            self.rows.append((int(step), wall, row))
        return bad

    def read(self) -> list[Row]:
        """Every kept row with plain floats, and forget them (one host sync per device)."""
        rows, self.rows = self.rows, []
        if self._tensors:
            self._tensors = 0
            _read_tensors(rows)
        return rows


def _number(v: Any) -> tuple[float, str]:
    """A numpy scalar, a bool or a 0-d array as a float; else why it is not a number."""
    if isinstance(v, (str, bytes)) or v is None:
        return math.nan, f"{type(v).__name__} {v!r:.40}, not a number"
    size = getattr(v, "size", 1)
    if size != 1:
        return math.nan, f"{type(v).__name__} of {size} values, not one number"
    try:
        return float(v), ""
    except (TypeError, ValueError, OverflowError) as e:
        return math.nan, f"{type(v).__name__}, not a number ({e})"


def _read_tensors(rows: list[Row]) -> None:
    """Replace the tensors in `rows` by floats, in place: one stack and one copy to the host per
    device (a GPU loop waits for its queue once, here)."""
    import torch

    where: dict[Any, list[tuple[dict[str, Any], str]]] = {}
    for _, _, row in rows:
        for name, v in row.items():
            if isinstance(v, torch.Tensor):
                where.setdefault(v.device, []).append((row, name))
    for places in where.values():
        stacked = torch.stack([row[name].float() for row, name in places])
        for (row, name), number in zip(places, stacked.tolist(), strict=True):
            row[name] = number
