"""A run in its run folder, end to end: the one place that makes or reopens the folder, builds or
resumes the trainer, opens the log, replays a resumed run's history, steers the run from the
folder's control file and pumps the events through the log. The CLI and the app both drive
their runs with it.

What cannot be written is never a traceback: a sample or checkpoint that did not fit on the disk
is told once (the failures after it are counted, and the count told when that kind is written again
or the run ends: write_failures.py) and training goes on. The run halts when going on would lose
what it trains: when the log itself (metrics.jsonl) cannot be written (the lines not yet written are
kept and written as soon as they can be), or when no checkpoint could be written for
write_failures.HALT_AFTER checkpoint intervals in a row. It then stops after the current step
(`on_log_failure="stop"`, the CLI, which exits 1) or pauses (`"pause"`, the app, which shows a
dialog), with one Alert that says why and what to do (`halted`).
"""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ganstudio.core.config import Config, live_changes, run_name
from ganstudio.core.run.control import Control
from ganstudio.core.run.events import (
    Alert,
    CheckpointFailed,
    CheckpointSaved,
    Event,
    Failed,
    Finished,
    HyperparamsChanged,
)
from ganstudio.core.run.folder import RunFolder, RunFolderError
from ganstudio.core.run.log import LogWriteError, RunWriter
from ganstudio.core.run.notify import Notifier
from ganstudio.core.run.spec import AUTO, RunSpec, resume_checkpoint
from ganstudio.core.run.state import PAUSED
from ganstudio.core.run.steer import Steering
from ganstudio.core.run.write_failures import HALT_AFTER, WriteFailures, halt_message
from ganstudio.core.train.health import StallWatch

__all__ = ["AUTO", "JobFailed", "RunDriver", "RunSpec"]


