"""A Lightning logger that writes a GAN Studio run folder, for Fabric and the Trainer, with steering.

Fabric (its DCGAN example's shape): the loop calls the steering hook itself.

    logger = GanStudioLogger(out="runs", name="dcgan")
    fabric = Fabric(loggers=[logger]); fabric.launch()
    D, opt_d = fabric.setup(D, opt_d); G, opt_g = fabric.setup(G, opt_g)
    logger.watch(g_optimizer=opt_g, d_optimizer=opt_d)       # every rank: live lr edits
    for step in ...:
        ...
        fabric.log_dict({"loss_d": loss_d, "loss_g": loss_g}, step=step)   # rank 0 writes
        if not logger.tick(step):                            # every rank: pause, stop
            break
    logger.finalize("success")

The Trainer: `self.log(...)` reaches the run, and a callback steers it between batches.

    trainer = Trainer(logger=GanStudioLogger(out="runs"), callbacks=[GanStudioSteering()])

GanStudioSteering watches `trainer.optimizers[0]` as G's and `[1]` as D's (the order of Lightning's
GAN example's configure_optimizers; say others), blocks between batches while paused, ends fit on
Stop (`trainer.should_stop` on every rank at the same batch), and saves a Lightning checkpoint on
Save. Rank 0 writes the run folder; every rank agrees on its requests (ranks.py).
Requires the `lightning` extra: pip install "ganstudio[lightning]".
"""

from __future__ import annotations

import os
import sys
from argparse import Namespace
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import torch.distributed as dist
from lightning.fabric.utilities.rank_zero import rank_zero_only
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.loggers import Logger

from ganstudio.core.api import Run
from ganstudio.core.api.writer import warn
from ganstudio.integrations.ranks import RunOnRanks


def _is_main() -> bool:
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank() == 0
    return getattr(rank_zero_only, "rank", 0) == 0


class GanStudioLogger(Logger):
    """A Lightning logger (Fabric's `loggers=[...]`, the Trainer's `logger=`) whose metrics reach a
    GAN Studio run that the app opens, follows and steers. The arguments are `ganstudio.init`'s;
    Lightning's hyperparameters join `config` as the loop's own keys when they come before the run
    folder is made (Fabric's log_hyperparams, the Trainer with GanStudioSteering)."""

    def __init__(
        self,
        out: str | os.PathLike = "runs",
        name: str = "",
        config: Mapping[str, Any] | None = None,
        live: Iterable[str] = (),
        on_change: Callable[[dict[str, Any]], Any] | None = None,
        *,
        on_nan: str = "warn",
    ):
        super().__init__()
        self._out = str(out)
        self._name = name or "lightning"
        self.ranks = RunOnRanks(
            _is_main, out=out, name=name, config=config, live=live, on_change=on_change, on_nan=on_nan
        )

    # ----- Lightning's Logger -------------------------------------------------------------------

    @property
    def name(self) -> str:
        return self._name

    @property
    def version(self) -> str | None:
        """The run folder's name (rank 0; made now if not yet). Lightning's ModelCheckpoint keeps its
        files in <out>/<name>/<version>/checkpoints, beside the run folder, never in it."""
        run = self.ranks.start()
        return run.folder.name if run is not None and run.folder is not None else None

    @property
    def root_dir(self) -> str:
        return self._out

    @property
    def save_dir(self) -> str:
        return self._out

    @property
    def log_dir(self) -> str | None:
        """The run folder (rank 0)."""
        run = self.ranks.start()
        return str(run.folder.path) if run is not None and run.folder is not None else None

    @property
    def experiment(self) -> Run | None:
        """The `ganstudio.Run`, once started (Lightning asks for it before the hyperparameters come,
        so asking does not start it)."""
        return self.ranks.run

    @rank_zero_only
    def log_metrics(self, metrics: Mapping[str, Any], step: int | None = None) -> None:
        self.ranks.log(step, metrics)

    @rank_zero_only
    def log_hyperparams(self, params: Mapping[str, Any] | Namespace, *args: Any, **kwargs: Any) -> None:
        params = vars(params) if isinstance(params, Namespace) else dict(params or {})
        run = self.ranks.run
        if run is None:
            self.ranks.start(params)
        elif params.keys() - run.config.keys():  # (the Trainer's, given at setup by GanStudioSteering)
            warn(
                "Lightning's hyperparameters came after the run folder was made, so GAN Studio does "
                "not show them: pass them as GanStudioLogger(config=...), or add GanStudioSteering"
            )

    def log_images(self, x: Any, step: int | None = None) -> None:
        """Samples at `step`: images (N, C, H, W) in [-1, 1] or points (N, 2) (rank 0 writes)."""
        self.ranks.log_images(step, x)

    @rank_zero_only
    def finalize(self, status: str) -> None:
        """Lightning's end of the run: "success" (finished, or stopped when Stop ended it) or
        "failed" (failed with the exception being handled; stopped for Ctrl+C)."""
        if status == "failed":
            error = sys.exc_info()[1] or RuntimeError("Lightning ended the run as failed")
            self.ranks.finish(failed=error)
        elif status != "finished":  # "finished": Lightning's SLURM requeue saves, the run goes on
            self.ranks.finish()

    # ----- the steering hook, on every rank -----------------------------------------------------

    def watch(self, g_optimizer: Any = None, d_optimizer: Any = None) -> GanStudioLogger:
        """Live optim.lr_g/lr_d (and Adam's betas) edits go into these optimizers (Fabric's or
        not), on every rank at the same step. Call it on every rank."""
        self.ranks.watch(g_optimizer, d_optimizer)
        return self

    def on_save(self, fn: Callable[[int], Any] | None) -> GanStudioLogger:
        """Save from the app calls `fn(step)` on every rank at the same step (so it may call
        `fabric.save`); rank 0's return value, the path it saved to, is recorded."""
        self.ranks.on_save(fn)
        return self

    def tick(self, step: int) -> bool:
        """Between steps, on every rank: live edits and saves, blocks while paused, and False on
        every rank at the same step once Stop is asked."""
        return self.ranks.tick(step)


