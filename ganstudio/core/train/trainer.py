"""The training loop: `Trainer.train_step()` and `Trainer.run()`, a stream of plain-data events.

The trainer knows nothing of any UI. A consumer iterates `run(control)`; other threads steer it
through the thread-safe `Control` (pause, resume, single step, stop, live config edits, save now),
which the loop honours between steps. Every event it yields has already been applied to the
trainer's own `RunState` (`self.state`), which goes into each checkpoint.

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
import socket
import time
import traceback
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ganstudio.core import models
from ganstudio.core.checkpoint import io as checkpoints
from ganstudio.core.checkpoint.checks import check_holdout, check_sampler, check_state, for_optimizer
from ganstudio.core.checkpoint.io import CheckpointError
from ganstudio.core.checkpoint.store import CheckpointStore
from ganstudio.core.config import (
    FORK_KEYS,
    RESUMABLE_KEYS,
    Config,
    ConfigError,
    live_update,
    to_dict,
    validate,
)
from ganstudio.core.data import Dataset, load_dataset
from ganstudio.core.extent import Extent
from ganstudio.core.image import to_grid
from ganstudio.core.metrics.schedule import QualityMetrics
from ganstudio.core.run.control import Control
from ganstudio.core.run.events import (
    Alert,
    CheckpointFailed,
    CheckpointSaved,
    Event,
    Failed,
    Finished,
    HyperparamsChanged,
    Paused,
    Resumed,
    RunStarted,
    Samples,
    Stats,
)
from ganstudio.core.run.history import History
from ganstudio.core.run.state import RunState
from ganstudio.core.train import lab, losses, oom, threads
from ganstudio.core.train.distributed import AgreedControl, Dist, global_batchnorm
from ganstudio.core.train.health import HealthMonitor

GRID_SAMPLES = 64  # images in the fixed-noise grid (8 x 8)
POINT_SAMPLES = 1024  # generated points shown for 2D data
_ACC = ("loss_d", "loss_g", "d_real", "d_fake")  # summed on the device every step
# D on training reals, held-out reals and fakes at the end of each log interval (data.holdout).
OVERFIT_KEYS = ("holdout_d_train", "holdout_d_heldout", "holdout_d_fake", "holdout_acc_train",
                "holdout_acc_heldout", "holdout_acc_fake", "d_overfit_rt")
__all__ = ["RESUMABLE_KEYS", "Trainer", "resolve_device"]


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
        check_sampler(s, self)  # an index out of range would read past the data (a fault on a GPU)
        perm = s["perm"]
        self.perm = perm.to(self.device) if perm.numel() else None
        self.pos = int(s["pos"])
        self.epochs_done = int(s["epochs_done"])
        self.generator.set_state(s["generator"])


class Trainer:
    """One GAN, its optimisers, data and counters, and the run's state (`self.state`)."""

    def __init__(
        self,
        cfg: Config,
        *,
        dataset: Dataset | None = None,
        device: torch.device | str | None = None,
        checkpoint_dir: str | Path | None = None,
        dist: Dist | None = None,
    ):
        self.cfg = validate(cfg)
        self.dist = dist  # a torchrun job (core/train/distributed.py); None: one process
        if dist is not None:
            device = dist.device
        self.device = torch.device(device) if device is not None else resolve_device(cfg.train.device)
        # Out of memory while the data or the models go to the device: a message of what to lower.
        with oom.reported(self.cfg, self.device, "while building the run"):
            self._build(cfg, dataset, checkpoint_dir, dist)

    def _build(self, cfg: Config, dataset: Dataset | None, checkpoint_dir: str | Path | None,
               dist: Dist | None) -> None:
        self.data = dataset if dataset is not None else load_dataset(cfg.data, seed=cfg.train.seed)
        self.checkpoint_dir = Path(checkpoint_dir) if checkpoint_dir is not None else None
        self.state = RunState(self.cfg)

        torch.manual_seed(cfg.train.seed)
        np.random.seed(cfg.train.seed % 2**32)
        random.seed(cfg.train.seed)

        # Held-out reals (data.holdout) are never trained on: D's outputs on them against its
        # outputs on training reals show when it starts to memorise.
        self.holdout_gen = torch.Generator(self.device).manual_seed(cfg.train.seed + 6)
        self._set_holdout(holdout_split(self.data, cfg))
        self.G, self.D = models.build(cfg, self.data.shape)
        if dist is not None:  # BatchNorm statistics over the global batch, as in one process
            self.G = global_batchnorm(self.G, self.device)
            self.D = global_batchnorm(self.D, self.device)
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
        if len(self.data) < cfg.train.batch_size:
            raise ConfigError(
                [
                    f"train.batch_size = {cfg.train.batch_size} is larger than the dataset "
                    f"({len(self.data)} samples); use at most {len(self.data)}"
                ]
            )
        if self.sampler.n < cfg.train.batch_size:
            raise ConfigError([
                f"data.holdout = {cfg.data.holdout:g} leaves {self.sampler.n} of the {len(self.data)} "
                f"images to train on, fewer than one batch (train.batch_size = {cfg.train.batch_size}); "
                "use a smaller data.holdout or batch"])

        self.step = 0
        self.wall = 0.0
        self._acc = torch.zeros(len(_ACC), device=self.device)
        self._acc_n = 0
        self._acc_wall = 0.0
        self._grad_norms = (math.nan, math.nan)
        self._layer_norms: tuple[torch.Tensor, torch.Tensor] | None = None  # per-tensor, at a measure step
        self._overfit: torch.Tensor | None = None  # D on train / held-out / fake reals, at a measure step
        self.threads = torch.get_num_threads()
        # Cores the caller keeps busy besides training (the app's GUI thread: 1); thread tuning
        # leaves them free.
        self.reserve_cores = 0
        self._last_samples = -1
        # The lab's view of 2D data: it depends only on the data, so every snapshot shares it.
        self.extent: Extent | None = lab.data_extent(self.data.x) if self.data.is_2d else None
        self._last_checkpoint = -1
        self.health = HealthMonitor(self.cfg)
        self.metrics = QualityMetrics(self.data)
        self._broken = False  # a NaN was seen: no checkpoint may be written from these weights
        self.saving = False  # a checkpoint is being written right now
        # Checkpoint intervals in a row whose checkpoint could not be written (a full disk): the run
        # driver halts the run when there are too many (core/run/write_failures.py).
        self.unsaved_intervals = 0
        self._agreed: AgreedControl | None = None  # a job's agreed control, while it runs
        self._agree_seen = 0.0
        self.checkpoint_verified = True  # False: resumed from a checkpoint that had no digest
        self.share_generator = False  # samples carry a CPU copy of G (the app's latent explorer)
        # Who runs it (RunStarted says so).
        self.world_size = dist.world_size if dist is not None else 1
        self.backend = dist.backend if dist is not None else ""
        self.main = dist is None or dist.main  # the process that writes, samples, evaluates
        self._part = dist.part(cfg.train.batch_size) if dist is not None else slice(None)

    def _set_holdout(self, held: torch.Tensor) -> None:
        """Train on every image but `held` (indices into the dataset), keep those aside."""
        self.holdout_index = held
        if len(held):
            keep = torch.ones(len(self.data), dtype=torch.bool)
            keep[held] = False
            self.x = _resident(self.data.x[keep], self.device)
            self.x_holdout = _resident(self.data.x[held], self.device)
        else:
            self.x = _resident(self.data.x, self.device)
            self.x_holdout = None

    @property
    def history(self) -> History:
        """The run's stats and markers (part of `state`)."""
        return self.state.history

    @history.setter
    def history(self, history: History) -> None:
        # A checkpoint written before its events were kept: its markers are kept as they are.
        self.state.restore(history, None)

    @property
    def checkpoint_dir(self) -> Path | None:
        return self.store.folder if self.store is not None else None

    @checkpoint_dir.setter
    def checkpoint_dir(self, folder: str | Path | None) -> None:
        self.store = CheckpointStore(folder) if folder is not None else None

    # ----- building blocks -------------------------------------------------------------------

    def _make_ema(self) -> None:
        self.G_ema = copy.deepcopy(self.G).eval().requires_grad_(False)

    @property
    def autocast(self):
        on = self.cfg.train.amp and self.device.type == "cuda"
        return torch.autocast(device_type=self.device.type, dtype=torch.bfloat16, enabled=on)

    def _noise(self, n: int) -> torch.Tensor:
        """This process's rows of n noise vectors (all of them in one process): every rank draws
        the whole global batch from the same generator, so the stream is one process's."""
        z = torch.randn(n, self.cfg.model.latent_dim, device=self.device, generator=self.noise_gen)
        return z[self._part]

    def _average(self, module: nn.Module, last: bool = False) -> None:
        """Average `module`'s gradients over a job's ranks; the step's `last` all-reduce also
        carries the step's request agreement where it can (see AgreedControl)."""
        if self.dist is None:
            return
        agreed = self._agreed if last and self.dist.agrees_on_gradients else None
        summed = self.dist.average_gradients(list(module.parameters()), agreed.early() if agreed else None)
        if agreed is not None:
            agreed.settle(summed)

    @staticmethod
    def _grad_norm(module: nn.Module) -> tuple[torch.Tensor, torch.Tensor]:
        """The norm of all of `module`'s gradient, and of each parameter's (module.parameters() order)."""
        grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in module.parameters()]
        each = torch.stack(torch._foreach_norm(grads))
        return torch.linalg.vector_norm(each), each

    def train_step(self) -> None:
        """One generator update after optim.d_steps discriminator updates.

        With one D update per G update, G's update reuses the fakes D was just trained on (G's
        forward runs once per step, as in PyTorch's DCGAN example and the tutorial loops): each
        step still draws fresh noise, and a G forward is ~1/4 of a small MLP GAN's step. With
        several critic steps (WGAN-GP), G's update draws its own noise, as that recipe does.

        In a torchrun job each process takes its slice of the global batch (see core/distributed)
        and the gradients are averaged after each backward."""
        cfg = self.cfg
        bs = cfg.train.batch_size  # the global batch
        measure = (self.step + 1) % cfg.log.every == 0
        reuse = cfg.optim.d_steps == 1
        self.G.train()
        self.D.train()
        for _ in range(cfg.optim.d_steps):
            real = self.x[self.sampler.next()[self._part]].to(self.device, non_blocking=True)
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
                    shape = (bs,) + (1,) * (real.dim() - 1)
                    eps = torch.rand(shape, device=real.device, dtype=real.dtype,
                                     generator=self.noise_gen)[self._part]
                    gp = losses.gradient_penalty(self.D, real, fake.to(real.dtype), eps=eps)
                    loss_d = loss_d + cfg.loss.gp_weight * gp
            self.opt_d.zero_grad(set_to_none=True)
            loss_d.backward()
            self._average(self.D)
            self.opt_d.step()
        grad_d = self._grad_norm(self.D) if measure else None
        if measure:
            self._overfit = self._overfit_stats(d_real, d_fake)

        self.D.requires_grad_(False)  # G's backward needs no D parameter gradients
        with self.autocast:
            g_scores = self.D(fake_for_g if reuse else self.G(self._noise(bs)))
            loss_g = self.loss.g_loss(g_scores.float())
        self.opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        self._average(self.G, last=True)
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
            self._grad_norms = (grad_d[0], grad_g[0])
            self._layer_norms = (grad_g[1], grad_d[1])
        self._acc_n += 1
        self.step += 1

    @torch.no_grad()
    def _overfit_stats(self, d_real: torch.Tensor, d_fake: torch.Tensor) -> torch.Tensor | None:
        """D on this step's training reals and fakes, and on a batch of held-out reals (drawn by
        index on the device: no host sync): its mean output and accuracy on each, and StyleGAN2-ADA's
        overfitting heuristic r_t = E[sign(D(x_train))] (about the decision boundary). OVERFIT_KEYS."""
        if self.x_holdout is None:
            return None
        bs = self.cfg.train.batch_size
        idx = torch.randint(len(self.x_holdout), (bs,), device=self.device, generator=self.holdout_gen)
        was = self.D.training
        self.D.eval()
        try:
            with self.autocast:
                held = self.D(self.x_holdout[idx[self._part]]).float()
        finally:
            self.D.train(was)
        real, fake = d_real.detach().float(), d_fake.detach().float()
        out, edge = self.loss.d_output, self.loss.decision
        return torch.stack([out(real).mean(), out(held).mean(), out(fake).mean(),
                            (real > edge).float().mean(), (held > edge).float().mean(),
                            (fake <= edge).float().mean(), torch.sign(real - edge).mean()])

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
        # While the latent explorer is open, a CPU copy of the generator the grid was drawn with
        # goes along (one copy of G's weights); otherwise nothing: the flag is set from the GUI.
        generator = None
        if self.share_generator:
            from ganstudio.core.latent import weights_of

            generator = weights_of(self)
        if self.data.is_2d:
            # The lab's view: G's points with the push on each, over D's field, in the run's
            # fixed extent so the view stays put.
            snap = lab.field_snapshot(self.D, self.sampling_generator, self.fixed_noise, self.loss,
                                      self.extent, device=self.device)
            return Samples(step=self.step, points=snap.fake_points, field=snap.field, extent=self.extent,
                           arrows=snap.g_grad, field_is_probability=self.loss.probabilistic,
                           generator=generator)
        return Samples(step=self.step, grid=to_grid(self.generate(self.fixed_noise)), generator=generator)

    def _flush_stats(self) -> Stats | None:
        if self._acc_n == 0:
            return None
        names, extras = self._interval_extras()
        vec = torch.cat([self._acc / self._acc_n, extras])
        if self.dist is not None:
            self.dist.mean(vec)  # a job's one collective per log interval
        sums = vec.tolist()  # the one host sync per log interval
        values = dict(zip(_ACC + names, sums, strict=True))
        grad_d, grad_g = self._grad_norms
        values["grad_d"] = float(grad_d) if torch.is_tensor(grad_d) else math.nan
        values["grad_g"] = float(grad_g) if torch.is_tensor(grad_g) else math.nan
        values["lr_d"] = self.opt_d.param_groups[0]["lr"]
        values["lr_g"] = self.opt_g.param_groups[0]["lr"]
        interval = max(self.wall - self._acc_wall, 1e-9)
        values["steps_per_s"] = self._acc_n / interval
        if self._agreed is not None:  # a job's per-step agreement, as a share of the interval's time
            values["agree_share"] = (self._agreed.agree_s - self._agree_seen) / interval
            self._agree_seen = self._agreed.agree_s
        values["images_per_s"] = self._acc_n * self.cfg.train.batch_size / interval
        self._acc.zero_()
        self._acc_n = 0
        self._acc_wall = self.wall
        self._grad_norms = (math.nan, math.nan)
        self._overfit = self._layer_norms = None
        return Stats(step=self.step, epoch=self.sampler.epoch, wall=self.wall, values=values)

    def _interval_extras(self) -> tuple[tuple[str, ...], torch.Tensor]:
        """What the step that ended the interval measured besides the losses: D on held-out reals
        (OVERFIT_KEYS) and each layer's gradient norm ("grad_G.<layer>", "grad_D.<layer>")."""
        names: list[str] = []
        parts: list[torch.Tensor] = []
        if self._overfit is not None:
            names += OVERFIT_KEYS
            parts.append(self._overfit)
        if self._layer_norms is not None:
            for net, module, each in (("G", self.G, self._layer_norms[0]),
                                      ("D", self.D, self._layer_norms[1])):
                layers, index = _layers_of(module)
                sq = torch.zeros(len(layers), device=each.device)
                sq.index_add_(0, index.to(each.device), each * each)
                names += [f"grad_{net}.{layer}" for layer in layers]
                parts.append(sq.sqrt())
        extras = torch.cat(parts) if parts else torch.zeros(0, device=self._acc.device)
        return tuple(names), extras

    # ----- live configuration ----------------------------------------------------------------

    def apply_config(self, change: Config | dict[str, Any]) -> HyperparamsChanged | None:
        """Apply live-editable keys (a whole Config, or {"section.key": value}) from the next step;
        any other key must be unchanged (ConfigError). Recorded in `state`; for a trainer that is
        not running (a running one takes edits through its Control)."""
        ev = self._reconfigure(change)
        if ev is not None:
            self.state.apply(ev)
        return ev

    def _reconfigure(self, change: Config | dict[str, Any]) -> HyperparamsChanged | None:
        new, changes = live_update(self.cfg, change)
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
        return HyperparamsChanged(step=self.step, changes=changes)

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
            # On the CPU, whatever the device: the file, and so its digest, is device independent.
            "models": checkpoints.on_cpu({
                "G": self.G.state_dict(),
                "D": self.D.state_dict(),
                "G_ema": self.G_ema.state_dict() if self.G_ema is not None else {},
            }),
            "optimizers": checkpoints.on_cpu({"G": self.opt_g.state_dict(), "D": self.opt_d.state_dict()}),
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
            # The run's alerts, pauses, changes and checkpoints, replayed on load (RunState.restore).
            "events": self.state.log_records(),
            "world_size": self.world_size,
            # The images held out from training (data.holdout), so a resumed run holds out the same.
            "holdout": self.holdout_index.clone(),
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
        fork: bool = False,
        dist: Dist | None = None,
        name: str = "",
    ) -> Trainer:
        """A new Trainer in the exact state a checkpoint recorded.

        Everything is loaded into fresh objects and checked first; on any problem a CheckpointError
        is raised and nothing that already exists (a running trainer, its files) is touched.
        `config` may change live-editable keys and train.steps (e.g. to train longer); for a `fork`,
        also train.seed, which reseeds the training noise from the checkpoint's step on.
        """
        ckpt = checkpoints.load(source) if not isinstance(source, dict) else checkpoints.check(source)
        name = name or (source if not isinstance(source, dict) else "checkpoint")
        saved_cfg = checkpoints.config_of(ckpt)
        cfg = saved_cfg
        if config is not None:
            try:
                cfg, _ = live_update(saved_cfg, config, allowed=FORK_KEYS if fork else RESUMABLE_KEYS,
                                     why="fork" if fork else "resume")
            except ConfigError as e:
                raise CheckpointError(f"{name}: " + "; ".join(e.problems)) from None
        try:
            # Built with the checkpoint's seed: the data (the 2D toys' points) and the sampler's
            # order are the parent's; a fork's new seed applies to the noise from here on.
            t = cls(_with_seed(cfg, saved_cfg.train.seed), dataset=dataset, device=device,
                    checkpoint_dir=checkpoint_dir, dist=dist)
            with oom.reported(cfg, t.device, "while loading the checkpoint"):
                t._load_state(ckpt)
            if cfg.train.seed != saved_cfg.train.seed:
                t.cfg = t.health.cfg = cfg
                t.state.config = cfg
                t.noise_gen.manual_seed(cfg.train.seed + 1)
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
        # Every state is checked before any is loaded: torch's loaders would take an Adam state of
        # other shapes (the fused kernel then crashes), and the random streams are the process's.
        # The held-out images first: the sampler's state is over the others. A checkpoint from before
        # there was a holdout trained on every image, and goes on doing so.
        self._set_holdout(check_holdout(ck.get("holdout"), len(self.data)))
        self.sampler.n = self.x.shape[0]
        check_state(ck, self)
        self.G.load_state_dict(ck["models"]["G"])
        self.D.load_state_dict(ck["models"]["D"])
        if ck["models"].get("G_ema"):
            if self.G_ema is None:
                self._make_ema()
            self.G_ema.load_state_dict(ck["models"]["G_ema"])
        self.opt_g.load_state_dict(for_optimizer(ck["optimizers"]["G"], self.opt_g))
        self.opt_d.load_state_dict(for_optimizer(ck["optimizers"]["D"], self.opt_d))
        o = self.cfg.optim
        for opt, lr in ((self.opt_g, o.lr_g), (self.opt_d, o.lr_d)):
            for group in opt.param_groups:
                group["lr"], group["betas"] = lr, (o.beta1, o.beta2)
        self.sampler.load_state_dict(ck["sampler"])
        self.fixed_noise = ck["fixed_noise"].float()
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
        self._acc = acc["sum"].to(self.device)
        self._acc_n = int(acc["count"])
        self._acc_wall = float(acc["wall"])
        self.state.restore(History.from_state_dict(ck["history"]), ck.get("events"))
        self.checkpoint_verified = bool(ck.get("verified", True))
        self.step = int(ck["step"])
        self.wall = float(ck["wall"])

    def save_checkpoint(self, path: str | Path | None = None, *, manual: bool = True) -> CheckpointSaved:
        """Save to `path`, or into the run's checkpoint folder; recorded in `state`. A checkpoint
        someone asked for (`manual`) is never rotated away. Raises CheckpointError."""
        ev = self._save(path, manual)
        self.state.apply(ev)
        return ev

    def _save(self, path: str | Path | None, manual: bool) -> CheckpointSaved:
        if path is None and self.store is None:
            raise CheckpointError("this run has no checkpoint folder; choose a file to save to")
        self.saving = True  # the CLI's second Ctrl+C waits for this to end rather than lose the save
        try:
            state = self.state_dict()
            if path is not None:
                saved = checkpoints.save_atomic(state, path)
            else:
                saved = self.store.save(state, self.step, self.cfg.log.keep_checkpoints, manual=manual)
        finally:
            self.saving = False
        self._last_checkpoint = self.step
        # Absolute: a path relative to the working directory reads as one inside the run folder
        # once it is in the log, and was joined to the folder a second time.
        return CheckpointSaved(step=self.step, path=str(Path(saved).absolute()),
                               manual=manual or path is not None)

    def _try_checkpoint(self, path: str | Path | None = None, manual: bool = False,
                        interval: bool = False) -> Event:
        """Save, or say why not (CheckpointFailed); `interval`: the checkpoint of a checkpoint
        interval (log.checkpoint_every), counted in `unsaved_intervals` when it cannot be written."""
        where = str(path or self.checkpoint_dir)
        if self._broken or not self._finite():
            return CheckpointFailed(step=self.step, path=where,
                                    message=f"not saved: the losses or weights hold NaN/Inf values at step "
                                    f"{self.step}; the previous checkpoint is the last good one")
        try:
            saved = self._save(path, manual)
        except CheckpointError as e:
            self.unsaved_intervals += interval
            return CheckpointFailed(step=self.step, path=where, message=str(e))
        self.unsaved_intervals = 0
        return saved

    def _reduce_acc(self) -> None:
        """The stats accumulated so far, averaged over a job's ranks (idempotent: once averaged,
        every rank holds the same values, and averaging those changes nothing)."""
        if self.dist is not None:
            self.dist.mean(self._acc)

    def _finite(self) -> bool:
        """Whether the unreported losses and every weight are finite (one host sync: for saves)."""
        tensors = [self._acc, *self.G.parameters(), *self.D.parameters()]
        return bool(torch.stack([torch.isfinite(t).all() for t in tensors]).all())

    # ----- the loop --------------------------------------------------------------------------

    def run(self, control: Control | None = None) -> Iterator[Event]:
        """Train until train.steps, yielding events; honours `control` between steps.

        Every event is applied to `self.state` before it is yielded. Never raises for a training
        error: it yields Failed and ends. A NaN/Inf in the losses pauses the run (Paused with a
        reason) before any checkpoint is written.
        """
        control = control or Control()
        if self.dist is not None:  # every rank acts on the same requests at the same step
            control = self._agreed = AgreedControl(control, self.dist, lambda: self.step)
            self._agree_seen = 0.0
        try:
            failure: Failed | None = None
            out_of_memory = False
            try:
                for ev in self._run(control):
                    self.state.apply(ev)
                    yield ev
            except Exception as e:  # the run's data stays; the consumer decides what to tell whom
                out_of_memory = oom.is_out_of_memory(e)
                if out_of_memory:  # what to lower says it all: no traceback
                    failure = Failed(step=self.step, message=oom.describe(e, self.cfg, self.device,
                                                                          f"at step {self.step}"))
                else:
                    failure = Failed(step=self.step, message=f"{type(e).__name__}: {e}",
                                     traceback=traceback.format_exc())
            if failure is not None:
                if out_of_memory:  # outside the handler, whose traceback held the step's tensors
                    oom.release(self.device)
                self.state.apply(failure)
                yield failure
        finally:  # also when the consumer drops the generator: the metrics thread ends with the run
            self.metrics.close()

    def _run(self, control: Control) -> Iterator[Event]:
        self.threads = threads.choose_threads(self)
        self._broken = False
        yield RunStarted(
            run_dir=str(self.checkpoint_dir.parent) if self.checkpoint_dir else None,
            config=to_dict(self.cfg),
            device=str(self.device),
            step=self.step,
            total_steps=self.cfg.train.steps,
            threads=self.threads,
            host=", ".join(dict.fromkeys(self.dist.hosts)) if self.dist is not None else socket.gethostname(),
            pid=os.getpid(),
            world_size=self.world_size,
            backend=self.backend,
        )
        if self.cfg.log.sample_every and self.step == 0:
            yield self.samples()
        was_paused = False
        while self.step < self.cfg.train.steps or control.paused:
            action = control._wait(pause_reported=was_paused)
            if action == "pause":
                was_paused = True
                yield Paused(step=self.step)
                continue
            yield from self._requests(control)
            if action == "stop":
                break
            if action == "request":
                continue
            if action == "run" and was_paused:
                was_paused = False
                yield Resumed(step=self.step)
            if self.step >= self.cfg.train.steps:
                if action == "step":
                    self.cfg = _with_steps(self.cfg, self.step + 1)  # stepping past the end extends the run
                elif not control.paused:
                    break
                else:
                    continue

            t0 = time.perf_counter()
            self.train_step()
            self.wall += time.perf_counter() - t0

            single = action == "step"
            due = self._due(single)
            if due.stats:
                stats = self._flush_stats()
                if stats is not None:
                    yield stats
                    bad = [k for k in _ACC if not math.isfinite(stats.values[k])]
                    if bad:
                        self._broken = True
                        control.pause()
                        was_paused = True
                        yield Paused(step=self.step, reason=_nan_reason(bad, self.step))
                        continue
                    if self.main:
                        yield from self.health.observe(stats)
            if due.samples and self.main:
                yield self.samples()
            if due.checkpoint:
                yield self._try_checkpoint(interval=True)
            if due.metrics and self.main:
                self.metrics.submit(self.step, self.cfg, self.sampling_generator)
            yield from self.metrics.events(self.health)
            if single or (control.paused and not was_paused):
                was_paused = True
                yield Paused(step=self.step)
        yield from self._finish(control)

    def _due(self, single: bool) -> _Due:
        """What the step just taken calls for: everything that happens on a schedule, in one place."""
        cfg, step = self.cfg, self.step
        end = step >= cfg.train.steps
        metrics = bool(cfg.metrics.every) and step % cfg.metrics.every == 0 and not self._broken
        # At the run's end the final checkpoint comes after the last metrics, so they are in it.
        checkpoint = (bool(cfg.log.checkpoint_every) and step % cfg.log.checkpoint_every == 0
                      and self.store is not None and not self._broken and not (metrics and end))
        # Before a checkpoint, look at the unreported losses now rather than at the next stats:
        # weights that a NaN has reached must never be saved (one host sync, only then). A job's
        # ranks all flush then (its stats are a collective; only rank 0 saves).
        if self.dist is not None:
            checkpoint = (bool(cfg.log.checkpoint_every) and step % cfg.log.checkpoint_every == 0
                          and not self._broken and not (metrics and end))
            if checkpoint:  # the same on every rank: the accumulated losses, averaged, checked
                self._reduce_acc()
            stats = (step % cfg.log.every == 0 or single or end or metrics
                     or (checkpoint and not bool(torch.isfinite(self._acc).all())))
            checkpoint = checkpoint and self.store is not None
        else:
            stats = (step % cfg.log.every == 0 or single or end or metrics
                     or (checkpoint and not bool(torch.isfinite(self._acc).all())))
        samples = bool(cfg.log.sample_every) and (step % cfg.log.sample_every == 0 or single)
        return _Due(stats=stats, samples=samples, checkpoint=checkpoint, metrics=metrics)

    def _requests(self, control: Control) -> Iterator[Event]:
        """What other threads asked for since the last step: events they posted, a live edit
        (refused as an Alert that names the key and why), checkpoints to save."""
        edits, saves, posted = control._take()
        yield from posted
        for values in edits:
            try:
                ev = self._reconfigure(values)
                if ev is not None:
                    yield ev
            except ConfigError as e:
                yield Alert(step=self.step, kind="config", message="; ".join(e.problems))
        for req in saves:
            self._reduce_acc()  # a job's checkpoint holds the global stats so far
            if self.main:
                yield self._try_checkpoint(req.path, manual=req.manual)

    def _finish(self, control: Control) -> Iterator[Event]:
        """The end of a run (completed or stopped): the last stats, samples, metrics, checkpoint."""
        finished = self.step >= self.cfg.train.steps
        stats = self._flush_stats()
        if stats is not None:
            yield stats
            if all(math.isfinite(stats.values[k]) for k in _ACC):
                yield from self.health.observe(stats)
        if not self._broken and self.main:
            if finished and self.cfg.metrics.every and self.metrics.last_step != self.step:
                # A completed run ends with the metrics of its last weights.
                self.metrics.submit(self.step, self.cfg, self.sampling_generator)
            if self.cfg.log.sample_every and self._last_samples != self.step:
                yield self.samples()
            yield from self.metrics.drain(self.health, wait=finished, stopping=lambda: control.stopping)
            if (self.store is not None and self._last_checkpoint != self.step
                    and (finished or control.save_on_stop)):
                yield self._try_checkpoint()
        yield Finished(step=self.step, reason="completed" if finished else "stopped")