class RunDriver:
    """Drives one run. `prepare()` does the slow part (data, models, checkpoint) and opens the
    folder; `events()` trains, writing everything, and may be called again to continue after a
    stop. `close()` ends it (the heartbeat says finished).

    spec: the run (RunSpec: its config, the checkpoint it continues, its folder). For callers with
    no spec, a Config (or None: the checkpoint's) with `resume` (a checkpoint, or "auto" for
    `folder`'s latest), `folder`, `out` and `fork` says the same. A resumed run's config may differ
    from its checkpoint's only in keys that leave the models, data and random streams alone.
    trainer: an existing trainer to go on with (the app's Continue); then `folder` and `writer`
    are the ones it was writing, and `parent` what run.json says it continued, if not the spec's.
    collective: a torchrun job's (train.distributed.Job): every rank prepares and trains, rank 0
    makes and writes the folder. None: one process.
    """

    def __init__(
        self,
        spec: RunSpec | Config | None = None,
        *,
        resume: str | Path | None = None,
        folder: RunFolder | None = None,
        control: Control | None = None,
        on_log_failure: str = "stop",
        reserve_cores: int = 0,
        steer: bool = True,
        trainer: Any = None,
        writer: RunWriter | None = None,
        replay: bool = False,
        parent: dict[str, Any] | None = None,
        out: str | Path | None = None,
        fork: bool = False,
        collective: Any = None,
    ):
        if not isinstance(spec, RunSpec):
            checkpoint = resume_checkpoint(resume, folder)
            spec = RunSpec(
                spec,
                checkpoint=checkpoint,
                fork=fork,
                folder=folder,
                out=Path(out) if out is not None else None,
            )
        self.spec = spec
        self.cfg = spec.cfg
        self.collective = collective  # None: one process (train.distributed.Local, made when prepared)
        self.folder = spec.folder
        self.control = control or Control()
        self.on_log_failure = on_log_failure
        self.reserve_cores = reserve_cores
        self.steer = steer
        self.trainer = trainer
        self.writer = writer
        self._replay = replay  # write the trainer's earlier history into the folder first
        self._parent = parent
        self.halted: Alert | None = None  # why the run was stopped or paused for want of disk
        self.failures = WriteFailures()  # the run's failed writes, told once per kind
        self._log_failing = False
        self._unsaved: list[int] = []  # the steps of the checkpoint intervals in a row not saved
        self._counted = 0  # the trainer's count of them, as last seen
        self._tensorboard: Any = None  # ganstudio.core.run.tensorboard.TensorBoardLog while log.tensorboard
        self._tensorboard_failed = False
        self._notifier: Notifier | None = None  # log.notify_url's sender, rank 0 only (notify.py)
        self._stall = StallWatch()  # asked on the heartbeat thread: a stalled run makes no events
        self._stalled: Alert | None = None  # in the heartbeat until the step moves past it

    # ----- building ----------------------------------------------------------------------------

    def prepare(self):
        """Build (or resume) the trainer and open the run folder. Raises ConfigError,
        CheckpointError, DataError or RunFolderError, leaving no new folder behind.

        One path for one process and for every rank of a job: rank 0 reads the checkpoint and makes
        the folder (a multi-machine job's other ranks need not see its disk: they get the checkpoint
        from rank 0); every rank builds its trainer; a failure anywhere ends every rank (JobFailed on
        those that did not fail themselves) rather than leaving them waiting in a collective."""
        if self.trainer is not None:
            return self._open_folder(self.trainer)
        from ganstudio.core.train.distributed import Local

        world = self.collective = self.collective or Local()
        created = False
        try:
            ckpt, error = None, None
            if world.main:
                try:
                    ckpt = self._load_checkpoint()
                    created = self._make_folder(ckpt)
                except Exception as e:  # told to every rank below
                    error = e
            _agree(world, error)
            ckpt = world.broadcast(ckpt)
            try:
                self.trainer = self._build(ckpt, created)
            except Exception as e:
                error = e
            _agree(world, error)
            return self._open_folder(self.trainer) if world.main else self.trainer
        except BaseException:
            if created:
                self.folder.remove_if_empty()
            raise

    def _load_checkpoint(self) -> dict[str, Any] | None:
        from ganstudio.core.checkpoint import io as checkpoints

        return checkpoints.load(self.spec.checkpoint) if self.spec.checkpoint is not None else None

    def _make_folder(self, ckpt: dict[str, Any] | None) -> bool:
        """Make the run's new folder (unless it has one); whether it did."""
        if self.folder is not None:
            return False
        from ganstudio.core.checkpoint import io as checkpoints

        cfg = self.cfg if self.cfg is not None else checkpoints.config_of(ckpt)
        if self._parent is None and ckpt is not None:
            self._parent = self.spec.parent(int(ckpt["step"]))
        self.folder = RunFolder.create(cfg, out=self.spec.out, parent=self._parent)
        return True

    def _build(self, ckpt: dict[str, Any] | None, created: bool):
        from ganstudio.core.train.trainer import Trainer

        store = self.folder.checkpoints_dir if self.collective.main else None
        if ckpt is None:
            return Trainer(self.cfg, checkpoint_dir=store, collective=self.collective, model=self.spec.model)
        trainer = Trainer.from_checkpoint(
            ckpt,
            config=self.cfg,
            checkpoint_dir=store,
            fork=self.spec.fork,
            collective=self.collective,
            name=str(self.spec.checkpoint),
            model=self.spec.model,
        )
        self._replay = created  # a new folder gets the earlier history; the same folder has it already
        if self.spec.fork and trainer.main:
            _note_fork(trainer, ckpt)
        return trainer

    def _open_folder(self, trainer):
        trainer.reserve_cores = self.reserve_cores
        if self.folder is None:  # the app's Continue of a checkpoint it opened
            parent = self._parent if self._parent is not None else self.spec.parent(trainer.step)
            self.folder = RunFolder.create(trainer.cfg, out=self.spec.out, parent=parent)
            self._replay = trainer.step > 0
        trainer.checkpoint_dir = self.folder.checkpoints_dir
        if not self.folder.meta_path.exists():  # a --run-dir made by hand or by an older version
            self.folder.write_meta(
                {
                    "created": time.time(),
                    "host": socket.gethostname(),
                    "name": run_name(trainer.cfg),
                    "parent": self._parent,
                }
            )
        code = getattr(trainer, "model_ref", None)
        if code is not None:  # your own model: the file as it was imported, and its hash
            self.folder.keep_model_file(code)
        if trainer.cfg.log.tensorboard:  # no package: said now, before training starts
            from ganstudio.core.run.tensorboard import TensorBoardMissing, check_available

            try:
                check_available()
            except TensorBoardMissing as e:
                raise RunFolderError(str(e)) from None
        # Saves killed mid-write (a crash, kill -9) left their temporary files; a save of this run
        # would remove them too, but a run killed again before its first save never gets there.
        from ganstudio.core.checkpoint import io as checkpoints

        checkpoints.remove_stale_temps(self.folder.checkpoints_dir)
        if self.writer is None or self.writer.closed:
            reference = trainer.data.x.numpy() if trainer.data.is_2d else None
            self.writer = RunWriter(self.folder, trainer.cfg, reference, failures=self.failures)
        self.writer.failures = self.failures
        if self._replay:
            self._replay = False
            try:
                self.writer.write_history(trainer.state)
            except LogWriteError as e:
                raise RunFolderError(str(e)) from None
        return trainer

    # ----- running -----------------------------------------------------------------------------

    def events(self) -> Iterator[Event]:
        """Train, writing every event to the folder, and yield the events (with the alerts about
        files that could not be written)."""
        trainer = self.trainer
        if not trainer.main:  # another rank of a job: it trains; rank 0 writes
            yield from trainer.run(self.control)
            return
        steering = None
        url = trainer.cfg.log.notify_url
        if url and self._notifier is None:
            self._notifier = Notifier(url, run=self.folder.path.name, host=socket.gethostname())
        if self.steer:
            steering = Steering(
                self.folder, self.control, self._status, extra=self._extra_status, tick=self._watch
            ).start()
        final = "stopped"
        self._unsaved, self._counted = [], trainer.unsaved_intervals
        try:
            for ev in trainer.run(self.control):
                if isinstance(ev, (Finished, Failed)):  # the failures counted and not told yet
                    yield from self._pass_on(self.failures.summary(ev.step))
                extra = self._write(ev) + self._checkpoint_outcome(ev)
                yield ev
                yield from self._pass_on(extra)
                if self._notifier is not None:  # notifications that could not be sent
                    yield from self._pass_on(self._notifier.take_alerts())
            final = trainer.state.status
        finally:
            if steering is not None:
                steering.close(final_status=final)

    def _pass_on(self, events: list[Event]) -> Iterator[Event]:
        """Events the driver adds to the run's stream: in the trainer's state and the log too."""
        for x in events:
            self.trainer.state.apply(x)
            self._write(x)
            yield x

    def _checkpoint_outcome(self, ev: Event) -> list[Event]:
        """A checkpoint saved tells how many failed before it; HALT_AFTER checkpoint intervals in a
        row that could not be saved halt the run (and start a new count, for after a Resume)."""
        if isinstance(ev, CheckpointSaved):
            self._unsaved = []
            self._counted = 0
            saved = self.failures.succeeded("checkpoint", ev.step)
            return [saved] if saved is not None else []
        if not isinstance(ev, CheckpointFailed):
            return []
        self.failures.failed("checkpoint", ev.step)
        if self.trainer.unsaved_intervals > self._counted:  # an interval's checkpoint, not a manual one
            self._unsaved.append(ev.step)
        self._counted = self.trainer.unsaved_intervals
        if len(self._unsaved) < HALT_AFTER or self.trainer.step >= self.trainer.cfg.train.steps:
            return []  # (at the end nothing more is trained: the final checkpoint's failure says it)
        steps, self._unsaved = self._unsaved, []
        folder = self.folder
        message = halt_message(
            folder.checkpoints_dir,
            steps,
            self.on_log_failure == "pause",
            folder.latest_checkpoint(),
            folder.path,
        )
        return [self._halt(ev.step, message)]

    def _halt(self, step: int, message: str) -> Alert:
        """Stop (the CLI) or pause (the app) the run, for the reason `message` gives."""
        if self.on_log_failure == "pause":
            self.control.pause()
        else:
            self.control.stop()
        self.halted = Alert(step=step, kind="disk", message=message)
        return self.halted

    def _status(self) -> tuple[int, str, float]:
        t = self.trainer
        return t.step, ("paused" if t.state.status == PAUSED else "running"), t.state.steps_per_s

    def _watch(self) -> None:
        """On the heartbeat thread: a running run that makes no step gets a 'stalled' alert
        (health.StallWatch decides), told to the webhook at once (the training thread may be the
        one that hangs) and posted to the run's stream for its next step boundary."""
        t = self.trainer
        step, live, _ = self._status()
        if step >= t.cfg.train.steps:
            live = "finishing"  # the last evaluation and checkpoint: no step is due
        alert = self._stall.check(time.monotonic(), step, live, t.cfg.health.stall_seconds)
        if self._stalled is not None and (step != self._stalled.step or live != "running"):
            self._stalled = None
        if alert is None:
            return
        self._stalled = alert  # the next heartbeats say it: a follower sees a hung run's stall
        if self._notifier is not None:
            self._notifier.send_now(alert, t.cfg.log.notify_on)
        self.control.post(alert)

    def _extra_status(self) -> dict[str, Any]:
        """For the heartbeat: a job's every rank's step at the last agreement, and the stall told
        while the step has not moved."""
        extra = self.trainer.collective.heartbeat()
        stalled = self._stalled
        return extra if stalled is None else {**extra, "stalled": stalled.record()}

    def record(self, ev: Event) -> list[Event]:
        """An event made outside the loop (a live edit or a save of a stopped model), written to
        the run folder like the loop's own; returns the events that writing it produced."""
        return self._write(ev)

    def _write(self, ev: Event) -> list[Event]:
        if self._notifier is not None:
            self._notifier.handle(ev, self.trainer.cfg.log.notify_on)
        try:
            extra = self.writer.handle(ev)
        except LogWriteError as e:
            if self._log_failing:
                return []
            self._log_failing = True
            if self.on_log_failure == "pause":
                then = "training is paused; free some space, then press Resume"
            else:
                then = "training stops after this step and saves a final checkpoint"
            return [self._halt(getattr(ev, "step", 0), f"{e}. {then}")]
        if self._log_failing:
            self._log_failing = False
        return extra + self._write_tensorboard(ev)

    def _write_tensorboard(self, ev: Event) -> list[Event]:
        """log.tensorboard: the event goes to <run>/tensorboard/ too; the files open and close as
        the (live) key is turned on and off. A failure is an Alert, once; training goes on."""
        from ganstudio.core.run.tensorboard import TensorBoardLog

        on = self.trainer is not None and self.trainer.cfg.log.tensorboard
        if not on or self._tensorboard_failed:
            if self._tensorboard is not None:
                self._tensorboard.close()
                self._tensorboard = None
            self._tensorboard_failed = self._tensorboard_failed and on
            return []
        try:
            if self._tensorboard is None:
                self._tensorboard, read_back = TensorBoardLog.for_run(self.folder)
                if read_back:  # the folder's log so far, this event included
                    return []
            self._tensorboard.handle(ev)
        except Exception as e:  # a missing package, a full disk: TensorBoard is a bonus, not the run
            self._tensorboard_failed = True
            return [
                Alert(
                    step=getattr(ev, "step", 0),
                    kind="disk",
                    message=(
                        f"TensorBoard files are not written to {self.folder.tensorboard_dir}: {e}. "
                        "Training and its run folder go on; turn log.tensorboard off, or fix this and turn "
                        "it on again."
                    ),
                )
            ]
        return []

    def close(self, notify_wait_s: float | None = None) -> None:
        """End the run's files. Waits up to `notify_wait_s` (default: one send's timeout) for the
        last notifications; a process that lives on (the app) passes 0: they go all the same."""
        if self._notifier is not None:  # the run's last word sent (a hanging endpoint: TIMEOUT_S)
            self._notifier.close(notify_wait_s)
            with contextlib.suppress(LogWriteError):
                for alert in self._notifier.take_alerts():
                    self.trainer.state.apply(alert)
                    self.writer.handle(alert)
            self._notifier = None
        if self._tensorboard is not None:
            self._tensorboard.close()
            self._tensorboard = None
        if self.writer is not None:
            with contextlib.suppress(OSError):
                self.writer.close()


class JobFailed(Exception):
    """Another process of the torchrun job could not start; it says why (rank 0 prints it)."""

    def __str__(self) -> str:
        return "another process of the job could not start the run; rank 0's output says why"


def _agree(world: Any, error: BaseException | None) -> None:
    """Go on only if every rank is fine: raise this rank's error, or JobFailed for another's."""
    if not world.all_ok(error is None):
        raise error if error is not None else JobFailed()


def _note_fork(trainer: Any, ckpt: dict[str, Any]) -> None:
    """A fork's changed keys, as a hyperparameter change at the fork's step: its plots and log say
    where it leaves the parent and how."""
    from ganstudio.core.checkpoint import io as checkpoints

    changes = {
        k: v
        for k, v in live_changes(checkpoints.config_of(ckpt), trainer.cfg).items()
        if k not in ("log.out", "log.name", "log.notify_url", "train.device", "train.threads")
    }
    if changes:
        trainer.state.apply(HyperparamsChanged(step=trainer.step, changes=changes))
