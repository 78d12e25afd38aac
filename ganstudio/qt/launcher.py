"""New runs started from the window beside the current one: a fork of a checkpoint, What If (two
forks of this step), and a torchrun job of N processes. Each trains in a process of its own
(fork.ForkLauncher); the window only lays out and asks (`asker`: its dialogs, which tests replace).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Protocol

from PySide6.QtCore import QObject, Signal, Slot

from ganstudio.core import config as cfgmod
from ganstudio.core.config import Config, is_user
from ganstudio.qt.fork import ForkLauncher
from ganstudio.qt.run_model import RunChanges
from ganstudio.qt.session import RUNNING, Session


class Asker(Protocol):
    """Asks the user which keys each fork changes (the window's fork dialog), and which model file
    to import for a checkpoint of your own model (model_code.py)."""

    def ask_forks(
        self, cfg: Config, count: int, title: str, base_label: str = "now"
    ) -> list[list[str]] | None: ...

    def ask_model_code(self, check: Any) -> Any: ...


class Launcher(QObject):
    failed = Signal(str, str)  # (message, details) for a dialog
    message = Signal(str)  # status-bar text
    forks_started = Signal()  # the Runs dock should show
    job_started = Signal(str)  # a torchrun job's run folder, to follow

    def __init__(self, session: Session, asker: Asker, parent: QObject | None = None):
        super().__init__(parent)
        self._session = session
        self._asker = asker
        self.forks = ForkLauncher(self)
        self._what_if: list[list[str]] | None = None  # forks waiting for their checkpoint
        session.model.changed.connect(self._on_model_changed)

    # ----- forks -------------------------------------------------------------------------------

    @Slot(str)
    def fork_from(self, checkpoint: str) -> None:
        """A new run from `checkpoint` with changed keys, trained in its own process beside its
        parent, listed under it in the Runs dock and drawn on the plots. The dialog starts from the
        checkpoint's own config (what the fork continues), not the run's now: a learning rate
        changed after the checkpoint was saved is not the fork's."""
        from ganstudio.core.checkpoint import io as checkpoints

        try:
            ckpt = checkpoints.load(checkpoint)
        except checkpoints.CheckpointError as e:
            self.failed.emit(f"Cannot fork from it: {e}", "")
            return
        from ganstudio.core.models import provenance
        from ganstudio.core.models.user import ModelCodeError

        cfg, step = checkpoints.config_of(ckpt), int(ckpt["step"])
        try:
            code = provenance.check_checkpoint(ckpt, checkpoint)
        except ModelCodeError as e:
            self.failed.emit(f"Cannot fork from it: {e}", "")
            return
        del ckpt  # the weights: only the config, step and model file are needed here
        overrides = self._asker.ask_forks(cfg, 1, f"Fork from {Path(checkpoint).name}", f"step {step:,}")
        if overrides is not None:
            self._launch(checkpoint, overrides, code)

    @Slot()
    def what_if(self) -> None:
        """Pause the run, fork it at this step twice with two settings, and train both at once."""
        s = self._session
        if s.state == RUNNING:
            s.pause()
        overrides = self._asker.ask_forks(s.config, 2, "What If: two forks of this step", f"step {s.step:,}")
        if overrides is None:
            return
        if s.handle.saves_in_folder():
            self._what_if = overrides
            s.save_checkpoint()  # its CheckpointSaved comes back through the model: then they start
            return
        latest = s.folder.latest_checkpoint() if s.folder is not None else s.checkpoint_path
        if latest is None:
            self.failed.emit("This run has no checkpoint to fork from yet.", "")
            return
        self._launch(str(latest), overrides)

    @Slot(object)
    def fork_at_marker(self, marker) -> None:
        """A checkpoint marker double-clicked or right-clicked on a plot: fork from that checkpoint."""
        if marker.kind != "checkpoint":
            return
        s = self._session
        for saved in reversed(s.run.checkpoints):
            if saved.step == marker.step:
                path = s.folder.resolve(saved.path) if s.folder is not None else Path(saved.path)
                if path.exists():
                    self.fork_from(str(path))
                    return
        self.failed.emit(
            f"The checkpoint of step {marker.step:,} is no longer on disk (only the newest "
            "log.keep_checkpoints are kept, besides the ones you saved); fork from one listed in the "
            "Checkpoints tab.",
            "",
        )

    @Slot(object)
    def _on_model_changed(self, changes: RunChanges) -> None:
        from ganstudio.core.run.events import CheckpointSaved

        if self._what_if is None:
            return
        saved = [e for e in changes.of_type(CheckpointSaved) if e.manual]
        if not saved:
            return
        overrides, self._what_if = self._what_if, None
        folder = self._session.folder
        path = folder.resolve(saved[-1].path) if folder is not None else Path(saved[-1].path)
        self._launch(str(path), overrides)

    def _code_of(self, checkpoint: str) -> Any:
        """For a run of your own model: the file the app already imports (a ModelRef), or what the
        checkpoint would import (a ModelFileCheck, read without importing); None for a built-in."""
        s = self._session
        if not is_user(s.config.model.arch):
            return None
        if s.trainer is not None and s.trainer.model_ref is not None:
            return s.trainer.model_ref
        from ganstudio.core.models.provenance import model_file_of

        return model_file_of(checkpoint)

    def _launch(self, checkpoint: str, overrides: list[list[str]], code: Any = "") -> None:
        """Fork `checkpoint` once per override list. `code`: see _code_of ("": find it out). The
        forks import a model file of the user's only with the user's yes (model_code.py)."""
        from ganstudio.core.checkpoint.io import CheckpointError
        from ganstudio.core.models.user import ModelCodeError, ModelRef

        try:
            code = self._code_of(checkpoint) if code == "" else code
        except (CheckpointError, ModelCodeError) as e:
            self.failed.emit(f"Cannot fork from {Path(checkpoint).name}: {e}", "")
            return
        model_file = None
        if code is not None:
            ref = code if isinstance(code, ModelRef) else self._asker.ask_model_code(code)
            if ref is None:
                self.message.emit("No fork started: its model file was not imported.")
                return
            model_file = ref.path
        for i, o in enumerate(overrides):
            name = cfgmod.fork_name(self._session.config, i if len(overrides) > 1 else None)
            self.forks.fork(checkpoint, o, name, model_file)
        self.forks_started.emit()
        n = len(overrides)
        self.message.emit(
            f"Training {n} fork{'s' if n > 1 else ''} of {Path(checkpoint).name}; "
            "they appear in the Runs dock and on the plots"
        )

    # ----- torchrun ----------------------------------------------------------------------------

    def start_processes(self, processes: int) -> None:
        """Train the session's configuration as a torchrun job of `processes` on this machine, in a
        new run folder; `job_started` says which, for the window to follow it like any run (Pause,
        Step, Stop and live edits reach every process through the folder)."""
        cfg = self._session.config
        problem = cfgmod.batch_split_problem(cfg.train.batch_size, processes)
        if problem is not None:
            self.failed.emit(f"Cannot split the batch over {processes} processes: {problem}.", "")
            return
        folder = self._new_folder(cfg)
        if folder is None:
            return
        threads = max(1, (os.cpu_count() or 1) // processes)
        self.forks.job(processes, folder.path, threads)
        self.job_started.emit(str(folder.path))
        self.message.emit(f"Started {processes} processes with torchrun; following {folder.path}")

    def start(self, separate: bool) -> None:
        """Start (the window's Start): a new run in a child process when `separate` (Training ›
        Train in a Separate Process), else, and always to go on with a model, on the app's thread."""
        if separate and self._session.starts_new_run():
            self.start_child()
        else:
            self._session.start()

    def start_child(self) -> None:
        """Train the session's configuration in a child process of the app (`ganstudio train` in a
        new run folder) rather than on its worker thread, and follow it here like any run: the
        GUI and the training no longer share one interpreter lock (Training › Train in a Separate
        Process; BENCHMARKS.md, rows 2c-2d)."""
        from ganstudio.core.train.threads import usable_cores

        folder = self._new_folder(self._session.config)
        if folder is None:
            return
        # One core left to the window, as the worker thread's run leaves it (reserve_cores=1).
        self.forks.train(folder.path, max(1, usable_cores() - 1))
        self.job_started.emit(str(folder.path))
        self.message.emit(f"Training in a separate process; following {folder.path}")

    def _new_folder(self, cfg: Config):
        """A new run folder holding `cfg`, for a process to train in; None (said) if it cannot be made."""
        from ganstudio.core.run.folder import RunFolder, RunFolderError

        try:
            folder = RunFolder.create(cfg)
            folder.save_config(cfg)
        except RunFolderError as e:
            self.failed.emit(str(e), "")
            return None
        return folder

    def shutdown(self) -> None:
        self.forks.shutdown()