@dataclass(frozen=True)
class _Due:
    stats: bool
    samples: bool
    checkpoint: bool
    metrics: bool


def _nan_reason(bad: list[str], step: int) -> str:
    return (f"{', '.join(bad)} became NaN or infinite by step {step}; training paused and no "
            "checkpoint was written from these weights. Lower the learning rates, or open the last "
            "good checkpoint.")


def _layers_of(module: nn.Module) -> tuple[list[str], torch.Tensor]:
    """The layers that own `module`'s parameters (in parameters() order), and for each parameter the
    index of its layer: "net.0.weight" and "net.0.bias" are layer "net.0"."""
    layers: dict[str, int] = {}
    index = [layers.setdefault(name.rsplit(".", 1)[0], len(layers)) for name, _ in module.named_parameters()]
    return list(layers), torch.tensor(index, dtype=torch.int64)


HOLDOUT_MAX_IMAGES = 100_000  # a larger set is rarely memorised, and its holdout would be large


def holdout_split(data: Dataset, cfg: Config) -> torch.Tensor:
    """The indices of the images held out (data.holdout of them, drawn with the run's seed; none for
    the 2D toys and for sets of HOLDOUT_MAX_IMAGES or more), sorted."""
    n = len(data)
    if data.is_2d or cfg.data.holdout <= 0 or n >= HOLDOUT_MAX_IMAGES:
        return torch.zeros(0, dtype=torch.int64)
    k = int(round(cfg.data.holdout * n))
    gen = torch.Generator().manual_seed(cfg.train.seed + 5)
    return torch.randperm(n, generator=gen)[:k].sort().values


def _with_seed(cfg: Config, seed: int) -> Config:
    return dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, seed=seed))


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
