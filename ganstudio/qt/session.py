"""The window's one door to training: the run model, the config, and the run handle (where the
run's events come from and where commands go: the app's own training thread, or a run folder
that another process writes; see ganstudio.qt.run_handle).

`state` is the window's action state (ganstudio.qt.states); the run's own status is the model's
(`run.status`). All slots run on the GUI thread. The trainer object is only touched by the worker
thread while one runs; when stopped, the GUI thread may save it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QThread, Signal, Slot

from ganstudio.core import config as cfgmod
from ganstudio.core.config import Config, ConfigError, LockedKeys
from ganstudio.core.extent import preview_points
from ganstudio.core.run.events import Alert, Failed, Finished, RunStarted, Samples
from ganstudio.core.run.folder import RunFolder
from ganstudio.qt.folder_run import FolderRun
from ganstudio.qt.run_handle import NEW_RUN_HINT, LocalRun, RunHandle, user_errors
from ganstudio.qt.run_model import RunChanges, RunModel
from ganstudio.qt.states import IDLE, PAUSED, RUNNING, STARTING, STOPPED, STOPPING
from ganstudio.qt.worker import Worker, start_worker

__all__ = ["IDLE", "PAUSED", "RUNNING", "STARTING", "STOPPED", "STOPPING", "Session"]

TIMELINE_LIMIT = 400  # sample grids read from a reopened checkpoint's folder


class Session(QObject):
    state_changed = Signal(str)
    config_changed = Signal(object)  # Config (model -> hyperparameter panel)
    edit_pending = Signal(list)  # keys of a live edit sent to the run, not yet applied by it
    loop_changed = Signal(object)  # run.json's "loop" table of a run your own loop writes, or None
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
        self.handle: RunHandle = LocalRun(self)  # where the current run lives (one, chosen once)
        self.share_generator = False  # samples carry a copy of G (the latent explorer is open)
        self._opening: QThread | None = None  # a checkpoint being read and checked
        self._open_ready: Any = None
        self._reopen: tuple[Path, Any] | None = None  # a checkpoint to open again, with its model file
        # Which model file to import for a checkpoint of your own model (a ModelFileCheck in, a
        # ModelRef or None out); the window asks the user. Nothing is imported without it.
        self.ask_model_code: Any = lambda check: None
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

    # What the handle holds, read through it (None where this kind of run has none).
    trainer = property(lambda self: self.handle.trainer)
    control = property(lambda self: self.handle.control)
    driver = property(lambda self: self.handle.driver)
    folder = property(lambda self: self.handle.folder)
    checkpoint_path = property(lambda self: self.handle.checkpoint_path)
    followed = property(lambda self: self.handle.followed)
    watch_only = property(lambda self: self.handle.watch_only)
    following = property(lambda self: self.handle.elsewhere)  # trained by another process

    @property
    def run_dir(self) -> Path | None:
        return self.folder.path if self.folder is not None else None

    @property
    def total_steps(self) -> int:
        """The run's planned steps; an imported run (no config) ran the steps it logged."""
        state = self.model.state
        if state.total_steps:
            return state.total_steps
        return self.step if state.config is None and self.folder is not None else self._config.train.steps

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
        """A worker thread of the app's own exists (opening, building, training, paused or stopping)."""
        return self._opening is not None or self.handle.busy

    @property
    def has_model(self) -> bool:
        """A model exists (trained, opened, followed, or being built): only live keys may change,
        and a new configuration needs File › New Run first."""
        return self.handle.has_model or self.busy

    @property
    def step(self) -> int:
        steps = self.history.steps()
        return int(steps[-1]) if steps.size else (self.trainer.step if self.trainer is not None else 0)

    def _set_state(self, state: str) -> None:
        if state != self.state:
            self.state = state
            self.state_changed.emit(state)

    def can_start(self) -> bool:
        return self.handle.can_start()

    def starts_new_run(self) -> bool:
        """Whether Start would begin a new run from the config (not go on with a model): what may
        train in a separate process instead (MainWindow.start)."""
        h = self.handle
        return self.state == IDLE and isinstance(h, LocalRun) and h.trainer is None

    def set_share_generator(self, on: bool) -> None:
        """Whether the app's own trainer hands a CPU copy of its generator along with each samples
        event (for the latent explorer: one copy of G's weights per samples event while it is on)."""
        self.share_generator = on
        self.handle.set_share_generator(on)

    def can_steer(self) -> bool:
        """Pause, step, stop, save and live edits reach the run."""
        return not self.handle.steer_problem()

    # ----- config ------------------------------------------------------------------------------

    @Slot(object)
    def set_config(self, cfg: Config) -> None:
        """A config edit from the user. While a model exists only live keys may change, and the
        change shows once the run has applied it (its HyperparamsChanged comes back)."""
        exists = self.has_model
        try:
            if exists:
                cfg, changes = cfgmod.live_update(self._config, cfg)
            else:
                cfg, changes = cfgmod.validate(cfg), {}
        except LockedKeys as e:
            self.error.emit("\n".join(p + "." for p in e.problems) + "\n\n" + NEW_RUN_HINT, "")
            self.config_changed.emit(self._config)
            return
        except ConfigError as e:
            self.error.emit("The configuration is not valid:\n" + "\n".join(e.problems), "")
            self.config_changed.emit(self._config)
            return
        if not exists:
            self._adopt_config(cfg)
            self.preview_reference_points()
        elif changes:
            self.handle.edit(cfg, {k: new for k, (_, new) in changes.items()})

    @Slot(dict)
    def edit_values(self, values: dict) -> None:
        """A live edit by key, of keys a loop of the user's declared (not GAN Studio's): sent to the
        run like any edit; the loop's run.json says when it has applied it."""
        self.handle.edit(self._config, values)

    def _adopt_config(self, cfg: Config) -> None:
        self._config = cfg
        self.config_changed.emit(cfg)

    # ----- actions: one line each, the handle decides ------------------------------------------

    @Slot()
    def start(self, paused: bool = False) -> None:
        """Train (a new model, or continue the current one); `paused` starts it paused."""
        self.handle.start(paused)

    @Slot()
    def pause(self) -> None:
        self.handle.pause()

    @Slot()
    def resume(self) -> None:
        self.handle.resume()

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
        self.handle.step()

    @Slot()
    def stop(self) -> None:
        self.handle.stop()

    def save_checkpoint(self, path: str | None = None) -> None:
        """Save now (a manual checkpoint, never rotated away): through the run while it trains,
        directly when stopped."""
        self.handle.save(path)

    # ----- which run is current ----------------------------------------------------------------

    def _use(self, handle: RunHandle) -> None:
        """Make `handle` the current run; the one before lets go of its threads and files."""
        old, self.handle = self.handle, handle
        if old is not handle:
            old.close()
            old.deleteLater()
        self._stop_requested = False
        self.loop_changed.emit(handle.loop)

    def new_run(self) -> None:
        """Forget the current model (its run folder and checkpoints stay on disk)."""
        if self.busy:
            return
        self._use(LocalRun(self))
        self.model.start_over(self._config)
        self._set_state(IDLE)
        self.config_changed.emit(self._config)
        self.preview_reference_points()

    def preview_reference_points(self) -> None:
        """Before a model exists: the real 2D data that the config's next run trains on, for the 2D
        lab to show at once (the same modes and spread; Start sends the run's own points), or None
        for image data. The data itself loads with torch, which the app imports only on Start."""
        if not self.handle.has_model and not self.busy:
            self.reference_points.emit(preview_points(self._config.data.dataset, self._config.train.seed))

    def open_checkpoint(self, path: str | Path, model: Any = None) -> bool:
        """Open a checkpoint, ready to resume. It is read and checked on the worker thread; a bad
        file is reported through `error` and changes nothing. A checkpoint of your own model is
        opened with `model` (a ModelRef); without one, `ask_model_code` is asked which file to
        import first (importing runs code), and the open goes on only if it names one."""
        if self.busy:
            self.error.emit("Stop training before opening a checkpoint.", "")
            return False
        path = Path(path)
        source_run = RunFolder.of_checkpoint(path)

        def build():
            # Worker thread: rebuilding data and models and reading the sample PNGs take time.
            from ganstudio.core.models.user import ModelCodeError
            from ganstudio.core.train.trainer import Trainer

            try:
                trainer = Trainer.from_checkpoint(path, checkpoint_dir=None, model=model)
            except ModelCodeError:
                if model is not None:
                    raise
                from ganstudio.core.models.provenance import model_file_of

                check = model_file_of(path)
                if check is None:
                    raise
                return _ModelFileToAsk(check)  # nothing imported: the GUI asks, then opens again
            timeline: list[Samples] = []
            if source_run is not None:
                timeline = _read_timeline(source_run, trainer.step - 1, points=trainer.data.is_2d)
            return trainer, timeline + [trainer.samples()]

        def on_ready(result):
            if isinstance(result, _ModelFileToAsk):
                ref = self.ask_model_code(result.check)
                if ref is not None:
                    self._reopen = (path, ref)  # once this thread has ended
                else:
                    self.message.emit(f"{path.name} was not opened: its model file was not imported.")
                return
            trainer, samples = result
            self._use(LocalRun(self, trainer, checkpoint_path=path))
            self.handle.set_share_generator(self.share_generator)
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

        worker = Worker(build, expected_errors=user_errors)
        worker.built.connect(self._on_open_ready)
        worker.failed.connect(self._on_open_failed)
        self._open_ready = on_ready
        self._set_state(STARTING)
        self.message.emit(f"Opening {path.name}…")
        self._opening = start_worker(worker, self, on_finished=self._on_open_finished)
        return True

    def continue_from(self, checkpoint: Path, paused: bool) -> None:
        """Open `checkpoint` and, once it is open, train it on (a followed run that trains no
        more goes on here; edits made since it finished apply to its continuation)."""
        edited = self._config

        def go_on():
            self.thread_finished.disconnect(go_on)
            if self.trainer is not None and self.checkpoint_path == checkpoint:
                if edited != self._config:
                    self.set_config(edited)
                self.start(paused)

        self.thread_finished.connect(go_on)
        self.open_checkpoint(checkpoint)

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
        if problem is None and cfg is None and not folder.meta().get("imported"):
            problem = why  # (an imported run has no config: its fields keep the next run's)
        if problem is not None:
            self.error.emit(f"Cannot open {folder.path} as a run: {problem}", "")
            return False
        self._config = cfg or self._config
        # Current before the model's reset (the window reads the new folder then); its reader's
        # events are queued, so they arrive after the reset. A reader of a run followed before
        # stops here, and what it had queued is dropped.
        handle = FolderRun(self, folder, cfg)
        self._use(handle)
        self.model.start_over(cfg)
        self.config_changed.emit(self._config)
        self._set_state(STOPPED)
        self.message.emit(f"Following {folder.path}" + (" (watch only)" if handle.watch_only else ""))
        return True

    def request_shutdown(self, save: bool) -> None:
        """Stop training (optionally saving first); `thread_finished` says when it is safe to quit."""
        self.handle.shutdown(save)
        if self.busy and self.state != STOPPING:
            self._set_state(STOPPING)

    def wait(self, ms: int = 30000) -> bool:
        """Block until the worker threads end (used at exit and by tests)."""
        ok = self.handle.wait(ms)
        if self._opening is not None:
            ok = self._opening.wait(ms) and ok
        return ok

    def stop_following(self) -> None:
        """Stop reading a followed folder (the run itself goes on); waits for the reader thread."""
        self.handle.stop_reading()

    # ----- the model: one stream of events, whatever their source ------------------------------

    @Slot(object)
    def _on_model_changed(self, changes: RunChanges) -> None:
        run = self.model.state
        if "config" in changes and run.config is not None and run.config != self._config:
            self._adopt_config(run.config)
        for ev in changes.of_type(Alert):
            if ev.kind == "config":  # a refused edit: the fields go back to what the run has
                self.config_changed.emit(self._config)
                self.error.emit(f"The change was not applied: {ev.message}", "")
            elif self.handle.is_halt(ev):  # paused for want of disk
                self.error.emit(f"Training is paused: the run folder cannot be written.\n\n{ev.message}", "")
        for ev in changes.of_type(RunStarted):
            self.handle.on_started(ev)
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
            self.handle.on_status(run)
        if changes.aspects & {"status", "markers"}:
            self.handle.on_markers()
        if "source" in changes and run.source_problem:
            self.message.emit(run.source_problem)

    # ----- threads ending (queued to the GUI thread) -------------------------------------------

    @Slot(object)
    def _on_open_ready(self, result) -> None:
        self._open_ready(result)

    @Slot(object)
    def _on_open_failed(self, ev: Failed) -> None:
        self.error.emit(f"Cannot open the checkpoint: {ev.message}", ev.traceback)

    @Slot()
    def _on_open_finished(self) -> None:
        thread, self._opening = self._opening, None
        if thread is not None:
            thread.deleteLater()
        if self._reopen is not None:  # the user named the model file to import: open it with that
            (path, model), self._reopen = self._reopen, None
            if self.open_checkpoint(path, model):
                return
        self._on_handle_thread_finished()

    def _on_handle_thread_finished(self) -> None:
        """The app's own thread ended (training, or opening a checkpoint)."""
        self.handle.settle()
        self.thread_finished.emit()


@dataclass(frozen=True)
class _ModelFileToAsk:
    """An open that stopped before importing a model file: which one it would import."""

    check: Any  # ganstudio.core.models.provenance.ModelFileCheck


def _read_timeline(folder: RunFolder, up_to_step: int, points: bool) -> list[Samples]:
    """A run folder's sample grids (or 2D points) up to a step, evenly thinned to TIMELINE_LIMIT."""
    items = folder.sample_timeline(up_to_step=up_to_step, limit=TIMELINE_LIMIT)
    out = []
    for step, png in items:
        arrays = folder.read_samples(png, points)
        if arrays is not None:
            out.append(Samples(step=step, **arrays))
    return out
