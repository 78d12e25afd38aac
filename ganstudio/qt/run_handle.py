"""The run handle: where the current run lives, and how a command reaches it.

A Session holds exactly one handle, chosen once, when a run is started, opened or followed:

    LocalRun    a run the app trains itself on its worker thread (or none yet, or a model opened
                from a checkpoint, ready to continue); commands go to its `Control`
    FolderRun   a run another process trains (the CLI, torchrun, a loop that writes a run folder),
                read through its folder and steered through its control.jsonl

Both answer the same commands (`start`, `pause`, `resume`, `step`, `stop`, `save`, `edit`,
`shutdown`), the same capabilities (`has_model`, `steer_problem`, `can_start`, the action rules)
and where the latent explorer finds the current generator (`generator`). Session's commands are
one line each; nothing outside this module asks where a run lives, only what it can do.

A handle speaks through its session's signals (`message`, `error`, `config_changed`, ...) and sets
the session's state (the window's action state: idle/starting/running/paused/stopping/stopped).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, QThread, Slot

from ganstudio.core import config as cfgmod
from ganstudio.core.run.control import Control
from ganstudio.core.run.events import Failed
from ganstudio.core.run.folder import RunFolder, RunFolderError
from ganstudio.core.run.state import FAILED, FINISHED, NEW, STALE
from ganstudio.core.run.state import PAUSED as RUN_PAUSED
from ganstudio.core.run.state import RUNNING as RUN_RUNNING
from ganstudio.core.run.state import STOPPED as RUN_STOPPED
from ganstudio.qt import action_rules
from ganstudio.qt.states import IDLE, PAUSED, RUNNING, STARTING, STOPPED, STOPPING
from ganstudio.qt.worker import Worker, poll_stream, start_worker

if TYPE_CHECKING:
    from ganstudio.core.config import Config
    from ganstudio.qt.session import Session

FOLLOW_POLL_S = 0.1  # how often a followed folder is looked at (its events drawn within ~0.25 s)
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
            self.driver.close()
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


class FolderRun(RunHandle):
    """A run another process trains (or trained), read through its folder by a follower thread
    and steered through its control.jsonl when the folder is writable."""

    elsewhere = True
    start_tip = "Continue this run here, from its latest checkpoint"

    def __init__(self, session: Session, folder: RunFolder, cfg: Config):
        super().__init__(session)
        from ganstudio.core.run.steer import ControlFile

        self.folder = self.followed = folder
        ok, why = ControlFile(folder).writable()
        self.watch_only = "" if ok else why
        self.loop = self._read_loop()
        self._stop = threading.Event()
        stop = self._stop

        def build():
            from ganstudio.core.run.follow import Follower

            reference = None
            if cfgmod.is_2d(cfg):
                from ganstudio.core.data import load_dataset

                reference = load_dataset(cfg.data, seed=cfg.train.seed).x.numpy()
            return Follower(folder), reference

        worker = Worker(
            build, lambda built: poll_stream(built[0].poll, stop, FOLLOW_POLL_S), expected_errors=user_errors
        )
        worker.built.connect(self._on_built)
        worker.events.connect(self._on_events)
        worker.failed.connect(self._on_failed)
        self._thread: QThread | None = start_worker(worker, self, name="follow-thread")

    # ----- capabilities ----------------------------------------------------------------------

    def steer_problem(self) -> str:
        if self.watch_only:
            return self.watch_only
        return "" if self.s.run.alive else "the run is not training now"

    def saves_in_folder(self) -> bool:
        return not self.steer_problem()

    def needs_save_path(self) -> bool:
        return False

    def can_start(self) -> bool:
        """A run that trains no more goes on here from its latest checkpoint (a continuation of
        a run that reached its steps would stop at once)."""
        run = self.s.run
        return (
            not run.alive
            and self.folder.latest_checkpoint() is not None
            and run.step < self.s.config.train.steps
        )

    def action_reasons(self, valid: bool, closing: bool) -> dict[str, str]:
        return action_rules.following(self.s, closing)

    def edit_problem(self) -> str:
        """Alive, edits go to the run, which needs its folder writable; not alive, they are for
        its continuation here (Continue)."""
        if self.s.run.alive and self.steer_problem():
            return f"Live edits reach the run only through its folder: {self.steer_problem()}"
        if self.loop is not None and not self.s.run.alive:  # no checkpoint of ours continues it
            return "Your loop is not running: nothing takes an edit now"
        return ""

    def generator(self) -> GeneratorSource:
        path = self.folder.latest_checkpoint()
        if path is None:
            return GeneratorSource(note=NO_CHECKPOINT_YET)
        code = self._model_code_not_imported()
        if code:
            return GeneratorSource(note=code)
        try:
            st = path.stat()
        except OSError:
            return GeneratorSource()  # gone meanwhile: keep what is shown
        key = ("checkpoint", str(path), st.st_mtime_ns, st.st_size)
        return GeneratorSource(key, lambda: {"checkpoint": str(path)}, f"Loading {path.name}…")

    def set_share_generator(self, on: bool) -> None:
        """The explorer loads a followed run's checkpoints: there is no trainer here to share."""

    # ----- commands --------------------------------------------------------------------------

    def start(self, paused: bool) -> None:
        """A followed run that finished, failed or went stale goes on in the app, from its latest
        checkpoint (the same history)."""
        s = self.s
        if s.run.alive:
            s.message.emit("This run is training in another process; use Pause, Step and Stop here.")
            return
        latest = self.folder.latest_checkpoint()
        if latest is None:
            s.error.emit(f"{self.folder.path} has no checkpoint to continue from.", "")
            return
        s.continue_from(latest, paused)

    def pause(self) -> None:
        self._request("pause")

    def resume(self) -> None:
        self._request("resume")

    def step(self) -> None:
        if self.s.state == PAUSED:
            self._request("step", n=1)
        elif self.s.state == RUNNING:
            self._request("pause")

    def stop(self) -> None:
        if self.s.run.alive and self._request("stop", save=True):
            self.s._stop_requested = True
            self.s._set_state(STOPPING)

    def save(self, path: str | None) -> None:
        if path is not None:
            self.s.error.emit(
                "A run training elsewhere saves into its own run folder; use Save "
                "Checkpoint (it is listed in the Checkpoints tab).",
                "",
            )
        elif self._request("save"):
            self.s.message.emit("Asked the run to save a checkpoint…")

    def edit(self, cfg: Config, values: dict[str, Any]) -> None:
        s = self.s
        if s.run.alive:
            if self._request("set", values=values):
                s.edit_pending.emit(sorted(values))
            else:
                s.config_changed.emit(s.config)  # not sent: the fields go back to the run's
        else:  # it trains no more: the edit is for its continuation here (Continue)
            s._adopt_config(cfg)
            s.message.emit("The run is not training now: the change applies when you continue it here.")

    def shutdown(self, save: bool) -> None:
        """The run trains in its own process and goes on without the app."""
        self.close()

    def stop_reading(self) -> None:
        self.close()

    def settle(self) -> None:
        self.on_status(self.s.run)  # continuing it here failed: it is what its folder says

    def on_status(self, run: Any) -> None:
        s = self.s
        if run.status in (FINISHED, RUN_STOPPED, FAILED, STALE, NEW):
            s._stop_requested = False
            s._set_state(STOPPED)
        elif s._stop_requested:
            s._set_state(STOPPING)
        else:
            s._set_state(PAUSED if run.status == RUN_PAUSED else RUNNING)

    def is_halt(self, alert: Any) -> bool:
        return False

    def on_markers(self) -> None:
        loop = self._read_loop()
        if loop != self.loop:
            self.loop = loop
            self.s.loop_changed.emit(loop)

    def _read_loop(self) -> dict | None:
        try:
            loop = self.folder.meta().get("loop")
        except RunFolderError:
            return self.loop  # being rewritten right now: what was read last
        return loop if isinstance(loop, dict) else None

    def close(self) -> None:
        """Stop reading the folder (the run itself goes on); waits for the reader thread."""
        self._stop.set()
        if self._thread is not None:
            self._thread.wait(10_000)
            self._thread.deleteLater()
            self._thread = None

    def wait(self, ms: int) -> bool:
        return self._thread.wait(ms) if self._thread is not None else True

    def _model_code_not_imported(self) -> str:
        """For a run of your own model whose file this app has not imported (the user has not
        agreed to), why the explorer cannot build its generator, and what to do; else ""."""
        if not cfgmod.is_user(self.s.config.model.arch):
            return ""
        from ganstudio.core.models.user import ModelRef, loaded

        try:
            ref = ModelRef.from_dict(self.folder.meta().get("model"))
        except RunFolderError:
            ref = None
        if ref is not None and loaded(ref) is not None:
            return ""
        where = ref.path if ref is not None else self.s.config.model.arch
        return (
            f"This run's generator is built by your model file {where}, which this app has not "
            "imported: open one of its checkpoints (Checkpoints tab) and allow the import to explore it."
        )

    def _request(self, op: str, **args: Any) -> bool:
        from ganstudio.core.run.steer import ControlFile

        s = self.s
        if self.watch_only:
            s.error.emit(f"This run can only be watched: {self.watch_only}.", "")
            return False
        if not s.run.alive:
            s.message.emit("The run is not training now; nothing to steer.")
            return False
        try:
            ControlFile(self.folder).request(op, **args)
        except RunFolderError as e:
            s.error.emit(str(e), "")
            return False
        return True

    # ----- the follower thread's signals (queued to the GUI thread) ---------------------------

    @Slot(object)
    def _on_built(self, built) -> None:
        _, reference = built
        self.s.reference_points.emit(reference)

    @Slot(list)
    def _on_events(self, events: list) -> None:
        if self._thread is None or self.s.handle is not self:
            return  # a batch from a follower that was stopped meanwhile
        self.s.model.apply(events)

    @Slot(object)
    def _on_failed(self, ev: Failed) -> None:
        self.s.error.emit(f"Cannot follow the run: {ev.message}", ev.traceback)


def user_errors() -> tuple[type[BaseException], ...]:
    """Errors that mean bad input, not a bug: shown without a traceback. Imported on the worker
    thread, after the build has imported torch."""
    from ganstudio.core.checkpoint.io import CheckpointError
    from ganstudio.core.config import ConfigError
    from ganstudio.core.data import DataError
    from ganstudio.core.train.oom import OutOfMemory

    return (ConfigError, DataError, CheckpointError, RunFolderError, OutOfMemory, OSError)
