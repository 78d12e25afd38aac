"""The trainer's quality metrics: weights handed to the background thread, results back as events.

`QualityMetrics` owns the run's BackgroundEvaluator (started at the first metrics step) and the
fixed noise the metrics use. `submit` copies the sampling generator's weights to the CPU and
queues them; `events` returns, without waiting, the Metrics that finished since the last look and
the health alerts they raise; `drain` waits for the outstanding ones at the end of a run.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import torch
from torch import nn

from ganstudio.core.config import Config
from ganstudio.core.data import Dataset
from ganstudio.core.metrics.background import BackgroundEvaluator, cpu_generator
from ganstudio.core.metrics.evaluator import Evaluator
from ganstudio.core.run.events import Alert, Event, Metrics
from ganstudio.core.train.health import HealthMonitor

DRAIN_S = 60.0  # how long a completed run waits for its last quality metrics


class QualityMetrics:
    def __init__(self, data: Dataset, model_code=None):
        self.data = data
        self.model_code = model_code  # your own model's loaded file (core.models.user), if any
        self.last_step = -1  # the step of the last weights submitted
        self._worker: BackgroundEvaluator | None = None
        self._noise: torch.Tensor | None = None

    def submit(self, step: int, cfg: Config, generator: nn.Module) -> None:
        """Hand a CPU copy of `generator`'s weights at `step` to the metrics thread."""
        if self._worker is None:
            shape = self.data.shape
            self._worker = BackgroundEvaluator(
                Evaluator(cfg, self.data, "cpu"),
                lambda: cpu_generator(cfg, shape, self.model_code, self.data.num_classes),
            )
        n = cfg.metrics.samples
        if self._noise is None or self._noise.shape[0] != n:
            # Its own generator: the training noise and the global RNG streams are left alone.
            gen = torch.Generator().manual_seed(cfg.train.seed + 4)
            self._noise = torch.randn(n, cfg.model.latent_dim, generator=gen)
        state = {k: v.detach().to("cpu", copy=True) for k, v in generator.state_dict().items()}
        self._worker.submit(step, state, self._noise)
        self.last_step = step

    def events(self, health: HealthMonitor) -> Iterator[Event]:
        """Metrics that finished since the last look (never waits), and the alerts they raise."""
        if self._worker is None:
            return
        for r in self._worker.poll():
            if r.values is None:
                yield Alert(
                    step=r.step,
                    kind="metrics",
                    message=f"quality metrics for step {r.step} failed: {r.error}",
                )
                continue
            ev = Metrics(step=r.step, values=r.values)
            yield ev
            yield from health.observe(ev)

    def drain(self, health: HealthMonitor, wait: bool, stopping: Callable[[], bool]) -> Iterator[Event]:
        """At the end of a run: the outstanding metrics, waiting for them (up to DRAIN_S, and only
        until `stopping()`) if `wait`."""
        if self._worker is None:
            return
        deadline = time.monotonic() + DRAIN_S
        while wait and not stopping() and time.monotonic() < deadline:
            if self._worker.wait_idle(0.1):
                break
        yield from self.events(health)

    def close(self) -> None:
        if self._worker is not None:
            self._worker.close()
            self._worker = None
