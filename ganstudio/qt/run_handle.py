"""The run handle: where the current run lives, and how a command reaches it.

A Session holds exactly one handle, chosen once, when a run is started, opened or followed:

    LocalRun    a run the app trains itself on its worker thread (or none yet, or a model opened
                from a checkpoint, ready to continue); commands go to its `Control`
    FolderRun   (folder_run.py) a run another process trains (the CLI, torchrun, a loop that
                writes a run folder), read through its folder and steered through its control.jsonl

Both answer the same commands (`start`, `pause`, `resume`, `step`, `stop`, `save`, `edit`,
`shutdown`), the same capabilities (`has_model`, `steer_problem`, `can_start`, the action rules)
and where the latent explorer finds the current generator (`generator`). Session's commands are
one line each; nothing outside this module asks where a run lives, only what it can do.

A handle speaks through its session's signals (`message`, `error`, `config_changed`, ...) and sets
the session's state (the window's action state: idle/starting/running/paused/stopping/stopped).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, QThread, Slot

from ganstudio.core.run.control import Control
from ganstudio.core.run.events import Failed
from ganstudio.core.run.folder import RunFolder, RunFolderError
from ganstudio.core.run.state import PAUSED as RUN_PAUSED
from ganstudio.core.run.state import RUNNING as RUN_RUNNING
from ganstudio.qt import action_rules
from ganstudio.qt.states import IDLE, PAUSED, RUNNING, STARTING, STOPPED, STOPPING
from ganstudio.qt.worker import Worker, start_worker

if TYPE_CHECKING:
    from ganstudio.core.config import Config
    from ganstudio.qt.session import Session

NO_SOURCE = "No generator yet: start training, open a checkpoint, or open a run."
WAITING_FOR_SAMPLES = "Waiting for the run's next samples (every log.sample_every steps)."
NEW_RUN_HINT = "File › New Run starts over with another configuration."
NO_CHECKPOINT_YET = "This run has no checkpoint yet; the explorer loads its latest one when it appears."


@dataclass(frozen=True)
class GeneratorSource:
    """Where the latent explorer gets the current generator.

    `key` names one generator (the explorer reloads only when it changes) and `args()` makes what
    its thread loads it from ({"checkpoint": path} or {"weights": ..., "dataset": ...}); it is
    called only for a new key (copying a trainer's weights is not free). With no key, `note` says
    why there is none ("" means: keep whatever is shown). `fallback` marks a source used only while
    the explorer shows nothing yet (the run's latest checkpoint while it trains)."""

    key: Any = None
    args: Callable[[], dict] = dict
    note: str = ""
    fallback: bool = False


class RunHandle(QObject):
    """The commands and capabilities every kind of run answers; see the module's docstring."""

    elsewhere = False  # another process trains it (the window says "Following", the title the folder)
    start_tip = "Start training, or continue the current model"

    def __init__(self, session: Session):
        super().__init__(session)
        self.s = session
        self.trainer: Any = None  # a Trainer of the app's own (LocalRun only)
        self.control: Control | None = None
        self.driver: Any = None
        self.folder: RunFolder | None = None
        self.checkpoint_path: Path | None = None
        self.followed: RunFolder | None = None
        self.watch_only = ""
        self.loop: dict | None = None  # run.json's "loop" table: a run your own loop writes
        self.imported = ""  # "imported from PATH (kind)": a run of `ganstudio import` (no config)

    def on_markers(self) -> None:
        """An edit or a status change arrived: what a loop of the user's takes may have changed."""

    @property
    def busy(self) -> bool:
        """A training thread of the app's own exists."""
        return False

    @property
    def has_model(self) -> bool:
        """A model exists, so only live keys may change."""
        return True

    def close(self) -> None:
        """The handle is being replaced: let go of threads and files (the run itself stays)."""

    def stop_reading(self) -> None:
        """The window closes: stop reading a folder another process writes (that run goes on)."""

    def on_started(self, ev: Any) -> None:
        """The run says it started (RunStarted)."""

    def settle(self) -> None:
        """An app's thread ended (training, or opening a checkpoint): the state it leaves."""
        self.s._set_state(STOPPED if self.trainer is not None else IDLE)


class LocalRun(RunHandle):
    """A run the app trains on its worker thread; with no trainer yet it is the config of the next
    run (idle), and with a trainer and no thread, a model stopped or opened from a checkpoint."""

    def __init__(self, session: Session, trainer: Any = None, checkpoint_path: Path | None = None):
        super().__init__(session)
        self.trainer = trainer
        self.checkpoint_path = checkpoint_path
        self._thread: QThread | None = None

    # ----- capabilities ----------------------------------------------------------------------

    @property
    def busy(self) -> bool:
        return self._thread is not None

    @property
    def has_model(self) -> bool:
        return self.trainer is not None or self.busy

    def steer_problem(self) -> str:
        steers = self.control is not None and self.s.state in (RUNNING, PAUSED)
        return "" if steers else "nothing is training"

    def saves_in_folder(self) -> bool:
        """Save Checkpoint makes one now, in the run's folder (through the run, or directly)."""
        stopped_with_folder = self.trainer is not None and not self.busy and self.folder is not None
        return not self.steer_problem() or stopped_with_folder

    def needs_save_path(self) -> bool:
        """A stopped model with no run folder yet (opened from a file): Save asks where."""
        return self.trainer is not None and self.trainer.checkpoint_dir is None and not self.busy

    def can_start(self) -> bool:
        st = self.s.state
        if st == IDLE:
            return True
        if st == STOPPED and self.trainer is not None:
            return self.trainer.step < self.s.config.train.steps
        return False

    def action_reasons(self, valid: bool, closing: bool) -> dict[str, str]:
        return action_rules.local(self.s, valid, closing)

    def edit_problem(self) -> str:
        """Why the hyperparameter fields are read-only ("" when edits can be made)."""
        return ""

    def generator(self) -> GeneratorSource:
        s, trainer = self.s, self.trainer
        latest = s.run.latest_samples
        weights = getattr(latest, "generator", None) if latest is not None else None
        dataset = trainer.data if trainer is not None else None
        if weights is not None:
            return GeneratorSource(("weights", id(weights)), lambda: {"weights": weights, "dataset": dataset})
        if trainer is not None and not self.busy:  # stopped: the trainer's own weights are the latest
            from ganstudio.core import latent

            name = f"checkpoint {self.checkpoint_path.name}" if self.checkpoint_path is not None else "run"
            key = ("trainer", id(trainer), trainer.step)
            return GeneratorSource(
                key, lambda: {"weights": latent.weights_of(trainer, name), "dataset": dataset}
            )
        if self.has_model:
            path = self.folder.latest_checkpoint() if self.folder is not None else None
            if path is not None:
                args = {"checkpoint": str(path), "dataset": dataset}
                return GeneratorSource(("checkpoint", str(path)), lambda: args, fallback=True)
            return GeneratorSource(note=WAITING_FOR_SAMPLES, fallback=True)
        return GeneratorSource(note=NO_SOURCE)

    def set_share_generator(self, on: bool) -> None:
        if self.trainer is not None:
            self.trainer.share_generator = on

    # ----- commands --------------------------------------------------------------------------

    def start(self, paused: bool) -> None:
        s = self.s
        if self.busy:
            if s.state == PAUSED:
                self.resume()
            return
        if not self.can_start():
            if self.trainer is not None:
                s.message.emit(
                    f"Training reached train.steps = {s.config.train.steps}; raise it to train longer."
                )
            return
        from ganstudio.core.run.driver import RunDriver
        from ganstudio.core.run.spec import RunSpec

        cfg = s.config
        self.control = Control(paused=paused)
        s._stop_requested = False
        if self.trainer is None:
            try:
                folder = RunFolder.create(cfg)
            except RunFolderError as e:
                s.error.emit(str(e), "")
                return
            self.folder = folder
            s.model.start_over(cfg)
            self.driver = RunDriver(
                RunSpec(cfg, folder=folder), control=self.control, on_log_failure="pause", reserve_cores=1
            )
        elif self.driver is None:
            # A model opened from a checkpoint: it continues in a run folder of its own beside the
            # run it continues (made on the worker thread), with the history it had.
            model = self.trainer.model_ref  # your own model: the file it was opened with
            spec = (
                RunSpec.beside(self.checkpoint_path, cfg, model=model)
                if self.checkpoint_path
                else RunSpec(cfg, model=model)
            )
            self.driver = RunDriver(
                spec, trainer=self.trainer, control=self.control, on_log_failure="pause", reserve_cores=1
            )
            if self.trainer.cfg != cfg:
                # Edits the trainer missed (made while a checkpoint was being opened, say).
                self.control.update_config(cfg)
        else:
            self.driver.control = self.control
        driver, share = self.driver, s.share_generator

        def build():  # on the worker thread, before the first samples event
            trainer = driver.prepare()
            trainer.share_generator = share
            return trainer

        worker = Worker(build, lambda _trainer: driver.events(), expected_errors=user_errors)
        worker.built.connect(self._on_built)
        worker.events.connect(s.model.apply)
        worker.failed.connect(self._on_failed)
        s._set_state(STARTING)
        s.message.emit("Loading data and building models…" if self.trainer is None else "Resuming…")
        self._thread = start_worker(worker, self, on_finished=self._on_thread_finished)

    def pause(self) -> None:
        if self.control is not None and self.s.state == RUNNING:
            self.control.pause()

    def resume(self) -> None:
        if self.control is not None and self.s.state == PAUSED:
            self.control.resume()
            self.s._set_state(RUNNING)

    def step(self) -> None:
        s = self.s
        if self.control is not None and s.state == PAUSED:
            self.control.step(1)
        elif s.state == RUNNING:
            self.pause()
        elif not self.busy and self.can_start():
            # Paused from the start: a trainer that needs no building must not run ahead.
            self.start(paused=True)
            if self.control is not None and self.busy:
                self.control.step(1)

    def stop(self) -> None:
        if self.control is not None and self.busy and self.s.state != STOPPING:
            self.control.stop()
            self.s._set_state(STOPPING)

    def save(self, path: str | None) -> None:
        s = self.s
        if self.control is not None and s.state in (RUNNING, PAUSED):
            self.control.save_checkpoint(path)
            return
        if self.trainer is None or self.busy or s.state == STARTING:
            s.message.emit("Nothing to save yet: start training or open a checkpoint first.")
            return
        from ganstudio.core.checkpoint.io import CheckpointError

        try:
            ev = self.trainer.save_checkpoint(path)
        except CheckpointError as e:
            if path is None:
                s.message.emit("This model has no run folder yet; use Save Checkpoint As….")
            s.error.emit(str(e), "")
            return
        self._record([ev])

    def edit(self, cfg: Config, values: dict[str, Any]) -> None:
        s = self.s
        if self.busy:
            # While starting, too: the trainer takes it before its first step; its
            # HyperparamsChanged (or a refusal) comes back through the model like any run's.
            self.control.update_values(values)
            s.edit_pending.emit(sorted(values))
        elif self.trainer is not None:  # stopped (an open of another checkpoint may be running)
            ev = self.trainer.apply_config(values)
            if ev is not None:
                self._record([ev])

    def shutdown(self, save: bool) -> None:
        if self.control is not None and self.busy and self.s.state in (RUNNING, PAUSED, STARTING):
            self.control.stop(save=save)
            self.s._set_state(STOPPING)

    def on_status(self, run: Any) -> None:
        """The run's status changed: pauses and resumes (the thread's end says stopped)."""
        if self.busy and self.s.state != STOPPING:
            if run.status == RUN_PAUSED:
                self.s._set_state(PAUSED)
            elif run.status == RUN_RUNNING:
                self.s._set_state(RUNNING)

    def on_started(self, ev: Any) -> None:
        self.s.message.emit(f"Training on {ev.device} — run folder {self.s.run_dir}")

    def is_halt(self, alert: Any) -> bool:
        """The alert is the driver pausing training for want of disk."""
        return self.driver is not None and alert == self.driver.halted

    def close(self) -> None:
        if self.driver is not None:
            self.driver.close(notify_wait_s=0.0)  # on the GUI thread: never wait for a webhook
            self.driver = None

    def wait(self, ms: int) -> bool:
        return self._thread.wait(ms) if self._thread is not None else True

    def _record(self, events: list[Any]) -> None:
        """Events the GUI thread made while no worker runs (a live edit or save of a stopped
        model): the run folder records them too, and the model shows them."""
        driver = self.driver
        if driver is not None and driver.writer is not None and not driver.writer.closed:
            for ev in events:
                driver.record(ev)
        self.s.model.apply(events)

    # ----- the worker thread's signals (queued to the GUI thread) -----------------------------

    @Slot(object)
    def _on_built(self, trainer) -> None:
        s = self.s
        self.trainer = trainer
        self.folder = self.driver.folder
        if trainer.step == 0 or s.model.state.config is None:
            s.model.state.config = trainer.cfg
        s.reference_points.emit(trainer.data.x.numpy() if trainer.data.is_2d else None)
        for w in trainer.data.warnings:
            s.message.emit(w)

    @Slot(object)
    def _on_failed(self, ev: Failed) -> None:
        self.s.error.emit(f"Training could not start:\n\n{ev.message}", ev.traceback)

    @Slot()
    def _on_thread_finished(self) -> None:
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.deleteLater()
        if self.trainer is None:
            self.control = None
            if self.driver is not None:
                self.close()
                if self.folder is not None:
                    self.folder.remove_if_empty()
            self.folder = None
        self.s._on_handle_thread_finished()


def user_errors() -> tuple[type[BaseException], ...]:
    """Errors that mean bad input, not a bug: shown without a traceback. Imported on the worker
    thread, after the build has imported torch."""
    from ganstudio.core.checkpoint.io import CheckpointError
    from ganstudio.core.config import ConfigError
    from ganstudio.core.data import DataError
    from ganstudio.core.train.oom import OutOfMemory

    return (ConfigError, DataError, CheckpointError, RunFolderError, OutOfMemory, OSError)
