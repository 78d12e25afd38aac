"""The training loop: `Trainer.train_step()` and `Trainer.run()`, a stream of plain-data events.

The trainer knows nothing of any UI. A consumer iterates `run(control)`; another thread steers it
through the thread-safe `Control` (pause, resume, single step, stop, live config edits, save now),
which the loop honours between steps.

Hot path: a step makes no host synchronisation. Losses and D outputs are summed into one device
tensor and fetched once per log interval; gradient norms are computed only on the step that ends
an interval.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import os
import random
import time
import traceback
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ganstudio.core import checkpoints, lab, losses, models
from ganstudio.core.checkpoints import CheckpointError
from ganstudio.core.config import LIVE_KEYS, Config, ConfigError, live_changes, to_dict, validate
from ganstudio.core.control import Control
from ganstudio.core.data import Dataset, load_dataset
from ganstudio.core.events import (
    Alert,
    CheckpointFailed,
    CheckpointSaved,
    Event,
    Failed,
    Finished,
    HyperparamsChanged,
    Metrics,
    Paused,
    Resumed,
    RunStarted,
    Samples,
    Stats,
)
from ganstudio.core.extent import Extent
from ganstudio.core.health import HealthMonitor
from ganstudio.core.history import History
from ganstudio.core.metrics import Evaluator
from ganstudio.core.metrics.background import BackgroundEvaluator, cpu_generator

GRID_SAMPLES = 64  # images in the fixed-noise grid (8 x 8)
POINT_SAMPLES = 1024  # generated points shown for 2D data
_ACC = ("loss_d", "loss_g", "d_real", "d_fake")  # summed on the device every step
# Keys a resumed run may change: the live ones, and those that do not touch models, data or RNG.
RESUMABLE_KEYS = LIVE_KEYS | {"log.out", "log.name", "train.device", "train.threads", "train.amp"}
MORE_THREADS_MARGIN = 1.3  # choose_threads takes more than 1 CPU thread only when this much faster
METRICS_DRAIN_S = 60.0  # how long a completed run waits for its last quality metrics


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError([f"train.device = {name!r} but no CUDA GPU is available; use auto or cpu"])
    if name == "mps" and not (torch.backends.mps.is_available()):
        raise ConfigError(["train.device = 'mps' but MPS is not available; use auto or cpu"])
    return torch.device(name)


@dataclass
class _Sampler:
    """Draws batches by index from the in-memory dataset: one permutation per epoch, drop-last."""

    n: int
    batch_size: int
    generator: torch.Generator
    device: torch.device
    perm: torch.Tensor | None = None
    pos: int = 0
    epochs_done: int = 0

    def next(self) -> torch.Tensor:
        if self.perm is None or self.pos + self.batch_size > self.n:
            if self.perm is not None:
                self.epochs_done += 1
            self.perm = torch.randperm(self.n, generator=self.generator).to(self.device)
            self.pos = 0
        idx = self.perm[self.pos : self.pos + self.batch_size]
        self.pos += self.batch_size
        return idx

    @property
    def epoch(self) -> float:
        return self.epochs_done + self.pos / self.n

    def state_dict(self) -> dict[str, Any]:
        return {
            "perm": self.perm.cpu() if self.perm is not None else torch.zeros(0, dtype=torch.int64),
            "pos": self.pos,
            "epochs_done": self.epochs_done,
            "generator": self.generator.get_state(),
        }

    def load_state_dict(self, s: dict[str, Any]) -> None:
        perm = s["perm"]
        if perm.numel() not in (0, self.n):
            raise CheckpointError(f"sampler permutation has {perm.numel()} entries, dataset has {self.n}")
        self.perm = perm.to(self.device) if perm.numel() else None
        self.pos = int(s["pos"])
        self.epochs_done = int(s["epochs_done"])
        self.generator.set_state(s["generator"])


class Trainer:
    """One GAN, its optimisers, data and counters."""

    def __init__(
        self,
        cfg: Config,
        *,
        dataset: Dataset | None = None,
        device: torch.device | str | None = None,
        checkpoint_dir: str | Path | None = None,
    ):
        self.cfg = validate(cfg)
        self.device = torch.device(device) if device is not None else resolve_device(cfg.train.device)
        self.data = dataset if dataset is not None else load_dataset(cfg.data, seed=cfg.train.seed)
        self.checkpoint_dir = Path(checkpoint_dir) if checkpoint_dir is not None else None

        torch.manual_seed(cfg.train.seed)
        np.random.seed(cfg.train.seed % 2**32)
        random.seed(cfg.train.seed)

        self.x = _resident(self.data.x, self.device)
        self.G, self.D = models.build(cfg, self.data.shape)
        self.G.to(self.device)
        self.D.to(self.device)
        if self.device.type == "cuda" and self.x.dim() == 4:
            self.G.to(memory_format=torch.channels_last)
            self.D.to(memory_format=torch.channels_last)
            self.x = self.x.contiguous(memory_format=torch.channels_last)
        self.G_ema: nn.Module | None = None
        if cfg.train.ema > 0:
            self._make_ema()
        o = cfg.optim
        # The fused kernel updates every parameter in one pass: on CPU it is the fastest Adam for
        # these small models, and it gives the same state_dict as the default implementation.
        fused = True if self.device.type in ("cpu", "cuda") else None
        self.opt_g = torch.optim.Adam(self.G.parameters(), lr=o.lr_g, betas=(o.beta1, o.beta2), fused=fused)
        self.opt_d = torch.optim.Adam(self.D.parameters(), lr=o.lr_d, betas=(o.beta1, o.beta2), fused=fused)
        self.loss = losses.make(cfg.loss.kind)

        self.noise_gen = torch.Generator(self.device).manual_seed(cfg.train.seed + 1)
        fixed_gen = torch.Generator().manual_seed(cfg.train.seed + 2)
        n_fixed = POINT_SAMPLES if self.data.is_2d else GRID_SAMPLES
        self.fixed_noise = torch.randn(n_fixed, cfg.model.latent_dim, generator=fixed_gen)
        self.sampler = _Sampler(
            n=self.x.shape[0],
            batch_size=cfg.train.batch_size,
            generator=torch.Generator().manual_seed(cfg.train.seed + 3),
            device=self.x.device,
        )
        if self.sampler.n < cfg.train.batch_size:
            raise ConfigError(
                [
                    f"train.batch_size = {cfg.train.batch_size} is larger than the dataset "
                    f"({self.sampler.n} samples); use at most {self.sampler.n}"
                ]
            )

        self.step = 0
        self.wall = 0.0
        self.history = History()
        self._acc = torch.zeros(len(_ACC), device=self.device)
        self._acc_n = 0
        self._acc_wall = 0.0
        self._grad_norms = (math.nan, math.nan)
        self.threads = torch.get_num_threads()
        # Cores the caller keeps busy besides training (the app's GUI thread: 1); choose_threads
        # leaves them free.
        self.reserve_cores = 0
        self._last_samples = -1
        # The lab's view of 2D data: it depends only on the data, so every snapshot shares it.
        self.extent: Extent | None = lab.data_extent(self.data.x) if self.data.is_2d else None
        self._last_checkpoint = -1
        self.health = HealthMonitor(self.cfg)
        self._metrics: BackgroundEvaluator | None = None  # started at the first metrics step
        self._metrics_noise: torch.Tensor | None = None
        self._last_metrics = -1

    # ----- building blocks -------------------------------------------------------------------

    def _make_ema(self) -> None:
        self.G_ema = copy.deepcopy(self.G).eval().requires_grad_(False)

    @property
    def autocast(self):
        on = self.cfg.train.amp and self.device.type == "cuda"
        return torch.autocast(device_type=self.device.type, dtype=torch.bfloat16, enabled=on)

    def _noise(self, n: int) -> torch.Tensor:
        return torch.randn(n, self.cfg.model.latent_dim, device=self.device, generator=self.noise_gen)

    @staticmethod
    def _grad_norm(module: nn.Module) -> torch.Tensor:
        grads = [p.grad for p in module.parameters() if p.grad is not None]
        return torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads)))

    def train_step(self) -> None:
        """One generator update after optim.d_steps discriminator updates.

        With one D update per G update, G's update reuses the fakes D was just trained on (G's
        forward runs once per step, as in PyTorch's DCGAN example and the tutorial loops): each
        step still draws fresh noise, and a G forward is ~1/4 of a small MLP GAN's step. With
        several critic steps (WGAN-GP), G's update draws its own noise, as that recipe does."""
        cfg = self.cfg
        bs = cfg.train.batch_size
        measure = (self.step + 1) % cfg.log.every == 0
        reuse = cfg.optim.d_steps == 1
        self.G.train()
        self.D.train()
        for _ in range(cfg.optim.d_steps):
            real = self.x[self.sampler.next()].to(self.device, non_blocking=True)
            if reuse:
                with self.autocast:
                    fake_for_g = self.G(self._noise(bs))
                fake = fake_for_g.detach()
            else:
                with torch.no_grad(), self.autocast:
                    fake = self.G(self._noise(bs))
            with self.autocast:
                d_real = self.D(real)
                d_fake = self.D(fake)
                loss_d = self.loss.d_loss(d_real.float(), d_fake.float())
                if cfg.loss.kind == "wgan-gp" and cfg.loss.gp_weight > 0:
                    gp = losses.gradient_penalty(self.D, real, fake.to(real.dtype), self.noise_gen)
                    loss_d = loss_d + cfg.loss.gp_weight * gp
            self.opt_d.zero_grad(set_to_none=True)
            loss_d.backward()
            self.opt_d.step()
        grad_d = self._grad_norm(self.D) if measure else None

        self.D.requires_grad_(False)  # G's backward needs no D parameter gradients
        with self.autocast:
            g_scores = self.D(fake_for_g if reuse else self.G(self._noise(bs)))
            loss_g = self.loss.g_loss(g_scores.float())
        self.opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        self.D.requires_grad_(True)
        if measure:
            grad_g = self._grad_norm(self.G)
        self.opt_g.step()
        if self.G_ema is not None and cfg.train.ema > 0:
            self._update_ema(cfg.train.ema)

        with torch.no_grad():
            self._acc += torch.stack(
                [
                    loss_d.detach(),
                    loss_g.detach(),
                    self.loss.d_output(d_real.detach().float()).mean(),
                    self.loss.d_output(d_fake.detach().float()).mean(),
                ]
            )
        if measure:
            self._grad_norms = (grad_d, grad_g)
        self._acc_n += 1
        self.step += 1

    @torch.no_grad()
    def _update_ema(self, decay: float) -> None:
        ema_p = list(self.G_ema.parameters())
        torch._foreach_lerp_(ema_p, list(self.G.parameters()), 1.0 - decay)
        for b_ema, b in zip(self.G_ema.buffers(), self.G.buffers(), strict=True):
            b_ema.copy_(b)

    @property
    def sampling_generator(self) -> nn.Module:
        return self.G_ema if (self.G_ema is not None and self.cfg.train.ema > 0) else self.G

    @torch.no_grad()
    def generate(self, z: torch.Tensor) -> torch.Tensor:
        """Generator output for noise z, in eval mode (BatchNorm uses running stats), on the CPU."""
        g = self.sampling_generator
        was_training = g.training
        g.eval()
        try:
            out = []
            for chunk in z.split(1024):
                with self.autocast:
                    out.append(g(chunk.to(self.device)).float().cpu())
            return torch.cat(out)
        finally:
            g.train(was_training)

    def samples(self) -> Samples:
        self._last_samples = self.step
        if self.data.is_2d:
            # The lab's view: G's points with the push on each, over D's field, in the run's
            # fixed extent so the view stays put.
            snap = lab.field_snapshot(self.D, self.sampling_generator, self.fixed_noise, self.loss,
                                      self.extent, device=self.device)
            return Samples(step=self.step, points=snap.fake_points, field=snap.field, extent=self.extent,
                           arrows=snap.g_grad, field_is_probability=self.loss.probabilistic)
        return Samples(step=self.step, grid=to_grid(self.generate(self.fixed_noise)))

    def _flush_stats(self) -> Stats | None:
        if self._acc_n == 0:
            return None
        sums = (self._acc / self._acc_n).tolist()  # the one host sync per log interval
        values = dict(zip(_ACC, sums, strict=True))
        grad_d, grad_g = self._grad_norms
        values["grad_d"] = float(grad_d) if torch.is_tensor(grad_d) else math.nan
        values["grad_g"] = float(grad_g) if torch.is_tensor(grad_g) else math.nan
        values["lr_d"] = self.opt_d.param_groups[0]["lr"]
        values["lr_g"] = self.opt_g.param_groups[0]["lr"]
        interval = max(self.wall - self._acc_wall, 1e-9)
        values["steps_per_s"] = self._acc_n / interval
        values["images_per_s"] = self._acc_n * self.cfg.train.batch_size / interval
        self._acc.zero_()
        self._acc_n = 0
        self._acc_wall = self.wall
        self._grad_norms = (math.nan, math.nan)
        ev = Stats(step=self.step, epoch=self.sampler.epoch, wall=self.wall, values=values)
        self.history.append(ev)
        return ev

    # ----- live configuration ----------------------------------------------------------------

    def apply_config(self, new: Config) -> HyperparamsChanged | None:
        """Apply live-editable keys from `new`; other keys must be unchanged."""
        new = validate(new)
        changes = live_changes(self.cfg, new)
        locked = sorted(k for k in changes if k not in LIVE_KEYS)
        if locked:
            raise ConfigError(
                [f"{k} cannot change while training runs; stop training to change it" for k in locked]
            )
        if not changes:
            return None
        o = new.optim
        for opt, lr in ((self.opt_g, o.lr_g), (self.opt_d, o.lr_d)):
            for group in opt.param_groups:
                group["lr"] = lr
                group["betas"] = (o.beta1, o.beta2)
        if new.train.ema > 0 and self.G_ema is None:
            self._make_ema()
        if new.loss.kind != self.cfg.loss.kind:  # same models; only the objective changes
            self.loss = losses.make(new.loss.kind)
        self.cfg = new
        self.health.cfg = new
        ev = HyperparamsChanged(step=self.step, changes=changes)
        self.history.add_marker(ev)
        return ev

    # ----- checkpoints -----------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        np_state = np.random.get_state()
        py_state = random.getstate()
        return {
            "format": checkpoints.FORMAT,
            "version": checkpoints.VERSION,
            "config": to_dict(self.cfg),
            "step": self.step,
            "epoch": float(self.sampler.epoch),
            "wall": float(self.wall),
            "models": {
                "G": self.G.state_dict(),
                "D": self.D.state_dict(),
                "G_ema": self.G_ema.state_dict() if self.G_ema is not None else {},
            },
            "optimizers": {"G": self.opt_g.state_dict(), "D": self.opt_d.state_dict()},
            "sampler": self.sampler.state_dict(),
            "rng": {
                "torch": torch.get_rng_state(),
                "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
                "noise": self.noise_gen.get_state(),
                "noise_device": self.device.type,
                "numpy": {
                    "keys": torch.from_numpy(np_state[1].astype(np.int64)),
                    "pos": int(np_state[2]),
                    "has_gauss": int(np_state[3]),
                    "cached_gaussian": float(np_state[4]),
                },
                "python": [py_state[0], list(py_state[1]), py_state[2]],
            },
            "fixed_noise": self.fixed_noise,
            "stats_accumulator": {
                "sum": self._acc.cpu(),
                "count": self._acc_n,
                "wall": self._acc_wall,
            },
            "history": self.history.state_dict(),
        }

    @classmethod
    def from_checkpoint(
        cls,
        source: str | Path | dict[str, Any],
        *,
        config: Config | None = None,
        dataset: Dataset | None = None,
        device: torch.device | str | None = None,
        checkpoint_dir: str | Path | None = None,
    ) -> Trainer:
        """A new Trainer in the exact state a checkpoint recorded.

        Everything is loaded into fresh objects and checked first; on any problem a CheckpointError
        is raised and nothing that already exists (a running trainer, its files) is touched.
        `config` may change live-editable keys and train.steps (e.g. to train longer).
        """
        ckpt = checkpoints.load(source) if not isinstance(source, dict) else checkpoints.check(source)
        name = source if not isinstance(source, dict) else "checkpoint"
        saved_cfg = checkpoints.config_of(ckpt)
        cfg = saved_cfg
        if config is not None:
            locked = sorted(k for k in live_changes(saved_cfg, config) if k not in RESUMABLE_KEYS)
            if locked:
                raise CheckpointError(
                    f"{name}: cannot resume with a different " + ", ".join(locked)
                    + "; these are fixed by the checkpoint's models and data"
                )
            cfg = validate(config)
        try:
            t = cls(cfg, dataset=dataset, device=device, checkpoint_dir=checkpoint_dir)
            t._load_state(ckpt)
        except CheckpointError as e:
            raise CheckpointError(f"{name}: {e}") from None
        except (RuntimeError, KeyError, ValueError, TypeError, IndexError) as e:
            # load_state_dict puts the mismatches on the lines after its first: keep them all.
            detail = " ".join(line.strip() for line in str(e).strip().splitlines() if line.strip())
            raise CheckpointError(
                f"{name} does not match its config (was it edited or made by another program?): "
                f"{detail[:600]}"
            ) from None
        return t

    def _load_state(self, ck: dict[str, Any]) -> None:
        self.G.load_state_dict(ck["models"]["G"])
        self.D.load_state_dict(ck["models"]["D"])
        if ck["models"].get("G_ema"):
            if self.G_ema is None:
                self._make_ema()
            self.G_ema.load_state_dict(ck["models"]["G_ema"])
        self.opt_g.load_state_dict(ck["optimizers"]["G"])
        self.opt_d.load_state_dict(ck["optimizers"]["D"])
        o = self.cfg.optim
        for opt, lr in ((self.opt_g, o.lr_g), (self.opt_d, o.lr_d)):
            for group in opt.param_groups:
                group["lr"], group["betas"] = lr, (o.beta1, o.beta2)
        self.sampler.load_state_dict(ck["sampler"])
        fixed = ck["fixed_noise"]
        if tuple(fixed.shape) != tuple(self.fixed_noise.shape):
            raise CheckpointError(f"fixed noise has shape {tuple(fixed.shape)}, expected "
                                  f"{tuple(self.fixed_noise.shape)}")
        self.fixed_noise = fixed.float()
        rng = ck["rng"]
        torch.set_rng_state(rng["torch"])
        if rng["cuda"] and torch.cuda.is_available() and len(rng["cuda"]) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(rng["cuda"])
        if rng.get("noise_device") == self.device.type:  # another device's generator state won't fit
            self.noise_gen.set_state(rng["noise"])
        n = rng["numpy"]
        np.random.set_state(
            ("MT19937", n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached_gaussian"])
        )
        p = rng["python"]
        random.setstate((p[0], tuple(p[1]), p[2]))
        acc = ck["stats_accumulator"]
        if acc["sum"].shape != self._acc.shape:
            raise CheckpointError("stats accumulator has the wrong shape")
        self._acc = acc["sum"].to(self.device)
        self._acc_n = int(acc["count"])
        self._acc_wall = float(acc["wall"])
        self.history = History.from_state_dict(ck["history"])
        self.step = int(ck["step"])
        self.wall = float(ck["wall"])

    def save_checkpoint(self, path: str | Path | None = None) -> CheckpointSaved:
        """Save to `path`, or to the rotating checkpoint folder. Raises CheckpointError."""
        state = self.state_dict()
        if path is not None:
            saved = checkpoints.save_atomic(state, path)
        elif self.checkpoint_dir is not None:
            saved = checkpoints.save_rotating(
                state, self.checkpoint_dir, self.step, self.cfg.log.keep_checkpoints
            )
        else:
            raise CheckpointError("this run has no checkpoint folder; choose a file to save to")
        ev = CheckpointSaved(step=self.step, path=str(saved))
        self._last_checkpoint = self.step
        self.history.add_marker(ev)
        return ev

    def _try_checkpoint(self, path: str | Path | None = None) -> CheckpointSaved | CheckpointFailed:
        if not self._finite():
            return CheckpointFailed(step=self.step, path=str(path or self.checkpoint_dir),
                                    message=f"not saved: the losses or weights hold NaN/Inf values at step "
                                    f"{self.step}; the previous checkpoint is the last good one")
        try:
            return self.save_checkpoint(path)
        except CheckpointError as e:
            return CheckpointFailed(step=self.step, path=str(path or self.checkpoint_dir), message=str(e))

    def _finite(self) -> bool:
        """Whether the unreported losses and every weight are finite (one host sync: for saves)."""
        tensors = [self._acc, *self.G.parameters(), *self.D.parameters()]
        return bool(torch.stack([torch.isfinite(t).all() for t in tensors]).all())

    # ----- quality metrics (computed on a background thread) -----------------------------------

    def _submit_metrics(self) -> None:
        """Hand a CPU copy of the sampling generator's weights to the metrics thread."""
        if self._metrics is None:
            cfg, shape = self.cfg, self.data.shape
            self._metrics = BackgroundEvaluator(Evaluator(cfg, self.data, "cpu"),
                                                lambda: cpu_generator(cfg, shape))
        n = self.cfg.metrics.samples
        if self._metrics_noise is None or self._metrics_noise.shape[0] != n:
            # Its own generator: the training noise and the global RNG streams are left alone.
            gen = torch.Generator().manual_seed(self.cfg.train.seed + 4)
            self._metrics_noise = torch.randn(n, self.cfg.model.latent_dim, generator=gen)
        state = {k: v.detach().to("cpu", copy=True) for k, v in self.sampling_generator.state_dict().items()}
        self._metrics.submit(self.step, state, self._metrics_noise)
        self._last_metrics = self.step

    def _metrics_events(self) -> Iterator[Event]:
        """Metrics that finished since the last look (never waits), and the alerts they raise."""
        if self._metrics is None:
            return
        for r in self._metrics.poll():
            if r.values is None:
                yield Alert(step=r.step, kind="metrics",
                            message=f"quality metrics for step {r.step} failed: {r.error}")
                continue
            ev = Metrics(step=r.step, values=r.values)
            self.history.merge(r.step, r.values)
            yield ev
            yield from self.health.observe(ev)

    def _drain_metrics(self, control: Control, wait: bool) -> Iterator[Event]:
        """At the end of a run: the outstanding metrics, waiting for them (up to METRICS_DRAIN_S,
        and only until a stop request) if `wait`."""
        if self._metrics is None:
            return
        deadline = time.monotonic() + METRICS_DRAIN_S
        while wait and not control.stopping and time.monotonic() < deadline:
            if self._metrics.wait_idle(0.1):
                break
        yield from self._metrics_events()

    def _close_metrics(self) -> None:
        if self._metrics is not None:
            self._metrics.close()
            self._metrics = None

    # ----- threads ---------------------------------------------------------------------------

    def choose_threads(self, budget_s: float = 0.6) -> int:
        """Pick torch's CPU thread count by timing steps each way on copies of the models.

        Two things measured on 2 cores decide the rules. OpenMP in a worker thread can run a small
        model 2x slower with 2 threads than with 1, while the same model on the main thread
        prefers 2: so measure, don't assume. And OpenMP threads wait at a barrier for every core
        they use: when another busy thread (the GUI's, the metrics') takes one of those cores, a
        step can take 10-50x longer (1-3 steps/s against 60-70). So the count is capped at the
        cores nobody else needs (`reserve_cores` for the caller, one for background metrics), the
        larger count is timed first (timing 1 thread first and then switching made it collapse),
        the two are timed in alternating rounds, and more threads must win by MORE_THREADS_MARGIN.
        """
        if self.cfg.train.threads > 0:
            torch.set_num_threads(self.cfg.train.threads)
            self.threads = self.cfg.train.threads
            return self.threads
        default = torch.get_num_threads()
        busy = self.reserve_cores + (1 if self.cfg.metrics.every else 0)
        cap = max(1, min(default, usable_cores() - busy))
        if self.device.type != "cpu":
            self.threads = default
            return default
        if cap == 1:
            torch.set_num_threads(1)
            self.threads = 1
            return 1
        probe = copy.copy(self)
        probe.G, probe.D = copy.deepcopy(self.G), copy.deepcopy(self.D)
        probe.G_ema = None
        probe.opt_g = torch.optim.Adam(probe.G.parameters(), lr=0.0)
        probe.opt_d = torch.optim.Adam(probe.D.parameters(), lr=0.0)
        probe.noise_gen = torch.Generator(self.device).manual_seed(0)
        probe.sampler = copy.deepcopy(self.sampler)
        probe._acc = torch.zeros_like(self._acc)
        probe.history = History()
        steps = {cap: 0, 1: 0}
        seconds = {cap: 0.0, 1: 0.0}
        for n in (cap, 1, cap, 1):
            torch.set_num_threads(n)
            probe.train_step()  # warm-up after the switch
            t0, k = time.perf_counter(), 0
            while time.perf_counter() - t0 < budget_s / 4 and k < 100:
                probe.train_step()
                k += 1
            steps[n] += k
            seconds[n] += time.perf_counter() - t0
        rate = {n: steps[n] / max(seconds[n], 1e-9) for n in steps}
        best = cap if rate[cap] >= MORE_THREADS_MARGIN * rate[1] else 1
        torch.set_num_threads(best)
        self.threads = best
        return best

    # ----- the loop --------------------------------------------------------------------------

    def run(self, control: Control | None = None) -> Iterator[Event]:
        """Train until train.steps, yielding events; honours `control` between steps.

        Never raises for a training error: it yields Failed and ends. A NaN/Inf in the losses
        pauses the run (Paused with a reason) before any checkpoint is written.
        """
        control = control or Control()
        try:
            yield from self._run(control)
        except Exception as e:  # the run's data stays; the consumer decides what to tell whom
            yield Failed(step=self.step, message=f"{type(e).__name__}: {e}", traceback=traceback.format_exc())
        finally:  # also when the consumer drops the generator: the metrics thread ends with the run
            self._close_metrics()

    def _run(self, control: Control) -> Iterator[Event]:
        self.choose_threads()
        yield RunStarted(
            run_dir=str(self.checkpoint_dir.parent) if self.checkpoint_dir else None,
            config=to_dict(self.cfg),
            device=str(self.device),
            step=self.step,
            total_steps=self.cfg.train.steps,
            threads=self.threads,
        )
        if self.cfg.log.sample_every and self.step == 0:
            yield self.samples()
        was_paused = False
        broken = False  # a NaN was seen: no checkpoint may be written from these weights
        while self.step < self.cfg.train.steps or control.paused:
            action = control._wait(pause_reported=was_paused)
            if action == "pause":
                was_paused = True
                yield Paused(step=self.step)
                continue
            new_cfg, save_now = control._take()
            if new_cfg is not None:
                try:
                    ev = self.apply_config(new_cfg)
                    if ev is not None:
                        yield ev
                except ConfigError as e:
                    yield Alert(step=self.step, kind="config", message="; ".join(e.problems))
            for path in save_now:
                if broken:
                    yield CheckpointFailed(step=self.step, path=str(path or self.checkpoint_dir),
                                           message="not saved: the weights hold NaN/Inf values")
                else:
                    yield self._try_checkpoint(path)
            if action == "stop":
                break
            if action == "request":
                continue
            if action == "run" and was_paused:
                was_paused = False
                yield Resumed(step=self.step)
            if self.step >= self.cfg.train.steps:
                if action == "step":
                    # Stepping past the end extends the run by one step.
                    self.cfg = _with_steps(self.cfg, self.step + 1)
                elif not control.paused:
                    break
                else:
                    continue

            t0 = time.perf_counter()
            self.train_step()
            self.wall += time.perf_counter() - t0

            cfg = self.cfg
            single = action == "step"
            metrics_due = bool(cfg.metrics.every and self.step % cfg.metrics.every == 0 and not broken)
            ckpt_due = bool(cfg.log.checkpoint_every and self.step % cfg.log.checkpoint_every == 0
                            and self.checkpoint_dir is not None and not broken)
            if metrics_due and self.step >= cfg.train.steps:
                ckpt_due = False  # the run's end saves it, after the metrics, so they are in it
            # Before a checkpoint, look at the unreported losses now rather than at the next stats:
            # weights that a NaN has reached must never be saved.
            if (self.step % cfg.log.every == 0 or single or self.step >= cfg.train.steps or metrics_due
                    or (ckpt_due and not bool(torch.isfinite(self._acc).all()))):
                stats = self._flush_stats()
                if stats is not None:
                    yield stats
                    bad = [k for k in _ACC if not math.isfinite(stats.values[k])]
                    if bad:
                        broken = True
                        control.pause()
                        was_paused = True
                        yield Paused(
                            step=self.step,
                            reason=f"{', '.join(bad)} became NaN or infinite by step {self.step}; "
                            "training paused and no checkpoint was written from these weights. Lower "
                            "the learning rates, or open the last good checkpoint.",
                        )
                        continue
                    yield from self.health.observe(stats)
            if cfg.log.sample_every and (self.step % cfg.log.sample_every == 0 or single):
                yield self.samples()
            if ckpt_due:
                yield self._try_checkpoint()
            if metrics_due:
                self._submit_metrics()
            yield from self._metrics_events()
            if single:
                was_paused = True
                yield Paused(step=self.step)
            elif control.paused and not was_paused:
                was_paused = True
                yield Paused(step=self.step)

        finished = self.step >= self.cfg.train.steps
        stats = self._flush_stats()
        if stats is not None:
            yield stats
            if all(math.isfinite(stats.values[k]) for k in _ACC):
                yield from self.health.observe(stats)
        if not broken:
            if finished and self.cfg.metrics.every and self._last_metrics != self.step:
                self._submit_metrics()  # a completed run ends with the metrics of its last weights
            if self.cfg.log.sample_every and self._last_samples != self.step:
                yield self.samples()
            yield from self._drain_metrics(control, wait=finished)
            if (self.checkpoint_dir is not None and self._last_checkpoint != self.step
                    and (finished or control.save_on_stop)):
                yield self._try_checkpoint()
        yield Finished(step=self.step, reason="completed" if finished else "stopped")


def usable_cores() -> int:
    """The CPU cores this process may run on (its affinity mask, where the OS has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def _with_steps(cfg: Config, steps: int) -> Config:
    return dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, steps=steps))


def _resident(x: torch.Tensor, device: torch.device) -> torch.Tensor:
    """The dataset on the training device when it fits in half its free memory, else pinned in
    host memory (batches are then copied asynchronously)."""
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        if x.numel() * x.element_size() > free // 2:
            return x.pin_memory()
    return x.to(device)


def to_grid(images: torch.Tensor, nrow: int = 8) -> np.ndarray:
    """(N, C, H, W) in [-1, 1] -> HxWxC uint8 grid with 1 px dark padding."""
    # Imported here: torchvision.utils pulls in torch._dynamo, seconds that the CLI's argument
    # checks and the app's first paint should not wait for.
    from torchvision.utils import make_grid

    grid = make_grid(images.float(), nrow=nrow, padding=1, normalize=True, value_range=(-1, 1), pad_value=0)
    arr = grid.mul(255).add_(0.5).clamp_(0, 255).to(torch.uint8).permute(1, 2, 0).numpy()
    if images.shape[1] == 1:  # make_grid made 3 channels: keep one, in an array of its own
        return arr[:, :, :1].copy()
    return np.ascontiguousarray(arr)
