"""The trainer: one GAN, its optimisers, data and counters, and the run's state (`self.state`).

`Trainer.train_step()` is one generator update; `Trainer.run(control)` trains until train.steps as a
stream of plain-data events (the loop itself reads top to bottom in loop.py). The trainer knows
nothing of any UI: other threads steer it through the thread-safe `Control` (pause, resume, single
step, stop, live config edits, save now), honoured between steps. Every event it yields has already
been applied to `self.state`, which goes into each checkpoint. A torchrun job is its collective's
business (distributed.py): the trainer calls the same collectives whether it trains alone or not.

Hot path: a step makes no host synchronisation. Losses and D outputs are summed into one device
tensor and fetched once per log interval; gradient norms are computed only on the step that ends
an interval.
"""

from __future__ import annotations

import contextlib
import copy
import math
import os
import random
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ganstudio.core import models
from ganstudio.core.checkpoint.store import CheckpointStore
from ganstudio.core.config import (
    RESUMABLE_KEYS,
    Config,
    ConfigError,
    live_update,
    to_dict,
    validate,
)
from ganstudio.core.data import Dataset, load_dataset
from ganstudio.core.extent import Extent
from ganstudio.core.metrics.schedule import QualityMetrics
from ganstudio.core.models import conditional, probe, user
from ganstudio.core.run.control import Control
from ganstudio.core.run.events import (
    CheckpointSaved,
    Event,
    HyperparamsChanged,
    RunStarted,
    Samples,
    Stats,
)
from ganstudio.core.run.history import History
from ganstudio.core.run.state import RunState
from ganstudio.core.train import adam, lab, loop, losses, oom, penalties, sampling, saving, snapshot, threads
from ganstudio.core.train.augment import Augment
from ganstudio.core.train.batches import Sampler, holdout_split, resident
from ganstudio.core.train.compiled import StepModels
from ganstudio.core.train.distributed import Collective, Local
from ganstudio.core.train.health import HealthMonitor
from ganstudio.core.train.schedule import Schedule
from ganstudio.core.train.system_lines import SystemLines

GRID_SAMPLES = 64  # images in the fixed-noise grid (8 x 8)
POINT_SAMPLES = 1024  # generated points shown for 2D data
_ACC = ("loss_d", "loss_g", "d_real", "d_fake")  # summed on the device every step
# D on training reals, held-out reals and fakes at the end of each log interval (data.holdout).
OVERFIT_KEYS = (
    "holdout_d_train",
    "holdout_d_heldout",
    "holdout_d_fake",
    "holdout_acc_train",
    "holdout_acc_heldout",
    "holdout_acc_fake",
    "d_overfit_rt",
)
# A parametrized weight (model.spectral_norm) is "net.0.parametrizations.weight.original": layer "net.0".
_EAGER_FLOAT = contextlib.nullcontext()  # train.amp off: reentrant, shared
_PARAMETRIZED = re.compile(r"\.parametrizations\.(\w+)\.original$")
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


