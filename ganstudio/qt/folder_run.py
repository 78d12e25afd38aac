"""FolderRun, the run handle of a run another process trains (the CLI, torchrun, a loop of yours
that writes a run folder): read through its folder by a follower thread, steered through its
control.jsonl. See run_handle.py for what every handle answers."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QThread, Slot

from ganstudio.core import config as cfgmod
from ganstudio.core.run.events import Failed
from ganstudio.core.run.folder import RunFolder, RunFolderError
from ganstudio.core.run.importer import imported_from
from ganstudio.core.run.state import FAILED, FINISHED, NEW, STALE
from ganstudio.core.run.state import PAUSED as RUN_PAUSED
from ganstudio.core.run.state import STOPPED as RUN_STOPPED
from ganstudio.qt import action_rules
from ganstudio.qt.run_handle import NO_CHECKPOINT_YET, GeneratorSource, RunHandle, user_errors
from ganstudio.qt.states import PAUSED, RUNNING, STOPPED, STOPPING
from ganstudio.qt.worker import Worker, poll_stream, start_worker

if TYPE_CHECKING:
    from ganstudio.core.config import Config
    from ganstudio.qt.session import Session

FOLLOW_POLL_S = 0.1  # how often a followed folder is looked at (its events drawn within ~0.25 s)


class FolderRun(RunHandle):
    """A run another process trains (or trained), read through its folder by a follower thread
    and steered through its control.jsonl when the folder is writable."""

    elsewhere = True
    start_tip = "Continue this run here, from its latest checkpoint"

    def __init__(self, session: Session, folder: RunFolder, cfg: Config | None):
        """`cfg`: the run's config; None for an imported run (`ganstudio import`), which has none."""
        super().__init__(session)
        from ganstudio.core.run.steer import ControlFile

        self.folder = self.followed = folder
        ok, why = ControlFile(folder).writable()
        self.watch_only = "" if ok else why
        self.loop = self._read_loop()
        try:
            self.imported = imported_from(folder.meta())
        except RunFolderError:
            self.imported = ""
        self._stop = threading.Event()
        stop = self._stop

        def build():
            from ganstudio.core.run.follow import Follower

            reference = None
            if cfg is not None and cfgmod.is_2d(cfg):
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
        if self.imported:
            return (
                f"This run was {self.imported}: its configuration is not known, so nothing here is "
                "its; the fields show the configuration of a new run (File › New Run)"
            )
        if self.s.run.alive and self.steer_problem():
            return f"Live edits reach the run only through its folder: {self.steer_problem()}"
        if self.loop is not None and not self.s.run.alive:  # no checkpoint of ours continues it
            return "Your loop is not running: nothing takes an edit now"
        return ""

    def generator(self) -> GeneratorSource:
        if self.imported:
            return GeneratorSource(note=f"This run was {self.imported}: it has no generator to explore.")
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
