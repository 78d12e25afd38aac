"""The values a loop logs over a log interval, kept as it gave them until they are read all at once.

`run.log(step, loss_d=ld)` takes Python numbers, numpy scalars and one-element tensors on any
device. A tensor is kept (detached when it has a graph) and not looked at: reading it would wait
for the GPU to finish (a host sync per call). `read()` turns every kept tensor into a number in one
batch per device (one sync per flush, as the trainer reads its losses once per log interval) and
averages each name over the calls that logged it: a stats line is the interval's mean, as the
trainer's are. A value that is not a number is reported back, never raised: a logging mistake must
not stop training.
"""

from __future__ import annotations

import math
import sys
from typing import Any


class Scalars:
    def __init__(self) -> None:
        self.values: dict[str, list[Any]] = {}  # name -> what was logged this interval
        self.step = 0  # the last step logged
        self.calls = 0
        self.non_finite = False  # a Python number logged as NaN/Inf since the last read
        self._tensors = False

    def add(self, step: int, values: dict[str, Any]) -> dict[str, str]:
        """Keep one call's values; returns {name: why it was left out} for those that are not numbers."""
        bad: dict[str, str] = {}
        kept = self.values
        torch = sys.modules.get("torch")  # a tensor can only exist once the loop imported torch
        for name, v in values.items():
            kind = type(v)
            if kind is float or kind is int:
                if kind is float and not math.isfinite(v):
                    self.non_finite = True
            elif torch is not None and isinstance(v, torch.Tensor):
                if v.numel() != 1:
                    bad[name] = f"a tensor of shape {tuple(v.shape)}, not one number"
                    continue
                if v.requires_grad:
                    v = v.detach()  # the step's graph is not kept alive until the flush
                self._tensors = True
            else:
                v, why = _number(v)
                if why:
                    bad[name] = why
                    continue
                self.non_finite = self.non_finite or not math.isfinite(v)
            if name in kept:
                kept[name].append(v)
            else:
                kept[name] = [v]
        self.step = step
        self.calls += 1
        return bad

    def read(self) -> dict[str, float]:
        """Each name's mean over the interval as a float, and start a new interval (one host sync
        per device when tensors were logged)."""
        values, self.values = self.values, {}
        self.calls, self.non_finite = 0, False
        if self._tensors:
            self._tensors = False
            _read_tensors(values)
        return {name: _mean(vs) for name, vs in values.items()}


def _mean(values: list[float]) -> float:
    first = values[0]
    if len(values) == 1 or all(v == first for v in values):
        return float(first)  # exactly what was logged (a learning rate stays 0.001)
    return math.fsum(values) / len(values)


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


def _read_tensors(values: dict[str, list[Any]]) -> None:
    """Replace the tensors in `values` by floats, in place, with one copy to the host per device
    (a GPU loop waits for its queue once, here). The usual case, every tensor a 0-d one on one
    device, is one stack of them all; anything else is stacked per name and device."""
    import torch

    lists = [vs for vs in values.values() if isinstance(vs[0], torch.Tensor)]
    try:
        stacked = torch.stack([v for vs in lists for v in vs])
    except (RuntimeError, TypeError):  # shapes or devices differ, or numbers among the tensors
        _read_each(values)
        return
    flat = (stacked if stacked.dtype is torch.float32 else stacked.float()).tolist()
    at = 0
    for vs in lists:
        n = len(vs)
        vs[:] = flat[at : at + n]
        at += n


def _read_each(values: dict[str, list[Any]]) -> None:
    import torch

    parts: dict[Any, list[tuple[list[Any], int, torch.Tensor]]] = {}
    for vs in values.values():
        for i, v in enumerate(vs):
            if isinstance(v, torch.Tensor):
                parts.setdefault(v.device, []).append((vs, i, v.reshape(1).float()))
    for device_parts in parts.values():
        flat = torch.cat([t for _, _, t in device_parts]).tolist()
        for (vs, i, _), number in zip(device_parts, flat, strict=True):
            vs[i] = number
