"""The window's one door to training: owns the config, the trainer, its thread and the run's history.

States:
    idle      no model yet; Start builds one from the config in a new run folder
    starting  a worker thread is building the trainer (loading data, building models)
    running   the worker thread is training
    paused    the worker thread waits between steps (Step runs one)
    stopping  a stop was requested; waiting for the current step/save to end
    stopped   a model exists (after Stop, at the end of training, or from a checkpoint);
              Start continues it; New run goes back to idle

All slots run on the GUI thread. The trainer object is only touched by the worker thread while one
runs; when stopped, the GUI thread may save it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QObject, QThread, Signal, Slot

from ganstudio.core import config as cfgmod
from ganstudio.core.config import Config, ConfigError
from ganstudio.core.control import Control
from ganstudio.core.events import (
    Alert,
    CheckpointFailed,
    CheckpointSaved,
    Failed,
    Finished,
    HyperparamsChanged,
    Metrics,
    Paused,
    Resumed,
    RunStarted,
    Samples,
    Stats,
)
from ganstudio.core.history import History, Marker
from ganstudio.qt.worker import TrainingWorker, start_worker

IDLE, STARTING, RUNNING, PAUSED, STOPPING, STOPPED = (
    "idle", "starting", "running", "paused", "stopping", "stopped"
)


class Session(QObject):
    state_changed = Signal(str)
    config_changed = Signal(object)  # Config (model -> hyperparameter panel)
    run_reset = Signal()  # history/timeline replaced: a new run or an opened checkpoint
    run_started = Signal(object)  # RunStarted
    stats_ready = Signal(list)  # list[Stats], after they were added to `history`
    samples_ready = Signal(object)  # Samples
    timeline_loaded = Signal(list)  # [(step, grid)] from an opened checkpoint's run folder
    reference_points = Signal(object)  # np.ndarray | None: real 2D data to draw behind samples
    checkpoint_saved = Signal(object)  # CheckpointSaved
    markers_changed = Signal()
    alert = Signal(object)  # Alert
    metrics_ready = Signal(object)  # Metrics, after they were merged into `history`
    health_paused = Signal(str)  # training paused itself (NaN/Inf): the reason
    error = Signal(str, str)  # (message, details) for a dialog
    message = Signal(str)  # short status-bar text
    finished = Signal(object)  # Finished
    thread_finished = Signal()

    def __init__(self, config: Config | None = None, parent: QObject | None = None):
        super().__init__(parent)
        self._config = config or Config()
        self.history = History()
        self.state = IDLE
        self.trainer: Any = None  # ganstudio.core.trainer.Trainer, imported lazily (torch is slow)
        self.control: Control | None = None
        self.run_dir: Path | None = None
        self.checkpoint_path: Path | None = None  # the file the current model was opened from
        self.device = ""
        self.threads = 0
        self.total_steps = self._config.train.steps
        self._thread: QThread | None = None
        self._worker: TrainingWorker | None = None
        self._runlog: Any = None  # RunLog; written by the worker thread while one runs
        self._open_ready: Any = None

    # ----- state -------------------------------------------------------------------------------

    @property
    def config(self) -> Config:
        return self._config

    def checkpoint_folder(self) -> Path | None:
        """Where this model's checkpoints are: its run folder's, or the opened file's folder."""
        if self.run_dir is not None:
            return self.run_dir / "checkpoints"
        if self.checkpoint_path is not None:
            return self.checkpoint_path.parent
        return None

    @property
    def busy(self) -> bool:
        """A worker thread exists (building, training, paused or stopping)."""
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
        if self.state == IDLE:
            return True
        if self.state == STOPPED and self.trainer is not None:
            return self.trainer.step < self._config.train.steps
        return False

    # ----- config ------------------------------------------------------------------------------

    @Slot(object)
    def set_config(self, cfg: Config) -> None:
        """A config edit from the user. While a model exists only live keys may change."""
        try:
            cfg = cfgmod.validate(cfg)
        except ConfigError as e:
            self.error.emit("The configuration is not valid:\n" + "\n".join(e.problems), "")
            return
        if self.trainer is not None or self.busy:
            changed = cfgmod.live_changes(self._config, cfg)
            locked = [k for k in changed if k not in cfgmod.LIVE_KEYS]
            if locked:
                self.error.emit(
                    f"{', '.join(locked)} can't change while a model exists; use File › New run "
                    "to start over with a new configuration.",
                    "",
                )
                self.config_changed.emit(self._config)
                return
        self._config = cfg
        self.total_steps = cfg.train.steps
        if self.control is not None and self.state in (STARTING, RUNNING, PAUSED):
            # While starting, too: the trainer takes it before its first step.
            self.control.update_config(cfg)
        elif self.trainer is not None and not self.busy:
            ev = self.trainer.apply_config(cfg)
            if ev is not None:
                self._on_local_event(ev)
        self.config_changed.emit(cfg)

    # ----- actions -----------------------------------------------------------------------------

    @Slot()
    def start(self, paused: bool = False) -> None:
        """Train (a new model, or continue the current one); `paused` starts it paused."""
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
        from ganstudio.core.runlog import RunLog, create_run_dir

        cfg = self._config
        existing = self.trainer
        if existing is None or self._runlog is None or existing.checkpoint_dir is None:
            # A new model, or one opened from a checkpoint: each gets a run folder of its own.
            try:
                self.run_dir = create_run_dir(cfg)
            except OSError as e:
                self.error.emit(f"Cannot create a run folder in {cfg.log.out}: {e}", "")
                return
        if existing is None:
            self.history.replace_with(None)
            self.run_reset.emit()
        run_dir = self.run_dir

        def build():
            # Runs on the worker thread: loading data, building models and opening the run
            # folder all stay off the GUI thread.
            from ganstudio.core.trainer import Trainer

            if existing is None:
                t = Trainer(cfg, checkpoint_dir=run_dir / "checkpoints")
            else:
                t = existing
                t.checkpoint_dir = run_dir / "checkpoints"
            t.reserve_cores = 1  # the GUI thread: training's CPU threads leave it a core
            if self._runlog is None:
                log = RunLog(run_dir, t.cfg, t.data.x.numpy() if t.data.is_2d else None)
                if t.step > 0:
                    log.write_history(t.history)
                self._runlog = log
            return t

        self.control = Control(paused=paused)
        if existing is not None and existing.cfg != cfg:
            # Edits the trainer missed (made while a checkpoint was being opened, say): the
            # config shown is the one that trains.
            self.control.update_config(cfg)
        worker = TrainingWorker(build, self.control, sink=self._write_run_folder,
                                expected_errors=_user_errors)
        worker.trainer_ready.connect(self._on_worker_trainer_ready)
        worker.stats_ready.connect(self._on_worker_stats)
        worker.samples_ready.connect(self._on_worker_samples)
        worker.event.connect(self._on_worker_event)
        worker.finished.connect(self._on_worker_finished)
        worker.failed.connect(self._on_worker_failed)
        self._set_state(STARTING)
        self.message.emit("Loading data and building models…" if existing is None else "Resuming…")
        self._thread = start_worker(worker, self, on_finished=self._on_thread_finished)

    def _write_run_folder(self, ev: Any) -> None:
        """The worker's sink: every event goes to the run folder, on the worker thread."""
        self._runlog.handle(ev)

    @Slot()
    def pause(self) -> None:
        if self.control is not None and self.state == RUNNING:
            self.control.pause()

    @Slot()
    def resume(self) -> None:
        if self.control is not None and self.state == PAUSED:
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
        if self.control is not None and self.busy and self.state != STOPPING:
            self.control.stop()
            self._set_state(STOPPING)

    def save_checkpoint(self, path: str | None = None) -> None:
        """Save now: through the worker while training runs, directly when stopped."""
        if self.control is not None and self.state in (RUNNING, PAUSED):
            self.control.save_checkpoint(path)
            return
        if self.trainer is None or self.busy:
            self.message.emit("Nothing to save yet: start training or open a checkpoint first.")
            return
        from ganstudio.core.checkpoints import CheckpointError

        try:
            ev = self.trainer.save_checkpoint(path)
        except CheckpointError as e:
            if path is None:
                self.message.emit("This model has no run folder yet; use Save Checkpoint As….")
            self.error.emit(str(e), "")
            return
        self._on_local_event(ev)

    def _on_local_event(self, ev: Any) -> None:
        """An event the GUI thread made while no worker runs: the run folder records it too."""
        if self._runlog is not None:
            self._runlog.handle(ev)
        self._on_worker_event(ev)

    def new_run(self) -> None:
        """Forget the current model (its run folder and checkpoints stay on disk)."""
        if self.busy:
            return
        self._close_runlog()
        self.trainer = None
        self.control = None
        self.run_dir = None
        self.checkpoint_path = None
        self.history.replace_with(None)
        self.run_reset.emit()
        self._set_state(IDLE)

    def open_checkpoint(self, path: str | Path) -> bool:
        """Open a checkpoint, ready to resume. It is read and checked on the worker thread; a bad
        file is reported through `error` and changes nothing."""
        from ganstudio.core.runlog import list_sample_grids, run_dir_of_checkpoint

        if self.busy:
            self.error.emit("Stop training before opening a checkpoint.", "")
            return False
        path = Path(path)
        source_run = run_dir_of_checkpoint(path)

        def build():
            # Worker thread: rebuilding data and models and reading the sample PNGs take time.
            from ganstudio.core.trainer import Trainer

            trainer = Trainer.from_checkpoint(path, checkpoint_dir=None)
            timeline = []
            if source_run is not None:
                earlier = list_sample_grids(source_run, up_to_step=trainer.step - 1)
                timeline = _read_timeline(earlier, points=trainer.data.is_2d)
            return trainer, timeline, trainer.samples()

        def on_ready(result):
            trainer, timeline, last = result
            self._close_runlog()
            self.trainer = trainer
            self.control = None
            self.run_dir = None
            self.checkpoint_path = path
            self._config = trainer.cfg
            self.total_steps = trainer.cfg.train.steps
            self.history.replace_with(History.from_state_dict(trainer.history.state_dict()))
            self.run_reset.emit()
            self.config_changed.emit(trainer.cfg)
            self.reference_points.emit(trainer.data.x.numpy() if trainer.data.is_2d else None)
            self.timeline_loaded.emit(timeline)
            self.samples_ready.emit(last)  # the model's own samples now: the timeline's last frame
            self.message.emit(f"Opened {path.name} at step {trainer.step}; press Start to resume.")

        worker = TrainingWorker(build, Control(), run=False, expected_errors=_user_errors)
        worker.trainer_ready.connect(self._on_open_ready)
        worker.failed.connect(self._on_open_failed)
        self._open_ready = on_ready
        self._set_state(STARTING)
        self.message.emit(f"Opening {path.name}…")
        self._thread = start_worker(worker, self, on_finished=self._on_thread_finished)
        self._worker = worker
        return True

    def request_shutdown(self, save: bool) -> None:
        """Stop training (optionally saving first); `thread_finished` says when it is safe to quit."""
        if self.control is not None and self.state in (RUNNING, PAUSED, STARTING):
            self.control.stop(save=save)
            self._set_state(STOPPING)
        elif self.busy:
            self._set_state(STOPPING)

    def wait(self, ms: int = 30000) -> bool:
        """Block until the worker thread ends (used at exit and by tests)."""
        if self._thread is None:
            return True
        return self._thread.wait(ms)

    # ----- worker signals (queued to the GUI thread) -------------------------------------------

    @Slot(object)
    def _on_open_ready(self, trainer) -> None:
        self._open_ready(trainer)

    @Slot(object)
    def _on_open_failed(self, ev: Failed) -> None:
        self.error.emit(f"Cannot open the checkpoint: {ev.message}", ev.traceback)

    @Slot(object)
    def _on_worker_trainer_ready(self, trainer) -> None:
        self.trainer = trainer
        self.reference_points.emit(trainer.data.x.numpy() if trainer.data.is_2d else None)
        for w in trainer.data.warnings:
            self.message.emit(w)

    @Slot(list)
    def _on_worker_stats(self, batch: list[Stats]) -> None:
        for ev in batch:
            self.history.append(ev)
        self.stats_ready.emit(batch)

    @Slot(object)
    def _on_worker_samples(self, ev: Samples) -> None:
        self.samples_ready.emit(ev)

    @Slot(object)
    def _on_worker_event(self, ev: Any) -> None:
        if isinstance(ev, RunStarted):
            self.device, self.threads, self.total_steps = ev.device, ev.threads, ev.total_steps
            if self.state != STOPPING:
                self._set_state(PAUSED if self.control is not None and self.control.paused else RUNNING)
            self.run_started.emit(ev)
            self.message.emit(f"Training on {ev.device} — run folder {self.run_dir}")
        elif isinstance(ev, HyperparamsChanged):
            self.history.add_marker(ev)
            self.markers_changed.emit()
            if "train.steps" in ev.changes:
                self.total_steps = ev.changes["train.steps"][1]
        elif isinstance(ev, CheckpointSaved):
            self.history.add_marker(ev)
            self.markers_changed.emit()
            self.checkpoint_saved.emit(ev)
            self.message.emit(f"Checkpoint saved at step {ev.step}: {ev.path}")
        elif isinstance(ev, CheckpointFailed):
            self.error.emit(f"Checkpoint at step {ev.step} was not saved.\n\n{ev.message}", "")
        elif isinstance(ev, Paused):
            if self.state != STOPPING:
                self._set_state(PAUSED)
            if ev.reason:
                self.history.add_marker(Marker(ev.step, "nan", ev.reason))
                self.markers_changed.emit()
                self.health_paused.emit(ev.reason)
        elif isinstance(ev, Resumed):
            if self.state != STOPPING:
                self._set_state(RUNNING)
        elif isinstance(ev, Metrics):
            # Quality metrics land at the step they were computed for, a few steps late.
            self.history.merge(ev.step, ev.values)
            self.metrics_ready.emit(ev)
        elif isinstance(ev, Alert):
            if ev.kind != "config":
                self.history.add_marker(Marker(ev.step, ev.kind, ev.message))
                self.markers_changed.emit()
            self.alert.emit(ev)

    @Slot(object)
    def _on_worker_finished(self, ev: Finished) -> None:
        self.finished.emit(ev)
        word = "Finished" if ev.reason == "completed" else "Stopped"
        self.message.emit(f"{word} at step {ev.step}.")

    @Slot(object)
    def _on_worker_failed(self, ev: Failed) -> None:
        if ev.step < 0:  # the trainer could not be built: nothing ran
            self.error.emit(f"Training could not start:\n\n{ev.message}", ev.traceback)
        else:
            self.error.emit(f"Training stopped with an error at step {ev.step}:\n\n{ev.message}",
                            ev.traceback)

    @Slot()
    def _on_thread_finished(self) -> None:
        thread = self._thread
        self._thread = None
        if thread is not None:
            thread.deleteLater()
        if self.trainer is None:
            self.control = None
            self._close_runlog()
            if self.run_dir is not None and not any(self.run_dir.glob("checkpoints/*.pt")):
                _remove_empty_run_dir(self.run_dir)
            self.run_dir = None
            self._set_state(IDLE)
        else:
            self._set_state(STOPPED)
        self.thread_finished.emit()

    def _close_runlog(self) -> None:
        if self._runlog is not None:
            self._runlog.close()
            self._runlog = None