class GanStudioSteering(Callback):
    """The Trainer's steering: pause blocks between batches, Stop ends fit, live lr edits reach
    the optimizers, Save writes a Lightning checkpoint; agreed by every rank at the same batch.

    logger: the GanStudioLogger (None: the trainer's). g_optimizer, d_optimizer: indices into
    `trainer.optimizers` (None: not watched)."""

    def __init__(
        self, logger: GanStudioLogger | None = None, g_optimizer: int | None = 0, d_optimizer: int | None = 1
    ):
        self.logger = logger
        self.g_optimizer, self.d_optimizer = g_optimizer, d_optimizer

    def setup(self, trainer: Any, pl_module: Any, stage: str) -> None:
        if self.logger is None:
            found = [lg for lg in trainer.loggers if isinstance(lg, GanStudioLogger)]
            if not found:
                raise ValueError(
                    "GanStudioSteering steers a GanStudioLogger's run, and this Trainer has none: "
                    "Trainer(logger=GanStudioLogger(...), callbacks=[GanStudioSteering()])"
                )
            self.logger = found[0]
        # Before ModelCheckpoint asks for the folder (Lightning sets checkpoint callbacks up last):
        # the run starts with the module's hyperparameters (rank 0).
        self.logger.ranks.start(dict(getattr(pl_module, "hparams", None) or {}))

    def on_train_start(self, trainer: Any, pl_module: Any) -> None:
        opts = trainer.optimizers

        def pick(i: int | None) -> Any:
            return opts[i] if i is not None and i < len(opts) else None

        self.logger.watch(pick(self.g_optimizer), pick(self.d_optimizer))
        self.logger.on_save(lambda step: self._save(trainer, step))

    def on_train_batch_end(
        self, trainer: Any, pl_module: Any, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        if not self.logger.tick(logged_step(trainer)):
            trainer.should_stop = True

    @staticmethod
    def _save(trainer: Any, step: int) -> Path:
        """Save from the app: a Lightning checkpoint (every rank calls it; the strategy writes)."""
        ckpt = trainer.checkpoint_callback
        folder = getattr(ckpt, "dirpath", None) or os.path.join(trainer.default_root_dir, "checkpoints")
        path = Path(folder) / f"ganstudio-step={step}.ckpt"
        trainer.save_checkpoint(path)
        return path


def logged_step(trainer: Any) -> int:
    """The step Lightning logs this batch's metrics at (batches that stepped the optimizers, as
    `self.log` uses), so edits and pauses line up with the plotted stats; global_step counts every
    optimizer's steps."""
    loop = getattr(trainer.fit_loop, "epoch_loop", None)
    return int(getattr(loop, "_batches_that_stepped", trainer.global_step))
