"""A Hugging Face Accelerate tracker that writes a GAN Studio run folder, with the steering hook.

    from ganstudio.integrations.accelerate import GanStudioTracker

    tracker = GanStudioTracker(out="runs", name="my-gan")
    accelerator = Accelerator(log_with=tracker)
    accelerator.init_trackers("my-gan", config={"lr": 2e-4})        # rank 0: the run folder
    G, D, opt_g, opt_d, loader = accelerator.prepare(G, D, opt_g, opt_d, loader)
    tracker.watch(g_optimizer=opt_g, d_optimizer=opt_d)              # every rank: live lr edits
    for step in ...:
        ...
        accelerator.log({"loss_d": loss_d, "loss_g": loss_g}, step=step)   # rank 0 writes
        if not tracker.tick(step):                                  # every rank: pause, stop
            break
    accelerator.end_training()

Accelerate calls `start`, `store_init_configuration`, `log` and `finish` on the main process only
(`main_process_only`), so rank 0 writes. `watch`, `on_save` and `tick` are the steering hook: the
loop calls them on every rank, and rank 0's requests are agreed by all of them (ranks.py).
Requires the `accelerate` extra: pip install "ganstudio[accelerate]".
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from accelerate import PartialState
from accelerate.tracking import GeneralTracker, on_main_process

from ganstudio.core.api import Run
from ganstudio.core.api.writer import warn
from ganstudio.integrations.ranks import RunOnRanks


def _is_main() -> bool:
    return PartialState().is_main_process


class GanStudioTracker(GeneralTracker):
    """`Accelerator(log_with=GanStudioTracker(...))`: `accelerator.log` reaches a GAN Studio run
    that the app opens, follows and steers. The arguments are `ganstudio.init`'s; the
    hyperparameters given to `accelerator.init_trackers(config=...)` join `config` as the loop's
    own keys (GAN Studio's keys among them are checked as ganstudio.init checks them)."""

    name = "ganstudio"
    requires_logging_directory = False
    main_process_only = True

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
        self.ranks = RunOnRanks(
            _is_main, out=out, name=name, config=config, live=live, on_change=on_change, on_nan=on_nan
        )

    @property
    def tracker(self) -> Run | None:
        """The `ganstudio.Run` (rank 0's once started; another rank's after its first tick)."""
        return self.ranks.run

    @property
    def run_dir(self) -> str | None:
        run = self.ranks.run
        return str(run.folder.path) if run is not None and run.folder is not None else None

    # ----- Accelerate's calls, on the main process -------------------------------------------------

    @on_main_process
    def start(self) -> None:
        """Nothing yet: the run folder is made with the hyperparameters that follow (or at the
        first log or tick)."""

    @on_main_process
    def store_init_configuration(self, values: dict) -> None:
        if self.ranks.run is None:
            self.ranks.start(values)
        else:  # the loop ticked before init_trackers: its run has its keys already
            warn("init_trackers' config came after the run started, so GAN Studio does not show it")

    @on_main_process
    def log(self, values: dict, step: int | None = None, **kwargs: Any) -> None:
        """Numbers and 0-d tensors (read once per GAN Studio log interval, no host sync here);
        text is left out."""
        self.ranks.log(step, values)

    @on_main_process
    def log_images(self, values: dict, step: int | None = None, **kwargs: Any) -> None:
        """{name: images (N, C, H, W) in [-1, 1] or points (N, 2)}: each becomes the run's samples."""
        for x in values.values():
            self.ranks.log_images(step, x)

    @on_main_process
    def finish(self) -> None:
        self.ranks.finish()

    # ----- the steering hook, on every rank --------------------------------------------------------

    def watch(self, g_optimizer: Any = None, d_optimizer: Any = None) -> GanStudioTracker:
        """Live optim.lr_g/lr_d (and Adam's betas) edits go into these optimizers (prepared or not),
        on every rank at the same step. Call it on every rank."""
        self.ranks.watch(g_optimizer, d_optimizer)
        return self

    def on_save(self, fn: Callable[[int], Any] | None) -> GanStudioTracker:
        """Save from the app calls `fn(step)` on every rank at the same step (so it may call
        `accelerator.save_state`); rank 0's return value, the path it saved to, is recorded."""
        self.ranks.on_save(fn)
        return self

    def tick(self, step: int) -> bool:
        """Between steps, on every rank: live edits and saves, blocks while paused, and False on
        every rank at the same step once Stop is asked."""
        return self.ranks.tick(step)