def _user_errors() -> tuple[type[BaseException], ...]:
    """Errors that mean bad input, not a bug: shown without a traceback. Imported on the worker
    thread, after the build has imported torch."""
    from ganstudio.core.checkpoints import CheckpointError
    from ganstudio.core.data import DataError

    return (ConfigError, DataError, CheckpointError, OSError)


def _read_timeline(
    items: list[tuple[int, Path]], points: bool = False, limit: int = 400
) -> list[tuple[int, np.ndarray]]:
    """Sample grids (or, for 2D data, the .npy points beside them) of a run folder as arrays,
    evenly thinned to at most `limit`."""
    from PIL import Image

    if len(items) > limit:
        idx = np.linspace(0, len(items) - 1, limit).round().astype(int)
        items = [items[i] for i in sorted(set(idx))]
    out = []
    for step, p in items:
        if points:
            try:
                out.append((step, np.load(p.with_suffix(".npy"), allow_pickle=False)))
            except (OSError, ValueError):
                pass
            continue
        try:
            with Image.open(p) as im:
                arr = np.asarray(im.convert("L" if im.mode in ("L", "1", "P") else "RGB"))
        except OSError:
            continue
        out.append((step, arr[:, :, None] if arr.ndim == 2 else arr))
    return out


def _remove_empty_run_dir(path: Path) -> None:
    """A run that never started (bad data, say) leaves no empty folder behind."""
    import shutil

    try:
        if not any((path / "samples").glob("*")):
            shutil.rmtree(path)
    except OSError:
        pass
