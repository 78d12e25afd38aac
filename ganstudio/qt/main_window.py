"""The main window lays out: it builds the panels, docks them around the plots (docks.py), gives
them menus, a toolbar (menus.py) and a status bar (status_bar.py), and wires their signals. What
each part does is elsewhere: every action goes to the Session or to a helper beside this module,
and the panels follow the run model (session.model), one stream of events whether the app trains
the run or follows a run folder that another process writes."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSettings, QTimer, Slot
from PySide6.QtGui import QCloseEvent, QDragEnterEvent, QDropEvent, QPaintEvent, QShowEvent
from PySide6.QtWidgets import QMainWindow, QVBoxLayout, QWidget

from ganstudio.core import config as cfgmod
from ganstudio.core.config import Config, ConfigError
from ganstudio.core.curves import preload_smoothing
from ganstudio.qt import menus, shortcuts, window_settings
from ganstudio.qt.compared_runs import ComparedRuns
from ganstudio.qt.dialogs import Dialogs
from ganstudio.qt.docks import DockLayout
from ganstudio.qt.exporter import Exporter
from ganstudio.qt.file_dialogs import FileDialogs, dropped_path
from ganstudio.qt.launcher import Launcher
from ganstudio.qt.model_code import ask_model_code
from ganstudio.qt.overlays import Overlays
from ganstudio.qt.panels.alerts import AlertBanner, AlertsPanel
from ganstudio.qt.panels.checkpoints import CheckpointsPanel
from ganstudio.qt.panels.compare import ComparePanel
from ganstudio.qt.panels.hyperparams import HyperparamsPanel
from ganstudio.qt.panels.lab2d import Lab2DPanel
from ganstudio.qt.panels.latent import LatentPanel
from ganstudio.qt.panels.plots import PlotsPanel
from ganstudio.qt.panels.runs import RunsPanel
from ganstudio.qt.panels.samples import SamplesPanel
from ganstudio.qt.presets_chooser import PresetChooser
from ganstudio.qt.recent import RecentFiles
from ganstudio.qt.session import PAUSED, RUNNING, STARTING, Session
from ganstudio.qt.space_key import SpaceKeyFilter
from ganstudio.qt.status_bar import StatusBar, StatusView
from ganstudio.qt.training_actions import TrainingActions
from ganstudio.qt.unexpected import UnexpectedErrors

DEFAULT_SIZE = (1360, 860)
TITLE = "GAN Studio"


class MainWindow(QMainWindow):
    def __init__(self, config: Config | None = None, settings: QSettings | None = None):
        super().__init__()
        self.setObjectName("main_window")
        self.setWindowTitle(TITLE)
        self.setAcceptDrops(True)
        self.settings = settings if settings is not None else QSettings()
        self._pending_recent: str | None = None
        self.dialogs = Dialogs(self)
        self._dialogs = self.dialogs.boxes  # the message boxes open now
        # A bug's exception nothing caught, said in the window (installed by app.main, not in tests).
        self.unexpected = UnexpectedErrors(self)
        self.unexpected.occurred.connect(self.dialogs.error)

        self.session = Session(config or window_settings.last_config(self.settings), self)
        s = self.session

        self.plots = PlotsPanel(s.model)
        # Alerts get a banner above the plots: a status-bar line is overwritten by the next
        # "Checkpoint saved", and the Alerts tab is usually behind the hyperparameters.
        self.alert_banner = AlertBanner(s.model)
        central = QWidget(objectName="central")
        central_layout = QVBoxLayout(central)
        central_layout.setContentsMargins(0, 0, 0, 0)
        central_layout.setSpacing(2)
        central_layout.addWidget(self.alert_banner)
        central_layout.addWidget(self.plots, 1)
        self.setCentralWidget(central)
        self._lab2d: Lab2DPanel | None = None  # built after the first paint: see finish_building
        self._finish_scheduled = False
        self.alerts = AlertsPanel(s.model)
        self.samples = SamplesPanel(s.model)
        self.latent = LatentPanel(s)
        self.hyperparams = HyperparamsPanel(s.config)
        self.checkpoints = CheckpointsPanel()
        # Runs side by side: the Runs dock lists run folders; ticked ones are followed (overlays),
        # drawn on the plots and compared in the Compare dock; forks train in processes of their own.
        self.overlays = Overlays(self)
        self.runs = RunsPanel()
        self.compare = ComparePanel(s.model, self.overlays)
        self.compared = ComparedRuns(s, self.runs, self.overlays, self.compare, self.plots, self)
        # Forks, What If and torchrun jobs: processes of their own, listed in the Runs dock.
        self.launcher = Launcher(s, self, self)
        self.forks = self.launcher.forks
        self.exporter = Exporter(self)  # File › Export, on a worker thread
        self.presets = PresetChooser(s)
        self.hyperparams.add_header_widget(self.presets)

        panels = {"samples": self.samples, "hyperparams": self.hyperparams, "checkpoints": self.checkpoints}
        panels |= {"alerts": self.alerts, "runs": self.runs, "compare": self.compare, "latent": self.latent}
        self.dock_layout = DockLayout(self, panels)
        self._docks = self.dock_layout.docks  # by name: "samples", "lab2d", ...
        self.files = FileDialogs(self)
        menus.make_actions(self)
        self.recent_menu = menus.make_menus(self, self.dock_layout)  # File › Open Recent
        self.recent = RecentFiles(self.settings, self.recent_menu, self)
        menus.make_toolbar(self)
        self.setStatusBar(StatusBar(self))
        self.status = StatusView(s, self.statusBar())
        # The status labels by name, for tests and automation.
        self.status_state, self.status_progress = self.status.state, self.status.progress
        self.status_device = self.status.device
        self.training = TrainingActions(self, s, self.hyperparams, self.presets, self.recent, self.exporter)

        s.state_changed.connect(self._on_session_state_changed)
        s.config_changed.connect(self._on_session_config_changed)
        s.model.reset.connect(self._on_model_reset)
        s.model.changed.connect(self._on_model_changed)
        s.reference_points.connect(self.samples.set_reference_points)
        s.reference_points.connect(self._on_session_reference_points)
        self.alerts.count_changed.connect(self.dock_layout.set_alerts_count)
        s.model.reset.connect(self._update_title)
        s.state_changed.connect(self._update_title)
        s.health_paused.connect(self._on_session_health_paused)
        s.ask_model_code = lambda check: self.ask_model_code(check)  # before importing user code
        s.error.connect(self.dialogs.error)
        s.message.connect(self._on_session_message)
        s.thread_finished.connect(self._on_session_thread_finished)
        self.hyperparams.config_edited.connect(s.set_config)
        s.edit_pending.connect(self.hyperparams.set_pending)  # until the run applies it
        s.loop_changed.connect(self.hyperparams.set_loop)  # a loop of yours: its own keys
        self.hyperparams.loop_edited.connect(s.edit_values)
        self.hyperparams.valid_changed.connect(self.training.update)
        self.checkpoints.open_requested.connect(self.open_checkpoint)
        self.checkpoints.fork_requested.connect(self.fork_from)
        self.runs.open_requested.connect(self.open_run)
        self.runs.error.connect(self._on_runs_error)
        self.compare.step_changed.connect(self.plots.set_cursor)
        self.plots.marker_activated.connect(self.launcher.fork_at_marker)
        self.launcher.failed.connect(self.dialogs.error)
        self.launcher.message.connect(self._on_session_message)
        self.launcher.forks_started.connect(self._docks["runs"].show)
        self.launcher.job_started.connect(self.open_run)
        self.forks.started.connect(self.runs.expect_fork)
        self.forks.failed.connect(self._on_runs_error)
        self.exporter.done.connect(self._on_exporter_done)
        self.exporter.failed.connect(self.dialogs.error)
        self.exporter.busy_changed.connect(self._on_current_run_changed)
        s.model.reset.connect(self._on_current_run_changed)
        s.state_changed.connect(self._on_current_run_changed)
        self.alert_banner.show_requested.connect(self._on_alert_banner_show_requested)
        self.samples.saved.connect(self._on_samples_saved)
        self.samples.sample_picked.connect(self.latent.pick)
        self.latent.marks_changed.connect(self.samples.set_marks)
        self.latent.saved.connect(self._on_samples_saved)
        self._docks["latent"].visibilityChanged.connect(self.latent.set_active)
        self.presets.failed.connect(self.dialogs.error)
        self.presets.label_changed.connect(self._update_title)
        self.recent.open_requested.connect(self.open_path)
        self.space_key = SpaceKeyFilter(self)  # Space pauses even from a text field (space_key.py)

        self.resize(*DEFAULT_SIZE)
        self.dock_layout.remember_default()  # before a saved layout is restored: View › Reset Layout
        restored = window_settings.restore_layout(self.settings, self)
        # A layout the user made is theirs: only a squeezed left dock area is repaired (showEvent).
        self._fit_on_show: bool | None = not restored
        self.presets.adopt(s.config)
        self.presets.update_label()
        self.training.update()
        window_settings.restore_runs(self.settings, self.runs)  # added folders, baseline
        self._on_current_run_changed()
        # After restoreState: the config says whether the 2D lab shows, not the layout last saved.
        s.preview_reference_points()

    # ----- construction ------------------------------------------------------------------------

    @property
    def lab2d(self) -> Lab2DPanel:
        """The 2D lab panel; built on first use if the window has not painted yet."""
        self.finish_building()
        assert self._lab2d is not None
        return self._lab2d

    def finish_building(self) -> None:
        """After the first paint (or when `lab2d` is first used; once): the 2D lab (0.05 s), hidden
        until a 2D run starts, and the plots' smoothing (imported on a thread)."""
        if self._lab2d is not None:
            return
        preload_smoothing()
        self._lab2d = Lab2DPanel(self.session.model)
        self.dock_layout.set_lab(self._lab2d)

    def save_settings(self) -> None:
        window_settings.save(self.settings, self, self.session.config, self.runs)

    # ----- public operations (also for tests and automation) ------------------------------------

    def open_checkpoint(self, path: str | Path) -> None:
        if self.session.busy:
            self.dialogs.error(
                "Stop training before opening a checkpoint; the current run keeps going until you do."
            )
            return
        if self.session.open_checkpoint(path):
            self._pending_recent = str(path)

    def open_run(self, path: str | Path) -> None:
        """Open a run folder and follow it: File › Open Run…, a dropped folder, Open Recent and
        `ganstudio --run` all come here."""
        if self.session.open_run(path):
            self.recent.add(path)

    def open_path(self, path: str | Path) -> None:
        """A run folder or a checkpoint file, whichever `path` is."""
        if Path(path).is_dir():
            self.open_run(path)
        else:
            self.open_checkpoint(path)

    @Slot()
    def start(self) -> None:
        # A value typed in a field but not yet committed (Start takes no focus) must count.
        self.hyperparams.commit()
        if not self.hyperparams.is_valid():
            self.dialogs.error("Fix the highlighted hyperparameters before starting.")
            return
        self.launcher.start(separate=self.action_separate_process.isChecked())

    def load_config(self, path: str | Path) -> None:
        try:
            cfg = cfgmod.load(path)
        except ConfigError as e:
            self.dialogs.error(f"{Path(path).name} was not loaded:\n\n" + "\n".join(e.problems))
            return
        if self.session.has_model:
            self.dialogs.error("A model exists; choose File › New run first, then load the config.")
            return
        self.presets.adopt(cfg)
        self.session.set_config(cfg)
        self.presets.update_label()

    def ask_processes(self) -> int | None:
        """How many processes for Start on N Processes; None if cancelled. Tests replace it."""
        return self.dialogs.ask_processes()

    @Slot()
    def start_on_processes(self) -> None:
        """Training › Start on N Processes: train the configuration as a torchrun job (the
        launcher's) of as many processes as asked, and follow it here."""
        n = self.ask_processes()
        if n is not None:
            self.hyperparams.commit()
            self.launcher.start_processes(n)

    def ask_model_code(self, check):  # the model file to import (model_code.py), None if declined
        return ask_model_code(self, check)

    def ask_forks(
        self, cfg: Config, count: int, title: str, base_label: str = "now"
    ) -> list[list[str]] | None:
        """Per fork, the `--set` arguments chosen in the fork dialog (dialogs.py); None if
        cancelled. Tests replace it."""
        return self.dialogs.ask_forks(cfg, count, title, base_label)

    @Slot(str)
    def fork_from(self, checkpoint: str) -> None:
        self.launcher.fork_from(checkpoint)

    def export_run(self, kind: str, target: str | Path) -> None:
        """Write the current run as CSV (`kind` "csv") or TensorBoard files ("tensorboard") on a
        worker thread; the status bar says where, a dialog what went wrong."""
        folder = self.session.folder
        if folder is not None:
            self.exporter.export(kind, folder, target)

    def ask_close(self) -> str:
        """'save', 'quit' or 'cancel' — asked when closing while training runs. Tests replace it."""
        return self.dialogs.ask_close()

    def shortcut_rows(self) -> list[tuple[str, str, str]]:
        return shortcuts.rows(self.menuBar())

    # ----- session and panel signals -----------------------------------------------------------

    @Slot(str)
    def _on_session_state_changed(self, state: str) -> None:
        self.training.update()
        self.status.update_state()
        self.status.update_progress()  # no rate or ETA while paused or stopped

    @Slot(object)
    def _on_session_config_changed(self, cfg: Config) -> None:
        self.hyperparams.set_config(cfg)
        self.status.update_progress()
        self.training.update()
        self.presets.update_label()

    @Slot()
    def _on_model_reset(self) -> None:
        # "Stopped at step N" and the like were about the run that is gone.
        self.statusBar().clearMessage()
        if self.session.checkpoint_path is not None or self.session.following:
            self.presets.adopt(self.session.config)  # its config is the run's
        self.plots.refresh()
        self._on_run_folder_changed()
        self.status.clear_where()
        self.status.update_progress()
        self.training.update()

    def _on_run_folder_changed(self) -> None:
        folder = self.session.folder
        self.checkpoints.set_folder(self.session.checkpoint_folder())
        self.samples.set_default_folder(folder.samples_dir if folder is not None else None)

    @Slot(object)
    def _on_model_changed(self, changes) -> None:
        run = self.session.run
        if "info" in changes:
            self._on_run_folder_changed()
            self.status.update_where()
        if "checkpoints" in changes:
            self.checkpoints.refresh()
        if "alerts" in changes and run.alerts:
            ev = run.alerts[-1]
            self.statusBar().showMessage(f"⚠ step {ev.step}: {ev.message}", 15000)
        if changes.aspects & {"stats", "status", "info", "config"}:
            self.status.update_progress()
            if self.session.run_dir is not None:
                wall = run.last_stats.wall if run.last_stats is not None else 0.0
                self.runs.show_live(self.session.step, run.status, wall)
        if "status" in changes:
            self.training.update()
            self._on_session_state_changed(self.session.state)

    @Slot(str)
    def _on_session_health_paused(self, reason: str) -> None:
        folder = self.session.folder
        last = folder.latest_checkpoint() if folder is not None else None
        self.dialogs.health_paused(reason, last, self._roll_back)

    def _roll_back(self, path: Path) -> None:
        def reopen():
            self.session.thread_finished.disconnect(reopen)
            self.open_checkpoint(path)

        self.session.thread_finished.connect(reopen)
        self.session.stop()

    @Slot()
    def _on_alert_banner_show_requested(self) -> None:
        self.dock_layout.show_dock("alerts")
        self.alerts.select_newest()

    @Slot(object)
    def _on_session_reference_points(self, points) -> None:
        """2D data: show the lab next to the samples; image data: hide it."""
        if points is not None or self._lab2d is not None:  # image data: an unbuilt lab can wait
            self.lab2d.set_reference_points(points)
        self.dock_layout.show_lab(points is not None)

    @Slot(str)
    def _on_runs_error(self, message: str) -> None:
        self.dialogs.error(message)

    @Slot(str)
    def _on_session_message(self, text: str) -> None:
        self.statusBar().showMessage(text, 10000)

    @Slot(str)
    def _on_samples_saved(self, path: str) -> None:
        self.statusBar().showMessage(f"Saved {path}", 10000)

    @Slot(str)
    def _on_exporter_done(self, text: str) -> None:
        self.statusBar().showMessage(text, 15000)

    @Slot()
    def _on_session_thread_finished(self) -> None:
        pending, self._pending_recent = self._pending_recent, None
        path = self.session.checkpoint_path
        if pending and path is not None and str(path) == pending:
            self.recent.add(pending)
        self.training.update()
        self.status.update_progress()
        if self.training.closing:
            QTimer.singleShot(0, self.close)

    @Slot()
    def _update_title(self, *_args) -> None:
        """The run and the preset it came from: "20261207-101500-ring8 · ring8 — GAN Studio"."""
        parts = [part for part in (self.compared.current_title(), self.presets.shown()) if part]
        self.setWindowTitle(" · ".join(parts) + f" — {TITLE}" if parts else TITLE)

    @Slot()
    def _on_current_run_changed(self, *_args) -> None:
        self.compared.update_current()
        self.training.update_run()

    # ----- window events -----------------------------------------------------------------------

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 (Qt's name)
        self.session.stop_following()  # a followed run goes on without us; its reader thread ends
        if self.session.busy:
            if not self.training.closing:
                choice = self.ask_close() if self.session.state in (RUNNING, PAUSED, STARTING) else "quit"
                if choice == "cancel":
                    event.ignore()
                    return
                self.training.closing = True
                self.training.update()
                self.session.request_shutdown(save=choice == "save")
                self.status.update_state("Saving and stopping…" if choice == "save" else "Stopping…")
            # Close for real once the worker says it has finished (never kill a thread).
            event.ignore()
            return
        self.save_settings()
        self.dialogs.close_all()
        self.runs.shutdown()
        self.overlays.shutdown()
        self.launcher.shutdown()
        self.exporter.wait()
        self.files.importer.wait()
        self.latent.shutdown()
        event.accept()

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802 (Qt's name)
        super().showEvent(event)
        if self._fit_on_show is not None:
            # Dock widths exist only once the layout has run, and before the first paint. A saved
            # layout is kept, except a left dock area too narrow for its tab titles (a layout
            # saved while the latent explorer took its room): widened once.
            fit_all, self._fit_on_show = self._fit_on_show, None
            self.layout().activate()
            self.dock_layout.fit() if fit_all else self.dock_layout.fit_left()

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 (Qt's name)
        super().paintEvent(event)
        if not self._finish_scheduled:
            # After the first paint, not before it: the window appears without waiting for it.
            self._finish_scheduled = True
            QTimer.singleShot(0, self, self.finish_building)

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802
        path = dropped_path(event.mimeData())
        if path is not None and (path.suffix == ".pt" or path.is_dir()):  # a checkpoint, a run folder
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802
        path = dropped_path(event.mimeData())
        if path is not None:
            event.acceptProposedAction()
            self.open_path(str(path))