class Trainer:
    """One GAN, its optimisers, data and counters, and the run's state (`self.state`)."""

    def __init__(
        self,
        cfg: Config,
        *,
        dataset: Dataset | None = None,
        device: torch.device | str | None = None,
        checkpoint_dir: str | Path | None = None,
        collective: Collective | None = None,
        model: user.LoadedModel | user.ModelRef | None = None,
    ):
        """`model`: for model.arch = FILE.py:FUNCTION (or package.module:FUNCTION), the file to build
        with (a ModelRef to import, or one already loaded); None: the file the config names, found
        from the working folder (a checkpoint's file is resolved by from_checkpoint instead)."""
        self.cfg = validate(cfg)
        # One process (Local), or one of a torchrun job (distributed.Job): the trainer calls the
        # same collectives on either.
        self.collective = collective if collective is not None else Local()
        self.world = self.collective.world
        device = self.collective.device or device
        self.device = torch.device(device) if device is not None else resolve_device(cfg.train.device)
        # Out of memory while the data or the models go to the device: a message of what to lower.
        with oom.reported(self.cfg, self.device, "while building the run"):
            self._build(cfg, dataset, checkpoint_dir, model)

    def _build(self, cfg: Config, dataset: Dataset | None, checkpoint_dir: str | Path | None, model) -> None:
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
        # Your own model's file, imported (None for a built-in arch); its checkpoints record it.
        self.model_code = user.code_for(cfg.model.arch, model)
        G, D = models.build(cfg, self.data.shape, self.model_code, self.data.num_classes)
        if self.model_code is not None:  # its contract checked once, on a probe batch
            G.to(self.device), D.to(self.device)
            probe.check(
                G,
                D,
                self.model_code.ref.path,
                cfg.model.latent_dim,
                self.data.shape,
                self.device,
                self.autocast,
            )
        # In a job, BatchNorm's statistics are the global batch's, as in one process.
        self.G, self.D = self.collective.wrap(G), self.collective.wrap(D)
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
        self.opt_g = adam.make(self.G.parameters(), o.lr_g, (o.beta1, o.beta2), self.device)
        self.opt_d = adam.make(self.D.parameters(), o.lr_d, (o.beta1, o.beta2), self.device)
        self.loss = losses.make(cfg.loss.kind)
        self.step_models = StepModels()  # train.compile's, from the run's start (loop.start)

        self.noise_gen = torch.Generator(self.device).manual_seed(cfg.train.seed + 1)
        self.augment = Augment(self)  # data.augment: what D sees, real and fake (augment.py)
        fixed_gen = torch.Generator().manual_seed(cfg.train.seed + 2)
        n_fixed = POINT_SAMPLES if self.data.is_2d else GRID_SAMPLES
        self.fixed_noise = torch.randn(n_fixed, cfg.model.latent_dim, generator=fixed_gen)
        self.sampler = Sampler(
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
            raise ConfigError(
                [
                    f"data.holdout = {cfg.data.holdout:g} leaves {self.sampler.n} of the {len(self.data)} "
                    f"images to train on, fewer than one batch (train.batch_size = {cfg.train.batch_size}); "
                    "use a smaller data.holdout or batch"
                ]
            )

        self.step = 0
        self.wall = 0.0
        self._acc = torch.zeros(len(_ACC), device=self.device)
        self._acc_n = 0
        self._acc_wall = 0.0
        self._grad_norms = (math.nan, math.nan)
        self._layer_norms: tuple[torch.Tensor, torch.Tensor] | None = None  # per-tensor, at a measure step
        self._overfit: torch.Tensor | None = None  # D on train / held-out / fake reals, at a measure step
        self.threads = torch.get_num_threads()
        self.reserve_cores = 0  # cores the caller keeps busy (the app's GUI thread: 1), left free
        self.last_samples = -1  # the step of the last samples event
        # The lab's view of 2D data: it depends only on the data, so every snapshot shares it.
        self.extent: Extent | None = lab.data_extent(self.data.x) if self.data.is_2d else None
        self.last_checkpoint = -1  # the step of the last checkpoint saved
        self.health = HealthMonitor(self.cfg)
        self.metrics = QualityMetrics(self.data, self.model_code)
        self.system = SystemLines(self.collective, self.device)  # system lines (system_lines.py)
        self.broken = False  # a NaN was seen: no checkpoint may be written from these weights
        self.saving = False  # a checkpoint is being written right now
        # Checkpoint intervals in a row whose checkpoint could not be written (a full disk): the run
        # driver halts the run when there are too many (core/run/write_failures.py).
        self.unsaved_intervals = 0
        self.checkpoint_verified = True  # False: resumed from a checkpoint that had no digest
        self.share_generator = False  # samples carry a CPU copy of G (the app's latent explorer)
        # This process's rows of each global batch (all of them in one process).
        self._part = self.collective.part(cfg.train.batch_size)

    def _set_holdout(self, held: torch.Tensor) -> None:
        """Train on every image but `held` (indices into the dataset), keep those aside."""
        self.holdout_index = held
        if len(held):
            keep = torch.ones(len(self.data), dtype=torch.bool)
            keep[held] = False
            self.x = resident(self.data.x[keep], self.device)
            self.x_holdout = resident(self.data.x[held], self.device)
        else:
            self.x = resident(self.data.x, self.device)
            self.x_holdout = None
        self.y, self.y_holdout = conditional.split_labels(self.data, held, self.device, self.cfg)

    @property
    def history(self) -> History:
        """The run's stats and markers (part of `state`)."""
        return self.state.history

    @history.setter
    def history(self, history: History) -> None:
        # A checkpoint written before its events were kept: its markers are kept as they are.
        self.state.restore(history, None)

    @property
    def model_ref(self) -> user.ModelRef | None:
        """The model file this trainer's models were built from (None: a built-in arch)."""
        return self.model_code.ref if self.model_code is not None else None

    @property
    def main(self) -> bool:
        """Whether this is the process that writes, samples and evaluates (rank 0 of a job)."""
        return self.world.main

    @property
    def world_size(self) -> int:
        return self.world.size

    @property
    def backend(self) -> str:
        return self.collective.backend

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
        on = self.cfg.train.amp and self.device.type == "cuda"  # off: no new object each call
        return torch.autocast(device_type=self.device.type, dtype=torch.bfloat16) if on else _EAGER_FLOAT

    def _noise(self, n: int) -> torch.Tensor:
        """This process's rows of n noise vectors (all of them in one process): every rank draws
        the whole global batch from the same generator, so the stream is one process's."""
        z = torch.randn(n, self.cfg.model.latent_dim, device=self.device, generator=self.noise_gen)
        return z[self._part]

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

        In a torchrun job each process takes its slice of the global batch (see distributed.py)
        and the gradients are averaged after each backward."""
        cfg = self.cfg
        bs = cfg.train.batch_size  # the global batch
        measure = (self.step + 1) % cfg.log.every == 0
        reuse = cfg.optim.d_steps == 1
        if not (self.G.training and self.D.training):  # sampling and D's held-out check restore it
            self.G.train(), self.D.train()
        weights = penalties.due(cfg.loss, self.step)  # R1/R2 this step (lazy: loss.r_every)
        for _ in range(cfg.optim.d_steps):
            rows = self.sampler.next()[self._part]
            # model.conditional: the fakes take the reals' labels; train.compile: compiled G and D
            G, D = conditional.bound(self, rows, self.step_models.pick(self, weights))
            real = self.augment(self.x[rows].to(self.device, non_blocking=True))
            if reuse:
                with self.autocast:
                    fake_for_g = self.augment(G(self._noise(bs)))
                fake = fake_for_g.detach()
            else:
                with torch.no_grad(), self.autocast:
                    fake = self.augment(G(self._noise(bs)))
            penalties.mark_inputs(real, fake, weights)
            with self.autocast:
                d_real = D(real)
                d_fake = D(fake)
                loss_d = self.loss.d_loss(d_real.float(), d_fake.float())
                penalty = penalties.d_penalty(self, weights, real, fake, d_real, d_fake)
                if penalty is not None:
                    loss_d = loss_d + penalty
            adam.zero_grad(self.opt_d)
            loss_d.backward()
            self.collective.average_gradients(self.D)
            adam.step(self.opt_d)
        grad_d = self._grad_norm(self.D) if measure else None
        if measure:
            self._overfit = self._overfit_stats(d_real, d_fake)

        adam.requires_grad(self.opt_d, False)  # G's backward needs no D parameter gradients
        with self.autocast:
            g_scores = D(fake_for_g if reuse else self.augment(G(self._noise(bs))))
            loss_g = penalties.g_loss(self.loss, g_scores.float(), D, real)  # rpgan: paired
        adam.zero_grad(self.opt_g)
        loss_g.backward()
        self.collective.average_gradients(self.G, last=True)  # the step's requests ride on it
        adam.requires_grad(self.opt_d, True)
        if measure:
            grad_g = self._grad_norm(self.G)
        adam.step(self.opt_g)
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
                held = conditional.holdout_d(self, idx[self._part])(self.x_holdout[idx[self._part]])
        finally:
            self.D.train(was)
        held, real, fake = held.float(), d_real.detach().float(), d_fake.detach().float()
        out, edge = self.loss.d_output, self.loss.decision
        return torch.stack(
            [
                out(real).mean(),
                out(held).mean(),
                out(fake).mean(),
                (real > edge).float().mean(),
                (held > edge).float().mean(),
                (fake <= edge).float().mean(),
                torch.sign(real - edge).mean(),
            ]
        )

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
        """The samples event of this step: a grid, or the 2D lab's view (sampling.py)."""
        return sampling.samples_of(self)

    def flush_stats(self) -> Stats | None:
        """The stats of the steps since the last flush, averaged over them (and a job's ranks); None
        when no step was taken since."""
        if self._acc_n == 0:
            return None
        names, extras = self._interval_extras()
        ride = self.system.ride(self.cfg, self._acc)  # a job's system readings ride along
        vec = torch.cat([self._acc / self._acc_n, extras, ride])
        self.collective.mean(vec)  # a job's one collective per log interval
        sums = vec.tolist()  # the one host sync per log interval
        self.system.settle(sums[len(sums) - len(ride) :], self.step, self.cfg)
        values = dict(zip(_ACC + names, sums[: len(sums) - len(ride)], strict=True))
        grad_d, grad_g = self._grad_norms
        values["grad_d"] = float(grad_d) if torch.is_tensor(grad_d) else math.nan
        values["grad_g"] = float(grad_g) if torch.is_tensor(grad_g) else math.nan
        values["lr_d"] = self.opt_d.param_groups[0]["lr"]
        values["lr_g"] = self.opt_g.param_groups[0]["lr"]
        interval = max(self.wall - self._acc_wall, 1e-9)
        values["steps_per_s"] = self._acc_n / interval
        values.update(self.collective.interval_stats(interval))  # a job's agreement's share of it
        values["images_per_s"] = self._acc_n * self.cfg.train.batch_size / interval
        values.update(self.augment.observe(values))  # "auto" p steered by the agreed r_t
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
            for net, module, each in (
                ("G", self.G, self._layer_norms[0]),
                ("D", self.D, self._layer_norms[1]),
            ):
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
        ev = self.reconfigure(change)
        if ev is not None:
            self.state.apply(ev)
        return ev

    def reconfigure(self, change: Config | dict[str, Any]) -> HyperparamsChanged | None:
        """Apply a live edit from the next step (config.live_update checks it: ConfigError)."""
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
        """The whole training state as a checkpoint dict (snapshot.py)."""
        return snapshot.state_of(self)

    @classmethod
    def from_checkpoint(cls, source: str | Path | dict[str, Any], **kw: Any) -> Trainer:
        """A new Trainer in the exact state a checkpoint recorded (`snapshot.from_checkpoint`: the
        keyword arguments are config, dataset, device, checkpoint_dir, fork, collective, name, model).
        Everything is checked first; on any problem a CheckpointError is raised and nothing that
        already exists (a running trainer, its files) is touched."""
        return snapshot.from_checkpoint(cls, source, **kw)

    def _load_state(self, ck: dict[str, Any]) -> None:
        snapshot.load_into(self, ck)

    def save_checkpoint(self, path: str | Path | None = None, *, manual: bool = True) -> CheckpointSaved:
        """Save to `path`, or into the run's checkpoint folder; recorded in `state`. A checkpoint
        someone asked for (`manual`) is never rotated away. Raises CheckpointError (saving.py)."""
        ev = saving.save(self, path, manual)
        self.state.apply(ev)
        return ev

    def try_checkpoint(
        self, path: str | Path | None = None, manual: bool = False, interval: bool = False
    ) -> Event:
        """Save, or say why not (CheckpointFailed); `interval`: the checkpoint of a checkpoint
        interval (log.checkpoint_every), counted in `unsaved_intervals` when it cannot be written."""
        return saving.attempt(self, path, manual, interval)

    @staticmethod
    def non_finite(stats: Stats) -> list[str]:
        """The losses and D outputs that a stats event holds as NaN or infinity."""
        return [k for k in _ACC if not math.isfinite(stats.values[k])]

    def reduce_losses(self) -> None:
        """The losses accumulated so far, averaged over a job's ranks (idempotent: once averaged,
        every rank holds the same values, and averaging those changes nothing)."""
        self.collective.mean(self._acc)

    def losses_finite(self) -> bool:
        """Whether the losses accumulated so far are finite (one host sync: before a checkpoint)."""
        return bool(torch.isfinite(self._acc).all())

    # ----- the loop (core/train/loop.py) -----------------------------------------------------

    def run(self, control: Control | None = None) -> Iterator[Event]:
        """Train until train.steps, yielding events; honours `control` between steps.

        Every event is applied to `self.state` before it is yielded. Never raises for a training
        error: it yields Failed and ends. A NaN/Inf in the losses pauses the run (Paused with a
        reason) before any checkpoint is written.
        """
        # Every rank of a job acts on the same requests at the same step (the agreed control).
        requests = self.collective.agreed(control or Control(), lambda: self.step)
        try:
            for ev in loop.ending_in_failure(self, loop.run(self, requests, self.schedule())):
                self.state.apply(ev)
                yield ev
        finally:  # also when the consumer drops the generator: the metrics thread ends with the run
            self.metrics.close()

    def schedule(self) -> Schedule:
        """The run's timetable from now on (a job's other ranks take part in rank 0's checkpoints)."""
        return Schedule(self.cfg, self.world, checkpoints=self.store is not None or not self.main)

    def started(self) -> RunStarted:
        """The run (re)starts here: how many threads it trains with, and where."""
        self.threads = threads.choose_threads(self)
        self.broken = False
        return RunStarted(
            run_dir=str(self.checkpoint_dir.parent) if self.checkpoint_dir else None,
            config=to_dict(self.cfg),
            device=str(self.device),
            step=self.step,
            total_steps=self.cfg.train.steps,
            threads=self.threads,
            host=", ".join(dict.fromkeys(self.collective.hosts)),
            pid=os.getpid(),
            world_size=self.world_size,
            backend=self.backend,
        )


def _layers_of(module: nn.Module) -> tuple[list[str], torch.Tensor]:
    """The layers that own `module`'s parameters (in parameters() order), and for each parameter the
    index of its layer: "net.0.weight" and "net.0.bias" are layer "net.0"."""
    layers: dict[str, int] = {}
    names = [_PARAMETRIZED.sub(r".\1", name) for name, _ in module.named_parameters()]
    index = [layers.setdefault(name.rsplit(".", 1)[0], len(layers)) for name in names]
    return list(layers), torch.tensor(index, dtype=torch.int64)
