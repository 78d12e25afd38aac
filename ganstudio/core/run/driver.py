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

from ganstudio.core.config import Config, run_name
from ganstudio.core.run.control import Control
from ganstudio.core.run.events import Alert, CheckpointFailed, CheckpointSaved, Event, Failed, Finished
from ganstudio.core.run.folder import RunFolder, RunFolderError
from ganstudio.core.run.log import LogWriteError, RunWriter
from ganstudio.core.run.state import PAUSED
from ganstudio.core.run.steer import Steering
from ganstudio.core.run.write_failures import HALT_AFTER, WriteFailures, halt_message

AUTO = "auto"


class RunDriver:
    """Drives one run. `prepare()` does the slow part (data, models, checkpoint) and opens the
    folder; `events()` trains, writing everything, and may be called again to continue after a
    stop. `close()` ends it (the heartbeat says finished).

    cfg: the config of a new run, or the changed keys for a resumed one (validated against the
    checkpoint: only keys that leave the models, data and random streams alone may differ).
    resume: a checkpoint to continue, or "auto" for the folder's latest one if it has any.
    folder: a run folder to use (`--run-dir`); by default a new one under cfg.log.out.
    trainer: an existing trainer to go on with (the app's Continue); then `folder` and `writer`
    are the ones it was writing.
    """

    def __init__(
        self,
        cfg: Config | None = None,
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
        dist: Any = None,
    ):
        self.cfg = cfg
        self.dist = dist  # a torchrun job (ganstudio.core.train.distributed.Dist): rank 0 writes
        self.resume = resume
        self.folder = folder
        self.control = control or Control()
        self.on_log_failure = on_log_failure
        self.reserve_cores = reserve_cores
        self.steer = steer
        self.trainer = trainer
        self.writer = writer
        self._replay = replay  # write the trainer's earlier history into the folder first
        self._parent = parent
        self._out = out  # where a new folder goes (default: the config's log.out)
        self.fork = fork  # a resumed checkpoint may change train.seed too, and is recorded as a fork
        self.halted: Alert | None = None  # why the run was stopped or paused for want of disk
        self.failures = WriteFailures()  # the run's failed writes, told once per kind
        self._log_failing = False
        self._unsaved: list[int] = []  # the steps of the checkpoint intervals in a row not saved
        self._counted = 0  # the trainer's count of them, as last seen
        self._tensorboard: Any = None  # ganstudio.core.run.tensorboard.TensorBoardLog while log.tensorboard
        self._tensorboard_failed = False

    # ----- building ----------------------------------------------------------------------------

    def prepare(self):
        """Build (or resume) the trainer and open the run folder. Raises ConfigError,
        CheckpointError, DataError or RunFolderError, leaving no new folder behind."""
        from ganstudio.core.train.trainer import Trainer

        if self.trainer is not None:
            return self._open_folder(self.trainer)
        if self.dist is not None:
            return self._prepare_job()
        checkpoint = self._checkpoint_to_resume()
        created = False
        if self.folder is None:
            cfg = self.cfg if checkpoint is None or self.cfg is not None else _config_of(checkpoint)
            if checkpoint is not None and self._parent is None:
                self._parent = parent_of(checkpoint, "fork" if self.fork else "resume")
            self.folder = RunFolder.create(cfg, out=self._out, parent=self._parent)
            created = True
        try:
            store = self.folder.checkpoints_dir
            if checkpoint is not None:
                self.trainer = Trainer.from_checkpoint(checkpoint, config=self.cfg, checkpoint_dir=store,
                                                       fork=self.fork)
                # A new folder gets the earlier history; the same folder has it already.
                self._replay = created
                if self.fork:
                    self._note_fork(checkpoint)
            else:
                self.trainer = Trainer(self.cfg, checkpoint_dir=store)
            return self._open_folder(self.trainer)
        except BaseException:
            if created:
                self.folder.remove_if_empty()
            raise

    def _prepare_job(self):
        """`prepare` for one process of a torchrun job. Rank 0 makes the folder and reads the
        checkpoint (a multi-machine job's other ranks need not see its disk: they get it from rank
        0); every rank builds its trainer; a failure anywhere ends every rank (JobFailed on those
        that did not fail themselves) rather than leaving them waiting in a collective."""
        from ganstudio.core.checkpoint import io as checkpoints
        from ganstudio.core.train.trainer import Trainer

        d = self.dist
        error: BaseException | None = None
        ckpt, checkpoint, created = None, None, False
        if d.main:
            try:
                checkpoint = self._checkpoint_to_resume()
                if checkpoint is not None:
                    ckpt = checkpoints.load(checkpoint)
                if self.folder is None:
                    if checkpoint is not None and self._parent is None:
                        self._parent = parent_of(checkpoint, "fork" if self.fork else "resume")
                    cfg = self.cfg if self.cfg is not None else checkpoints.config_of(ckpt)
                    self.folder = RunFolder.create(cfg, out=self._out, parent=self._parent)
                    created = True
            except Exception as e:  # told to every rank below
                error = e
        self._agree(error is None, error)
        ckpt = d.broadcast(ckpt)
        try:
            store = self.folder.checkpoints_dir if d.main else None
            if ckpt is not None:
                self.trainer = Trainer.from_checkpoint(ckpt, config=self.cfg, checkpoint_dir=store,
                                                       fork=self.fork, dist=d, name=str(checkpoint or ""))
                self._replay = created
                if self.fork:
                    self._note_fork(checkpoint)
            else:
                self.trainer = Trainer(self.cfg, checkpoint_dir=store, dist=d)
        except Exception as e:
            error = e
        if not d.all_ok(error is None):
            if created:
                self.folder.remove_if_empty()
            raise error if error is not None else JobFailed()
        if not d.main:
            return self.trainer
        return self._open_folder(self.trainer)

    def _agree(self, ok: bool, error: BaseException | None) -> None:
        if not self.dist.all_ok(ok):
            raise error if error is not None else JobFailed()

    def _note_fork(self, checkpoint: Path) -> None:
        """A fork's changed keys, as a hyperparameter change at the fork's step: its plots and log
        say where it leaves the parent and how."""
        from ganstudio.core.config import live_changes
        from ganstudio.core.run.events import HyperparamsChanged

        t = self.trainer
        if not t.main:
            return
        parent_cfg = _config_of(checkpoint)
        changes = {k: v for k, v in live_changes(parent_cfg, t.cfg).items()
                   if k not in ("log.out", "log.name", "train.device", "train.threads")}
        if changes:
            t.state.apply(HyperparamsChanged(step=t.step, changes=changes))

    def _checkpoint_to_resume(self) -> Path | None:
        if self.resume is None:
            return None
        if str(self.resume) == AUTO:
            if self.folder is None:
                raise RunFolderError("--resume auto needs --run-dir: the folder whose latest checkpoint "
                                     "to use")
            return self.folder.latest_checkpoint()
        return Path(self.resume)

    def _open_folder(self, trainer):
        trainer.reserve_cores = self.reserve_cores
        if self.folder is None:
            self.folder = RunFolder.create(trainer.cfg, out=self._out, parent=self._parent)
            self._replay = trainer.step > 0
        trainer.checkpoint_dir = self.folder.checkpoints_dir
        if not self.folder.meta_path.exists():  # a --run-dir made by hand or by an older version
            self.folder.write_meta({"created": time.time(), "host": socket.gethostname(),
                                    "name": run_name(trainer.cfg), "parent": self._parent})
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
        if self.steer:
            steering = Steering(self.folder, self.control, self._status, extra=self._extra_status).start()
        final = "stopped"
        self._unsaved, self._counted = [], trainer.unsaved_intervals
        try:
            for ev in trainer.run(self.control):
                if isinstance(ev, (Finished, Failed)):  # the failures counted and not told yet
                    yield from self._pass_on(self.failures.summary(ev.step))
                extra = self._write(ev) + self._checkpoint_outcome(ev)
                yield ev
                yield from self._pass_on(extra)
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
        message = halt_message(folder.checkpoints_dir, steps, self.on_log_failure == "pause",
                               folder.latest_checkpoint(), folder.path)
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

    def _extra_status(self) -> dict[str, Any]:
        """For the heartbeat of a job: every rank's step at the last agreement."""
        agreed = getattr(self.trainer, "_agreed", None)
        return {"rank_steps": agreed.last_steps} if agreed is not None else {}

    def _write(self, ev: Event) -> list[Event]:
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
            return [Alert(step=getattr(ev, "step", 0), kind="disk", message=(
                f"TensorBoard files are not written to {self.folder.tensorboard_dir}: {e}. Training and "
                "its run folder go on; turn log.tensorboard off, or fix this and turn it on again."))]
        return []

    def close(self) -> None:
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


def parent_of(checkpoint: str | Path, kind: str) -> dict[str, Any]:
    """What a run continued from, for its run.json: the checkpoint, its run folder and step."""
    from ganstudio.core.checkpoint import io as checkpoints

    source = RunFolder.of_checkpoint(checkpoint)
    step = None
    try:
        step = int(checkpoints.load(checkpoint)["step"])
    except Exception:  # the load that follows reports a bad file properly
        pass
    return {"kind": kind, "run": str(source.path) if source is not None else None, "step": step,
            "checkpoint": str(Path(checkpoint).resolve())}


def _config_of(checkpoint: Path) -> Config:
    from ganstudio.core.checkpoint import io as checkpoints

    return checkpoints.config_of(checkpoints.load(checkpoint))
