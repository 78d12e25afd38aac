"""The window's one door to training: the run model, the config, and where the run's events come
from: the app's own training thread, or a run folder that another process writes (followed, and
steered through its control file).

States (`state`, what the window's actions follow):
    idle      no model yet; Start builds one from the config in a new run folder
    starting  a worker thread is building the trainer (loading data, building models)
    running   training (on this app's thread, or in the followed process)
    paused    training waits between steps (Step runs one)
    stopping  a stop was requested; waiting for the current step/save to end
    stopped   a model exists (after Stop, at the end of training, from a checkpoint, or a followed
              run that finished, failed or went stale); Start continues it in the app

All slots run on the GUI thread. The trainer object is only touched by the worker thread while one
runs; when stopped, the GUI thread may save it.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QThread, Signal, Slot

from ganstudio.core import config as cfgmod
from ganstudio.core.config import Config, ConfigError
from ganstudio.core.extent import preview_points
from ganstudio.core.run.control import Control
from ganstudio.core.run.events import Alert, Failed, Finished, RunStarted, Samples
from ganstudio.core.run.folder import RunFolder, RunFolderError
from ganstudio.core.run.state import FAILED, FINISHED, NEW, STALE
from ganstudio.core.run.state import PAUSED as RUN_PAUSED
from ganstudio.core.run.state import RUNNING as RUN_RUNNING
from ganstudio.core.run.state import STOPPED as RUN_STOPPED
from ganstudio.qt.run_model import RunChanges, RunModel
from ganstudio.qt.worker import Worker, poll_stream, start_worker

IDLE, STARTING, RUNNING, PAUSED, STOPPING, STOPPED = (
    "idle",
    "starting",
    "running",
    "paused",
    "stopping",
    "stopped",
)
FOLLOW_POLL_S = 0.1  # how often a followed folder is looked at (its events drawn within ~0.25 s)
TIMELINE_LIMIT = 400  # sample grids read from a reopened checkpoint's folder


class Session(QObject):
    state_changed = Signal(str)
    config_changed = Signal(object)  # Config (model -> hyperparameter panel)
    reference_points = Signal(object)  # np.ndarray | None: real 2D data to draw behind samples
    health_paused = Signal(str)  # training paused itself (NaN/Inf): the reason
    error = Signal(str, str)  # (message, details) for a dialog
    message = Signal(str)  # short status-bar text
    thread_finished = Signal()

    def __init__(self, config: Config | None = None, parent: QObject | None = None):
        super().__init__(parent)
        self.model = RunModel(self)
        self._config = config or Config()  # the config a new run starts from (the model's once one exists)
        self.state = IDLE
        self.trainer: Any = None  # ganstudio.core.train.trainer.Trainer, imported lazily (torch is slow)
        self.control: Control | None = None
        self.driver: Any = None  # ganstudio.core.run.driver.RunDriver of the app's own run
        self.folder: RunFolder | None = None  # the current run's folder (the app's, or followed)
        self.checkpoint_path: Path | None = None  # the file the current model was opened from
        self.followed: RunFolder | None = None  # set while following a run another process trains
        self.watch_only = ""  # why a followed run cannot be steered from here ("" when it can)
        self._thread: QThread | None = None
        self._follow_thread: QThread | None = None
        self._follow_stop: threading.Event | None = None
        self._open_ready: Any = None
        self._job = ""  # what the worker thread does: "train" (this trainer) or "open" (a new one)
        self._share_generator = False  # samples carry a copy of G (the latent explorer is open)
        self._stop_requested = False
        self.model.changed.connect(self._on_model_changed)

    # ----- state -------------------------------------------------------------------------------

    @property
    def config(self) -> Config:
        return self._config

    @property
    def history(self):
        return self.model.history

    @property
    def run(self):
        """The run's state (ganstudio.core.run.state.RunState)."""
        return self.model.state

    @property
    def run_dir(self) -> Path | None:
        return self.folder.path if self.folder is not None else None

    @property
    def following(self) -> bool:
        return self.followed is not None

    @property
    def total_steps(self) -> int:
        return self.model.state.total_steps or self._config.train.steps

    @property
    def device(self) -> str:
        return self.model.state.device

    @property
    def threads(self) -> int:
        return self.model.state.threads

    def checkpoint_folder(self) -> Path | None:
        """Where this model's checkpoints are: its run folder's, or the opened file's folder."""
        if self.folder is not None:
            return self.folder.checkpoints_dir
        if self.checkpoint_path is not None:
            return self.checkpoint_path.parent
        return None

    @property
    def busy(self) -> bool:
        """A worker thread of the app's own exists (building, training, paused or stopping)."""
        return self._thread is not None

    @property
    def step(self) -> int:
        steps = self.history.steps()
        return int(steps[-1]) if steps.size else (self.trainer.step if self.trainer is not None else 0)

    def _set_state(self, state: str) -> None:
        if state != self.state:
            self.state = state
            self.state_changed.emit(state)

    def can_start(self) -> bool:
        if self.following:  # a continuation of a run that reached its steps would stop at once
            run = self.model.state
            return (
                not run.alive
                and self.followed.latest_checkpoint() is not None
                and run.step < self._config.train.steps
            )
        if self.state == IDLE:
            return True
        if self.state == STOPPED and self.trainer is not None:
            return self.trainer.step < self._config.train.steps
        return False

    def set_share_generator(self, on: bool) -> None:
        """Whether the app's own trainer hands a CPU copy of its generator along with each samples
        event (for the latent explorer: one copy of G's weights per samples event while it is on)."""
        self._share_generator = on
        if self.trainer is not None:
            self.trainer.share_generator = on and not self.following

    def can_steer(self) -> bool:
        """Pause, step, stop, save and live edits reach the run."""
        if self.following:
            return not self.watch_only and self.model.state.alive
        return self.control is not None and self.state in (RUNNING, PAUSED)

    # ----- config ------------------------------------------------------------------------------

    @Slot(object)
    def set_config(self, cfg: Config) -> None:
        """A config edit from the user. While a model exists only live keys may change, and the
        change shows once the run has applied it (its HyperparamsChanged comes back)."""
        exists = self.trainer is not None or self.busy or self.following
        try:
            if exists:
                cfg, changes = cfgmod.live_update(self._config, cfg)
            else:
                cfg, changes = cfgmod.validate(cfg), {}
        except ConfigError as e:
            locked = [p for p in e.problems if "cannot change" in p]
            if locked:
                keys = ", ".join(p.split(" ", 1)[0] for p in locked)
                self.error.emit(
                    f"{keys} can't change while a model exists; use File › New run "
                    "to start over with a new configuration.",
                    "",
                )
            else:
                self.error.emit("The configuration is not valid:\n" + "\n".join(e.problems), "")
            self.config_changed.emit(self._config)
            return
        if not exists:
            self._config = cfg
            self.config_changed.emit(cfg)
            self.preview_reference_points()
            return
        if not changes:
            return
        values = {k: new for k, (_, new) in changes.items()}
        if self.following and not self.model.state.alive:
            # It trains no more: the edit is for its continuation here (Continue).
            self._config = cfg
            self.config_changed.emit(cfg)
            self.message.emit("The run is not training now: the change applies when you continue it here.")
        elif self.following:
            self._request("set", values=values)
        elif self._job == "train":
            # While starting, too: the trainer takes it before its first step. The app's own
            # trainer applies it for sure (a refusal would come back as an alert and undo this).
            self._config = cfg
            self.config_changed.emit(cfg)
            self.control.update_values(values)
        elif self.trainer is not None:  # stopped (an open of another checkpoint may be running)
            ev = self.trainer.apply_config(values)
            if ev is not None:
                self._record([ev])

    # ----- actions -----------------------------------------------------------------------------

    @Slot()
    def start(self, paused: bool = False) -> None:
        """Train (a new model, or continue the current one); `paused` starts it paused."""
        if self.following:
            self._continue_followed(paused)
            return
        if self.busy:
            if self.state == PAUSED:
                self.resume()
            return
        if not self.can_start():
            if self.trainer is not None:
                self.message.emit(
                    f"Training reached train.steps = {self._config.train.steps}; raise it to train longer."
                )
            return
        from ganstudio.core.run.driver import RunDriver
        from ganstudio.core.run.spec import RunSpec

        cfg = self._config
        self.control = Control(paused=paused)
        self._stop_requested = False
        if self.trainer is None:
            try:
                folder = RunFolder.create(cfg)
            except RunFolderError as e:
                self.error.emit(str(e), "")
                return
            self.folder = folder
            self.model.start_over(cfg)
            self.driver = RunDriver(
                RunSpec(cfg, folder=folder), control=self.control, on_log_failure="pause", reserve_cores=1
            )
        elif self.driver is None:
            # A model opened from a checkpoint: it continues in a run folder of its own beside the
            # run it continues (made on the worker thread), with the history it had.
            spec = RunSpec.beside(self.checkpoint_path, cfg) if self.checkpoint_path else RunSpec(cfg)
            self.driver = RunDriver(
                spec, trainer=self.trainer, control=self.control, on_log_failure="pause", reserve_cores=1
            )
            if self.trainer.cfg != cfg:
                # Edits the trainer missed (made while a checkpoint was being opened, say).
                self.control.update_config(cfg)
        else:
            self.driver.control = self.control
        driver = self.driver

        def build():  # on the worker thread, before the first samples event
            trainer = driver.prepare()
            trainer.share_generator = self._share_generator
            return trainer

        worker = Worker(build, lambda _trainer: driver.events(), expected_errors=_user_errors)
        worker.built.connect(self._on_worker_built)
        worker.events.connect(self._on_worker_events)
        worker.failed.connect(self._on_worker_failed)
        self._set_state(STARTING)
        self.message.emit("Loading data and building models…" if self.trainer is None else "Resuming…")
        self._job = "train"
        self._thread = start_worker(worker, self, on_finished=self._on_thread_finished)

    @Slot()
    def pause(self) -> None:
        if self.following:
            self._request("pause")
        elif self.control is not None and self.state == RUNNING:
            self.control.pause()

    @Slot()
    def resume(self) -> None:
        if self.following:
            self._request("resume")
        elif self.control is not None and self.state == PAUSED:
            self.control.resume()
            self._set_state(RUNNING)

    @Slot()
    def toggle_pause(self) -> None:
        if self.state == RUNNING:
            self.pause()
        elif self.state == PAUSED:
            self.resume()
        elif self.can_start():
            self.start()

    @Slot()
    def single_step(self) -> None:
        """Run one iteration: while paused, or from stopped/idle (starts paused, then steps)."""
        if self.following:
            if self.state == PAUSED:
                self._request("step", n=1)
            elif self.state == RUNNING:
                self._request("pause")
            return
        if self.control is not None and self.state == PAUSED:
            self.control.step(1)
        elif self.state == RUNNING:
            self.pause()
        elif not self.busy and self.can_start():
            # Paused from the start: a trainer that needs no building must not run ahead.
            self.start(paused=True)
            if self.control is not None and self.busy:
                self.control.step(1)

    @Slot()
    def stop(self) -> None:
        if self.following:
            if self.model.state.alive and self._request("stop", save=True):
                self._stop_requested = True
                self._set_state(STOPPING)
            return
        if self.control is not None and self.busy and self.state != STOPPING:
            self.control.stop()
            self._set_state(STOPPING)

    def save_checkpoint(self, path: str | None = None) -> None:
        """Save now (a manual checkpoint, never rotated away): through the run while it trains,
        directly when stopped."""
        if self.following:
            if path is not None:
                self.error.emit(
                    "A run training elsewhere saves into its own run folder; use Save "
                    "Checkpoint (it is listed in the Checkpoints tab).",
                    "",
                )
            elif self._request("save"):
                self.message.emit("Asked the run to save a checkpoint…")
            return
        if self.control is not None and self.state in (RUNNING, PAUSED):
            self.control.save_checkpoint(path)
            return
        if self.trainer is None or self.busy:
            self.message.emit("Nothing to save yet: start training or open a checkpoint first.")
            return
        from ganstudio.core.checkpoint.io import CheckpointError

        try:
            ev = self.trainer.save_checkpoint(path)
        except CheckpointError as e:
            if path is None:
                self.message.emit("This model has no run folder yet; use Save Checkpoint As….")
            self.error.emit(str(e), "")
            return
        self._record([ev])

    def _record(self, events: list[Any]) -> None:
        """Events the GUI thread made while no worker runs (a live edit or save of a stopped
        model): the run folder records them too, and the model shows them."""
        if self.driver is not None and self.driver.writer is not None and not self.driver.writer.closed:
            for ev in events:
                self.driver._write(ev)
        self.model.apply(events)

    def new_run(self) -> None:
        """Forget the current model (its run folder and checkpoints stay on disk)."""
        if self.busy:
            return
        self._stop_following()
        self._close_driver()
        self.trainer = None
        self.control = None
        self.folder = None
        self.checkpoint_path = None
        self.model.start_over(self._config)
        self._set_state(IDLE)
        self.config_changed.emit(self._config)
        self.preview_reference_points()

    def preview_reference_points(self) -> None:
        """Before a model exists: the real 2D data that the config's next run trains on, for the 2D
        lab to show at once (the same modes and spread; Start sends the run's own points), or None
        for image data. The data itself loads with torch, which the app imports only on Start."""
        if self.trainer is None and not self.busy and not self.following:
            self.reference_points.emit(preview_points(self._config.data.dataset, self._config.train.seed))

    def open_checkpoint(self, path: str | Path) -> bool:
        """Open a checkpoint, ready to resume. It is read and checked on the worker thread; a bad
        file is reported through `error` and changes nothing."""
        if self.busy:
            self.error.emit("Stop training before opening a checkpoint.", "")
            return False
        path = Path(path)
        source_run = RunFolder.of_checkpoint(path)

        def build():
            # Worker thread: rebuilding data and models and reading the sample PNGs take time.
            from ganstudio.core.train.trainer import Trainer

            trainer = Trainer.from_checkpoint(path, checkpoint_dir=None)
            timeline: list[Samples] = []
            if source_run is not None:
                timeline = _read_timeline(source_run, trainer.step - 1, points=trainer.data.is_2d)
            return trainer, timeline + [trainer.samples()]

        def on_ready(result):
            trainer, samples = result
            self._stop_following()
            self._close_driver()
            self.trainer = trainer
            self.control = None
            self.folder = None
            self.checkpoint_path = path
            self._config = trainer.cfg
            self.model.start_over(state=trainer.state)
            self.config_changed.emit(trainer.cfg)
            self.reference_points.emit(trainer.data.x.numpy() if trainer.data.is_2d else None)
            self.model.apply(samples)  # the folder's grids, then the model's own samples now
            note = (
                ""
                if trainer.checkpoint_verified
                else (
                    " It was written before checkpoints carried a digest, so it could not be checked "
                    "for damage."
                )
            )
            self.message.emit(f"Opened {path.name} at step {trainer.step}; press Start to resume.{note}")

        worker = Worker(build, expected_errors=_user_errors)
        worker.built.connect(self._on_open_ready)
        worker.failed.connect(self._on_open_failed)
        self._open_ready = on_ready
        self._job = "open"
        self._set_state(STARTING)
        self.message.emit(f"Opening {path.name}…")
        self._thread = start_worker(worker, self, on_finished=self._on_thread_finished)
        return True

    def open_run(self, path: str | Path) -> bool:
        """Open a run folder and follow it: its whole history, then what its training process
        writes, live; steered through its control file when the folder is writable."""
        if self.busy:
            self.error.emit(
                "Stop training before opening another run; the current run keeps going until you do.", ""
            )
            return False
        folder = RunFolder(Path(path).expanduser())
        if not folder.path.is_dir():
            self.error.emit(
                f"{folder.path} is not a folder; choose a run folder (it holds "
                "config.toml and metrics.jsonl).",
                "",
            )
            return False
        problem = folder.version_problem()
        cfg, why = folder.try_config()
        if problem is None and cfg is None:
            problem = why
        if problem is not None:
            self.error.emit(f"Cannot open {folder.path} as a run: {problem}", "")
            return False
        from ganstudio.core.run.steer import ControlFile

        self._stop_following()
        self._close_driver()
        self.trainer = None
        self.control = None
        self.checkpoint_path = None
        self.folder = folder
        self.followed = folder
        ok, why = ControlFile(folder).writable()
        self.watch_only = "" if ok else why
        self._config = cfg
        self._stop_requested = False
        self.model.start_over(cfg)
        self.config_changed.emit(cfg)
        self._set_state(STOPPED)
        stop = threading.Event()

        def build():
            from ganstudio.core.run.follow import Follower

            reference = None
            if cfgmod.is_2d(cfg):
                from ganstudio.core.data import load_dataset

                reference = load_dataset(cfg.data, seed=cfg.train.seed).x.numpy()
            return Follower(folder), reference

        worker = Worker(
            build, lambda built: poll_stream(built[0].poll, stop, FOLLOW_POLL_S), expected_errors=_user_errors
        )
        worker.built.connect(self._on_follow_built)
        worker.events.connect(self._on_follow_events)
        worker.failed.connect(self._on_follow_failed)
        self._follow_stop = stop
        self._follow_thread = start_worker(worker, self, name="follow-thread")
        self.message.emit(f"Following {folder.path}" + (" (watch only)" if self.watch_only else ""))
        return True

    def request_shutdown(self, save: bool) -> None:
        """Stop training (optionally saving first); `thread_finished` says when it is safe to quit."""
        self._stop_following()
        if self.control is not None and self.state in (RUNNING, PAUSED, STARTING) and self.busy:
            self.control.stop(save=save)
            self._set_state(STOPPING)
        elif self.busy:
            self._set_state(STOPPING)

    def wait(self, ms: int = 30000) -> bool:
        """Block until the worker threads end (used at exit and by tests)."""
        ok = True
        for thread in (self._thread, self._follow_thread):
            if thread is not None:
                ok = thread.wait(ms) and ok
        return ok

    # ----- following ---------------------------------------------------------------------------

    def _request(self, op: str, **args: Any) -> bool:
        from ganstudio.core.run.steer import ControlFile

        if self.watch_only:
            self.error.emit(f"This run can only be watched: {self.watch_only}.", "")
            return False
        if not self.model.state.alive:
            self.message.emit("The run is not training now; nothing to steer.")
            return False
        try:
            ControlFile(self.followed).request(op, **args)
        except RunFolderError as e:
            self.error.emit(str(e), "")
            return False
        return True

    def _continue_followed(self, paused: bool) -> None:
        """A followed run that finished, failed or went stale goes on in the app, from its latest
        checkpoint (the same history)."""
        if self.model.state.alive:
            self.message.emit("This run is training in another process; use Pause, Step and Stop here.")
            return
        latest = self.followed.latest_checkpoint()
        if latest is None:
            self.error.emit(f"{self.followed.path} has no checkpoint to continue from.", "")
            return
        edited = self._config  # edits made since it finished apply to its continuation

        def go_on():
            self.thread_finished.disconnect(go_on)
            if self.trainer is not None and self.checkpoint_path == latest:
                if edited != self._config:
                    self.set_config(edited)
                self.start(paused)

        self.thread_finished.connect(go_on)
        self.open_checkpoint(latest)

    def stop_following(self) -> None:
        """Stop reading the followed folder (the run itself goes on); waits for the reader thread."""
        self._stop_following()
        if self.state != IDLE and self.trainer is None and not self.busy:
            self._set_state(STOPPED)

    def _stop_following(self) -> None:
        if self._follow_stop is not None:
            self._follow_stop.set()
        if self._follow_thread is not None:
            self._follow_thread.wait(10_000)
            self._follow_thread.deleteLater()
            self._follow_thread = None
        self._follow_stop = None
        self.followed = None
        self.watch_only = ""

    @Slot(object)
    def _on_follow_built(self, built) -> None:
        _, reference = built
        self.reference_points.emit(reference)

    @Slot(list)
    def _on_follow_events(self, events: list) -> None:
        if self.sender() is not None and self._follow_thread is None:
            return  # a batch from a follower that was stopped meanwhile
        self.model.apply(events)

    @Slot(object)
    def _on_follow_failed(self, ev: Failed) -> None:
        self.error.emit(f"Cannot follow the run: {ev.message}", ev.traceback)

    # ----- the model: one stream of events, whatever their source ------------------------------

    @Slot(object)
    def _on_model_changed(self, changes: RunChanges) -> None:
        run = self.model.state
        if "config" in changes and run.config is not None and run.config != self._config:
            self._config = run.config
            self.config_changed.emit(run.config)
        for ev in changes.of_type(Alert):
            if ev.kind == "config":  # a refused edit: the fields go back to what the run has
                self.config_changed.emit(self._config)
                self.error.emit(f"The change was not applied: {ev.message}", "")
            elif self.driver is not None and ev == self.driver.halted:  # paused for want of disk
                self.error.emit(f"Training is paused: the run folder cannot be written.\n\n{ev.message}", "")
        for ev in changes.of_type(RunStarted):
            if not self.following:
                self.message.emit(f"Training on {ev.device} — run folder {self.run_dir}")
        for ev in changes.of_type(Finished):
            self.message.emit(f"{'Finished' if ev.reason == 'completed' else 'Stopped'} at step {ev.step}.")
        for ev in changes.of_type(Failed):
            self.error.emit(
                f"Training stopped with an error at step {ev.step}:\n\n{ev.message}", ev.traceback
            )
        if "checkpoints" in changes and run.checkpoint_failures:
            last = run.checkpoint_failures[-1]
            if any(e is last for e in changes.events):
                self.message.emit(f"Checkpoint at step {last.step} was not saved: {last.message}")
        if "status" in changes:
            if run.pause_reason and any(getattr(e, "reason", "") for e in changes.events):
                self.health_paused.emit(run.pause_reason)
            self._follow_status()
        if "source" in changes and run.source_problem:
            self.message.emit(run.source_problem)

    def _follow_status(self) -> None:
        """The session's state from the model's status: for the app's own run, pauses and resumes;
        for a followed run, everything."""
        run = self.model.state
        if self.following:
            if run.status in (FINISHED, RUN_STOPPED, FAILED, STALE, NEW):
                self._stop_requested = False
                self._set_state(STOPPED)
            elif self._stop_requested:
                self._set_state(STOPPING)
            else:
                self._set_state(PAUSED if run.status == RUN_PAUSED else RUNNING)
            return
        if self.busy and self.state != STOPPING:
            if run.status == RUN_PAUSED:
                self._set_state(PAUSED)
            elif run.status == RUN_RUNNING:
                self._set_state(RUNNING)

    # ----- worker signals (queued to the GUI thread) -------------------------------------------

    @Slot(object)
    def _on_open_ready(self, result) -> None:
        self._open_ready(result)

    @Slot(object)
    def _on_open_failed(self, ev: Failed) -> None:
        self.error.emit(f"Cannot open the checkpoint: {ev.message}", ev.traceback)

    @Slot(object)
    def _on_worker_built(self, trainer) -> None:
        self.trainer = trainer
        self.folder = self.driver.folder
        if trainer.step == 0 or self.model.state.config is None:
            self.model.state.config = trainer.cfg
        self.reference_points.emit(trainer.data.x.numpy() if trainer.data.is_2d else None)
        for w in trainer.data.warnings:
            self.message.emit(w)

    @Slot(list)
    def _on_worker_events(self, events: list) -> None:
        self.model.apply(events)

    @Slot(object)
    def _on_worker_failed(self, ev: Failed) -> None:
        self.error.emit(f"Training could not start:\n\n{ev.message}", ev.traceback)

    @Slot()
    def _on_thread_finished(self) -> None:
        thread = self._thread
        self._thread = None
        self._job = ""
        if thread is not None:
            thread.deleteLater()
        if self.trainer is None:
            self.control = None
            if self.driver is not None:
                self._close_driver()
                if self.folder is not None:
                    self.folder.remove_if_empty()
            self.folder = None
            self._set_state(IDLE)
        else:
            self._set_state(STOPPED)
        self.thread_finished.emit()

    def _close_driver(self) -> None:
        if self.driver is not None:
            self.driver.close()
            self.driver = None


def _user_errors() -> tuple[type[BaseException], ...]:
    """Errors that mean bad input, not a bug: shown without a traceback. Imported on the worker
    thread, after the build has imported torch."""
    from ganstudio.core.checkpoint.io import CheckpointError
    from ganstudio.core.data import DataError
    from ganstudio.core.train.oom import OutOfMemory

    return (ConfigError, DataError, CheckpointError, RunFolderError, OutOfMemory, OSError)


def _read_timeline(folder: RunFolder, up_to_step: int, points: bool) -> list[Samples]:
    """A run folder's sample grids (or 2D points) up to a step, evenly thinned to TIMELINE_LIMIT."""
    items = folder.sample_timeline(up_to_step=up_to_step, limit=TIMELINE_LIMIT)
    out = []
    for step, png in items:
        arrays = folder.read_samples(png, points)
        if arrays is not None:
            out.append(Samples(step=step, **arrays))
    return out
