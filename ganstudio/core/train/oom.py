"""Running out of memory, said as what to change: a GPU's (torch.OutOfMemoryError) or the
machine's (MemoryError, or torch's CPU allocator refusing a tensor).

Building a trainer, loading a checkpoint onto a device and every training step turn these into
`OutOfMemory`, whose message names the device, what was asked for and the keys that size the
run; the run's folder and checkpoints are untouched, and the cached GPU memory is given back so
that a smaller run can start in the same process (the app).
"""

from __future__ import annotations

import contextlib
import gc
import re
from collections.abc import Iterator

import torch

from ganstudio.core.config import Config, is_2d, resolved_image_shape

# torch's CPU allocator raises a plain RuntimeError; its message starts with this.
_CPU_ALLOC = "can't allocate memory"


class OutOfMemory(Exception):
    """The run needs more memory than its device has; the message says what to lower."""


def is_out_of_memory(e: BaseException) -> bool:
    if isinstance(e, (torch.OutOfMemoryError, MemoryError)):
        return True
    return isinstance(e, RuntimeError) and (_CPU_ALLOC in str(e) or "out of memory" in str(e).lower())


def describe(e: BaseException, cfg: Config, device: torch.device | str, when: str) -> str:
    """What ran out, where, and which of the run's keys to lower."""
    device = torch.device(device)
    on_gpu = device.type in ("cuda", "mps") and not isinstance(e, MemoryError) and _CPU_ALLOC not in str(e)
    what = f"GPU memory on {device}" if on_gpu else "memory (RAM)"
    asked = _asked(str(e))
    if on_gpu and device.type == "cuda":
        with contextlib.suppress(Exception):
            free, total = torch.cuda.mem_get_info(device)
            asked += f"; {free / 2**30:.1f} of its {total / 2**30:.1f} GiB free now"
    asked = f" ({asked.lstrip('; ')})" if asked else ""
    width = cfg.model.width or "the default"
    sizes = f"train.batch_size (now {cfg.train.batch_size}), model.width (now {width})"
    if not is_2d(cfg):
        sizes += f" or data.image_size (now {resolved_image_shape(cfg.data)[1]})"
    other = (
        "close other programs using the GPU, or train on the CPU (train.device = cpu)"
        if on_gpu
        else "close other programs"
    )
    return (
        f"out of {what} {when}{asked}. Lower {sizes}, or {other}; the run folder and its checkpoints are kept"
    )


def describe_metrics(e: BaseException, cfg: Config) -> str:
    """Out of memory in the background quality metrics (on the CPU): what to lower there. Training
    is not stopped by it: the evaluation is reported as failed and the next one tries again."""
    asked = _asked(str(e))
    asked = f" ({asked})" if asked else ""
    return (
        f"out of memory (RAM) while computing the quality metrics{asked}. Lower metrics.samples "
        f"(now {cfg.metrics.samples}), or turn the metrics off (metrics.every = 0); training goes on"
    )


def _asked(text: str) -> str:
    """How much the failed allocation asked for, from torch's message ("Tried to allocate 2.00 GiB",
    "you tried to allocate 4398046511104 bytes"); its first line, shortened, when it says neither."""
    m = re.search(r"[Tt]ried to allocate ([0-9.]+ ?[KMGT]i?B|[0-9]+ bytes)", text)
    if m is None:
        first = next((line.strip() for line in text.splitlines() if line.strip()), "")
        return first if len(first) <= 120 else first[:117].rsplit(" ", 1)[0] + "…"
    amount = m[1]
    if amount.endswith("bytes"):
        n, units = float(amount.split()[0]), ("bytes", "KiB", "MiB", "GiB", "TiB", "PiB")
        i = 0
        while n >= 1024 and i < len(units) - 1:
            n, i = n / 1024, i + 1
        amount = f"{n:.2f} {units[i]}" if i else amount
    return f"it asked for {amount} more"


def release(device: torch.device | str) -> None:
    """Give back what the failed attempt held, so that the next (smaller) run can have it. The
    cycle collector runs here only where collection is automatic (the CLI): the app collects on its
    GUI thread alone (qt/app.py), and this runs on its training thread."""
    if gc.isenabled():
        gc.collect()
    if torch.device(device).type == "cuda" and torch.cuda.is_available():
        with contextlib.suppress(Exception):
            torch.cuda.empty_cache()


@contextlib.contextmanager
def reported(cfg: Config, device: torch.device | str, when: str) -> Iterator[None]:
    """Turn running out of memory inside the block into OutOfMemory (other errors pass)."""
    try:
        yield
    except (RuntimeError, MemoryError) as e:
        if not is_out_of_memory(e):
            raise
        message = describe(e, cfg, device, when)
        del e
        release(device)
        raise OutOfMemory(message) from None
