"""Evaluations on a daemon thread, so the training thread never waits for a metric.

The trainer `submit`s a CPU copy of the generator's state_dict with the step it belongs to; the
thread loads it into its own CPU generator and runs the `Evaluator`; the trainer `poll`s results
between steps. There is one request slot: a request that has not started when the next arrives
is replaced by it (the newer weights matter more than a backlog). Plain `threading` and `queue`:
the GUI, a notebook and the CLI all get it through the trainer's event stream.

The thread uses TORCH_THREADS intra-op threads (a per-thread setting), so on a CPU it takes one
core from training rather than all of them.

An evaluation allocates about 30 MB of scratch (distance matrices, the classifier's activations)
and frees it, but glibc keeps freed pages in the thread's malloc arena, so the process would stay
that much larger between evaluations. After each one the thread calls glibc's `malloc_trim(0)`
(1 to 15 ms, on this thread) to hand them back; elsewhere that is a no-op.
"""

from __future__ import annotations

import queue
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from ganstudio.core import models
from ganstudio.core.config import Config
from ganstudio.core.metrics.classifier import Cancelled
from ganstudio.core.metrics.evaluator import Evaluator
from ganstudio.core.train import oom
from ganstudio.core.train.allocator import release_free_memory

TORCH_THREADS = 1


@dataclass(frozen=True)
class Result:
    step: int
    values: dict[str, float] | None  # None when the evaluation failed
    error: str = ""
    seconds: float = 0.0


def cpu_generator(
    cfg: Config, sample_shape: tuple[int, ...], code: Any = None, num_classes: int | None = None
) -> nn.Module:
    """An uninitialised CPU generator of the run's architecture, to load a state_dict into; `code`:
    your own model's loaded file (core.models.user.LoadedModel), for model.arch = FILE.py:FUNCTION.

    Built on the meta device: building normally would draw initial weights from torch's global
    generator, whose state a checkpoint records (exact resume must not see metrics)."""
    with torch.device("meta"):
        g, _ = models.build(cfg, sample_shape, code, num_classes)
    return g.to_empty(device="cpu").requires_grad_(False)


class BackgroundEvaluator:
    def __init__(self, evaluator: Evaluator, make_generator: Callable[[], nn.Module]):
        self.evaluator = evaluator
        self._make_generator = make_generator
        self._cond = threading.Condition()
        self._request: tuple[int, dict[str, torch.Tensor], torch.Tensor] | None = None
        self._busy = False
        self._closed = False
        self._results: queue.SimpleQueue[Result] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._loop, name="ganstudio-metrics", daemon=True)
        self._thread.start()

    def submit(self, step: int, state: dict[str, torch.Tensor], noise: torch.Tensor) -> int | None:
        """Queue an evaluation of generator weights `state` (CPU tensors the caller no longer
        changes). Returns the step of a queued request this one replaced, if any."""
        with self._cond:
            dropped = self._request[0] if self._request is not None else None
            self._request = (step, state, noise)
            self._cond.notify_all()
        return dropped

    def poll(self) -> list[Result]:
        """Finished evaluations, oldest first; never blocks."""
        out = []
        while True:
            try:
                out.append(self._results.get_nowait())
            except queue.Empty:
                return out

    @property
    def idle(self) -> bool:
        with self._cond:
            return self._request is None and not self._busy

    def wait_idle(self, timeout: float) -> bool:
        """Wait up to `timeout` seconds for the queued and running evaluations; True if done."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._request is not None or self._busy:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
        return True

    def close(self, timeout: float = 5.0) -> None:
        """Abandon queued and running work and end the thread (waiting up to `timeout` seconds:
        a running evaluation stops at its next check; the thread is a daemon either way)."""
        with self._cond:
            self._closed = True
            self._request = None
            self._cond.notify_all()
        if threading.current_thread() is not self._thread:
            self._thread.join(timeout)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def _stopping(self) -> bool:
        return self._closed

    def _loop(self) -> None:
        torch.set_num_threads(TORCH_THREADS)
        generator: nn.Module | None = None
        while True:
            with self._cond:
                while self._request is None and not self._closed:
                    self._cond.wait()
                if self._closed:
                    return
                step, state, noise = self._request
                self._request = None
                self._busy = True
            t0 = time.perf_counter()
            try:
                if generator is None:
                    generator = self._make_generator()
                generator.load_state_dict(state)
                state = None  # the weights now live in `generator`: hold no second copy
                values = self.evaluator.evaluate(generator, noise, should_stop=self._stopping)
                result = Result(step, values, seconds=time.perf_counter() - t0)
            except Cancelled:
                result = None
            except Exception as e:  # reported as an alert; training goes on
                if oom.is_out_of_memory(e):  # what to lower, not torch's text
                    error = oom.describe_metrics(e, self.evaluator.cfg)
                else:
                    where = traceback.extract_tb(e.__traceback__)[-1]
                    error = f"{type(e).__name__}: {e} (in {where.name}, line {where.lineno})"
                result = Result(step, None, seconds=time.perf_counter() - t0, error=error)
            state = noise = None
            release_free_memory()
            with self._cond:
                self._busy = False
                if result is not None and not self._closed:
                    self._results.put(result)
                self._cond.notify_all()
                if self._closed:
                    return
