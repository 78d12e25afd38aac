"""The main window: menus, actions, docks and the status bar. No training logic lives here; every
action goes to the Session, and the panels follow the run model (session.model): one stream of
events, whether the app trains the run or follows a run folder that another process writes."""

from __future__ import annotations

import functools
import os
from pathlib import Path

from PySide6.QtCore import QEvent, QSettings, Qt, QTimer, Slot
from PySide6.QtGui import (
    QAction,
    QCloseEvent,
    QDragEnterEvent,
    QDropEvent,
    QKeySequence,
    QPaintEvent,
    QShowEvent,
)
from PySide6.QtWidgets import (
    QApplication,
    QComboBox,
    QDialog,
    QDockWidget,
    QFileDialog,
    QInputDialog,
    QLineEdit,
    QMainWindow,
    QMessageBox,
    QStyle,
    QTabBar,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from ganstudio import __version__
from ganstudio.core import config as cfgmod
from ganstudio.core.config import Config, ConfigError, presets
from ganstudio.core.curves import preload_smoothing
from ganstudio.qt import shortcuts
from ganstudio.qt.exporter import Exporter
from ganstudio.qt.fork import ForkDialog
from ganstudio.qt.launcher import Launcher
from ganstudio.qt.overlays import Overlays
from ganstudio.qt.panels.alerts import AlertBanner, AlertsPanel
from ganstudio.qt.panels.checkpoints import CheckpointsPanel
from ganstudio.qt.panels.compare import ComparePanel
from ganstudio.qt.panels.hyperparams import HyperparamsPanel, with_labels
from ganstudio.qt.panels.lab2d import Lab2DPanel
from ganstudio.qt.panels.latent import LatentPanel
from ganstudio.qt.panels.plots import Overlay, PlotsPanel
from ganstudio.qt.panels.runs import RunsPanel
from ganstudio.qt.panels.samples import SamplesPanel
from ganstudio.qt.run_handle import RunHandle
from ganstudio.qt.session import PAUSED, RUNNING, STARTING, STOPPED, Session
from ganstudio.qt.status_bar import StatusBar, StatusView
from ganstudio.qt.unexpected import UnexpectedErrors

MAX_RECENT = 8
DEFAULT_SIZE = (1360, 860)
TITLE = "GAN Studio"
SPACE_RULE = (
    "Space pauses and resumes training wherever the focus is, also in a text field whose "
    "value was committed (Return, or focus moved on), except while a value is being typed "
    "there: then it types a space. Shortcuts with Ctrl work everywhere."
)
CHECKPOINT_FILTER = "GAN Studio checkpoints (*.pt);;All files (*)"
CONFIG_FILTER = "TOML config (*.toml);;All files (*)"
PRESET_TIP = "Replace the configuration with a named starting point"


@functools.cache
def _preset_config(name: str) -> Config:
    return presets.get(name)


def _matching_preset(cfg: Config) -> str | None:
    """The preset whose config `cfg` is exactly, if any."""
    return next((name for name in presets.NAMES if _preset_config(name) == cfg), None)


class MainWindow(QMainWindow):
    def __init__(self, config: Config | None = None, settings: QSettings | None = None):
        super().__init__()
        self.setObjectName("main_window")
        self.setWindowTitle(TITLE)
        self.setAcceptDrops(True)
        self.settings = settings if settings is not None else QSettings()
        self._closing = False
        self._pending_recent: str | None = None
        self._dialogs: list[QMessageBox] = []
        # A bug's exception nothing caught, said in the window (installed by app.main, not in tests).
        self.unexpected = UnexpectedErrors(self)
        self.unexpected.occurred.connect(self._on_session_error)
        self._preset_name: str | None = None  # the preset last loaded, shown until edited away
        self._shortcuts_dialog: shortcuts.ShortcutsDialog | None = None  # built when first asked for

        self.session = Session(config or self._last_config(), self)
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
        self._lab2d_wanted = False  # the data is 2D: the lab's dock belongs in the layout
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
        # Forks, What If and torchrun jobs: processes of their own, listed in the Runs dock.
        self.launcher = Launcher(s, self, self)
        self.forks = self.launcher.forks
        self._plot_overlays: dict = {}  # OverlayRun -> the plots' Overlay of it
        self.exporter = Exporter(self)  # File › Export, on a worker thread
        self._preset = QComboBox()
        self._preset.setObjectName("hyperparams_preset")
        self._preset.addItem("Load a preset…", None)
        for name in presets.NAMES:
            self._preset.addItem(name, name)
            self._preset.setItemData(
                self._preset.count() - 1, presets.describe(name), Qt.ItemDataRole.ToolTipRole
            )
        self._preset.setToolTip(PRESET_TIP)
        self._preset.activated.connect(self._on_preset_activated)
        self.hyperparams.add_header_widget(self._preset)

        self._docks = {
            "samples": self._dock("Samples", self.samples, Qt.DockWidgetArea.RightDockWidgetArea),
            "hyperparams": self._dock(
                "Hyperparameters", self.hyperparams, Qt.DockWidgetArea.LeftDockWidgetArea
            ),
            "checkpoints": self._dock("Checkpoints", self.checkpoints, Qt.DockWidgetArea.LeftDockWidgetArea),
            "alerts": self._dock("Alerts", self.alerts, Qt.DockWidgetArea.LeftDockWidgetArea),
            # Empty until finish_building; the dock itself exists now, for restoreState and the menu.
            "lab2d": self._dock("2D Lab", None, Qt.DockWidgetArea.RightDockWidgetArea, "lab2d_panel"),
            "runs": self._dock("Runs", self.runs, Qt.DockWidgetArea.BottomDockWidgetArea),
            "compare": self._dock("Compare", self.compare, Qt.DockWidgetArea.RightDockWidgetArea),
            "latent": self._dock("Latent Explorer", self.latent, Qt.DockWidgetArea.RightDockWidgetArea),
        }
        self._docks["latent"].setObjectName("latent_dock")
        # Closed at first (View › Latent Explorer opens it): while closed it costs training nothing.
        self._docks["latent"].hide()
        self.tabifyDockWidget(self._docks["samples"], self._docks["latent"])
        self._docks["runs"].setObjectName("runs_dock")
        self._docks["compare"].setObjectName("compare_dock")
        self.tabifyDockWidget(self._docks["samples"], self._docks["compare"])
        self.tabifyDockWidget(self._docks["hyperparams"], self._docks["checkpoints"])
        self.tabifyDockWidget(self._docks["hyperparams"], self._docks["alerts"])
        self._docks["hyperparams"].raise_()
        # Shown when the data is 2D. Hidden before it is tabified: hidden after, it left a stray
        # "Samples | 2D Lab" tab bar drawn across the samples dock.
        self._docks["lab2d"].hide()
        self.tabifyDockWidget(self._docks["samples"], self._docks["lab2d"])
        self._docks["lab2d"].toggleViewAction().setEnabled(False)
        self._docks["samples"].raise_()  # the live samples in front, not the last dock tabified

        self._make_actions()
        self._make_menus()
        self._make_toolbar()
        self._make_status_bar()

        s.state_changed.connect(self._on_session_state_changed)
        s.config_changed.connect(self._on_session_config_changed)
        s.model.reset.connect(self._on_model_reset)
        s.model.changed.connect(self._on_model_changed)
        s.reference_points.connect(self.samples.set_reference_points)
        s.reference_points.connect(self._on_session_reference_points)
        self.alerts.count_changed.connect(self._update_alerts_title)
        s.model.reset.connect(self._update_title)
        s.state_changed.connect(self._update_title)
        s.health_paused.connect(self._on_session_health_paused)
        s.error.connect(self._on_session_error)
        s.message.connect(self._on_session_message)
        s.thread_finished.connect(self._on_session_thread_finished)
        self.hyperparams.config_edited.connect(s.set_config)
        s.edit_pending.connect(self.hyperparams.set_pending)  # until the run applies it
        self.hyperparams.valid_changed.connect(self._on_hyperparams_valid_changed)
        self.checkpoints.open_requested.connect(self.open_checkpoint)
        self.checkpoints.fork_requested.connect(self.fork_from)
        self.runs.ticked_changed.connect(self._on_runs_ticked_changed)
        self.runs.open_requested.connect(self.open_run)
        self.runs.error.connect(self._on_runs_error)
        for signal in (self.overlays.added, self.overlays.removed, self.overlays.renamed):
            signal.connect(self._on_overlays_changed)
        self.compare.step_changed.connect(self.plots.set_cursor)
        self.plots.marker_activated.connect(self.launcher.fork_at_marker)
        self.launcher.failed.connect(self._on_session_error)
        self.launcher.message.connect(self._on_session_message)
        self.launcher.forks_started.connect(self._docks["runs"].show)
        self.launcher.job_started.connect(self.open_run)
        self.forks.started.connect(self.runs.expect_fork)
        self.forks.failed.connect(self._on_runs_error)
        self.exporter.done.connect(self._on_exporter_done)
        self.exporter.failed.connect(self._on_session_error)
        self.exporter.busy_changed.connect(self._on_current_run_changed)
        s.model.reset.connect(self._on_current_run_changed)
        s.state_changed.connect(self._on_current_run_changed)
        self.alert_banner.show_requested.connect(self._on_alert_banner_show_requested)
        self.samples.saved.connect(self._on_samples_saved)
        self.samples.sample_picked.connect(self.latent.pick)
        self.latent.marks_changed.connect(self.samples.set_marks)
        self.latent.saved.connect(self._on_samples_saved)
        self._docks["latent"].visibilityChanged.connect(self.latent.set_active)

        # Space pauses even from a text field, unless something is being typed in it (SPACE_RULE):
        # the focused line edit's events are filtered (not the whole application's: every event
        # through Python would take the GIL from the training thread ~1,000 times a second).
        QApplication.instance().focusChanged.connect(self._on_app_focus_changed)

        self.resize(*DEFAULT_SIZE)
        # Before the saved layout is restored: View › Reset Layout goes back to this one.
        self._default_state = self.saveState()
        geometry = self.settings.value("window/geometry")
        if geometry is not None:
            self.restoreGeometry(geometry)
        state = self.settings.value("window/state")
        if state is not None:
            self.restoreState(state)
        # A layout the user made is theirs: only a squeezed left dock area is repaired (showEvent).
        self._fit_on_show: bool | None = state is None
        self._preset_name = _matching_preset(s.config)
        self._update_preset_label()
        self._update_actions()
        self._update_recent_menu()
        folders = self.settings.value("runs/folders", [])
        for folder in [folders] if isinstance(folders, str) else (folders or []):
            self.runs.add_root(folder)
        self._on_current_run_changed()
        # After restoreState: the config says whether the 2D lab shows, not the layout last saved.
        s.preview_reference_points()

    # ----- construction ------------------------------------------------------------------------

    def _dock(
        self, title: str, widget: QWidget | None, area: Qt.DockWidgetArea, name: str = ""
    ) -> QDockWidget:
        dock = QDockWidget(title, self)
        name = name or (widget.objectName() if widget is not None else "")
        dock.setObjectName(f"dock_{name or title.lower()}")
        if widget is not None:
            dock.setWidget(widget)
        self.addDockWidget(area, dock)
        return dock

    @property
    def lab2d(self) -> Lab2DPanel:
        """The 2D lab panel; built on first use if the window has not painted yet."""
        self.finish_building()
        assert self._lab2d is not None
        return self._lab2d

    def finish_building(self) -> None:
        """Build what start-up leaves until the window has painted once: the 2D lab (0.05 s),
        hidden until a 2D run starts, and the plots' smoothing (imported on a thread). Runs from the
        event loop right after the first paint, or when `lab2d` is first used; later calls do
        nothing."""
        if self._lab2d is not None:
            return
        preload_smoothing()
        panel = Lab2DPanel(self.session.model)
        self._lab2d = panel
        self._docks["lab2d"].setWidget(panel)

    def _action(self, name: str, text: str, slot, shortcut=None, tip: str = "") -> QAction:
        a = QAction(text, self)
        a.setObjectName(name)
        if shortcut is not None:
            a.setShortcut(QKeySequence(shortcut))
        if tip:
            a.setProperty("tip", tip)  # what it does; a disabled action adds why not (_set_action)
            a.setStatusTip(tip)
            a.setToolTip(f"{tip} ({a.shortcut().toString()})" if shortcut is not None else tip)
        a.triggered.connect(slot)
        self.addAction(a)
        return a

    def _make_actions(self) -> None:
        K = QKeySequence.StandardKey
        s = self.session
        self.action_start = self._action(
            "action_start", "&Start", self._on_start_triggered, "Ctrl+Return", RunHandle.start_tip
        )
        self.action_pause = self._action(
            "action_pause", "&Pause", s.toggle_pause, "Space", "Pause or resume training"
        )
        self.action_step = self._action(
            "action_step", "S&tep", s.single_step, "Ctrl+.", "Run one training iteration, then stay paused"
        )
        self.action_stop = self._action(
            "action_stop",
            "St&op",
            s.stop,
            "Ctrl+Shift+Return",
            "Stop training after the current step; the model is kept",
        )
        self.action_start_processes = self._action(
            "action_start_processes",
            "Start on &N Processes…",
            self._on_start_processes_triggered,
            None,
            "Train the configuration with torchrun in N processes (one per GPU, or CPU processes), "
            "and follow it here",
        )
        self.action_new_run = self._action(
            "action_new_run",
            "&New Run",
            self._on_new_run_triggered,
            K.New,
            "Forget the current model and start over from the configuration",
        )
        self.action_save_checkpoint = self._action(
            "action_save_checkpoint",
            "&Save Checkpoint",
            self._on_save_checkpoint_triggered,
            K.Save,
            "Save a checkpoint in the run folder",
        )
        self.action_save_checkpoint_as = self._action(
            "action_save_checkpoint_as",
            "Save Checkpoint &As…",
            self._on_save_checkpoint_as_triggered,
            K.SaveAs,
            "Save a checkpoint to a file of your choice",
        )
        self.action_open_checkpoint = self._action(
            "action_open_checkpoint",
            "&Open Checkpoint…",
            self._on_open_checkpoint_triggered,
            K.Open,
            "Open a checkpoint, ready to resume",
        )
        self.action_open_run = self._action(
            "action_open_run",
            "Open &Run…",
            self._on_open_run_triggered,
            "Ctrl+Shift+O",
            "Open a run folder and follow it live (a run trained here, headless, or on another machine)",
        )
        self.action_load_config = self._action(
            "action_load_config",
            "&Load Config…",
            self._on_load_config_triggered,
            None,
            "Load a configuration from a TOML file",
        )
        self.action_save_config = self._action(
            "action_save_config",
            "Save Config &As…",
            self._on_save_config_triggered,
            None,
            "Save the configuration as a TOML file",
        )
        self.action_quit = self._action("action_quit", "&Quit", self.close, K.Quit, "Quit GAN Studio")
        self.action_reset_layout = self._action(
            "action_reset_layout",
            "&Reset Layout",
            self.reset_layout,
            None,
            "Put the panels back where they were at first, at their first sizes",
        )
        self.action_shortcuts = self._action(
            "action_shortcuts",
            "&Keyboard Shortcuts",
            self._on_shortcuts_triggered,
            None,
            "List the keyboard shortcuts",
        )
        self.action_about = self._action("action_about", "&About GAN Studio", self._on_about_triggered)
        self.action_export_csv = self._action(
            "action_export_csv",
            "Curves as &CSV…",
            self._on_export_csv_triggered,
            None,
            "Write the current run's curves as CSV: one row per logged step, a column per series",
        )
        self.action_export_tensorboard = self._action(
            "action_export_tensorboard",
            "&TensorBoard Event Files…",
            self._on_export_tensorboard_triggered,
            None,
            "Write the current run as TensorBoard event files (scalars, metrics, samples, changes)",
        )
        self.action_what_if = self._action(
            "action_what_if",
            "&What If…",
            self.what_if,
            None,
            "Pause, then fork the run at this step twice with two settings and train both, drawn on the "
            "plots",
        )

    def _make_menus(self) -> None:
        mb = self.menuBar()
        file = mb.addMenu("&File")
        file.addAction(self.action_new_run)
        file.addAction(self.action_open_checkpoint)
        file.addAction(self.action_open_run)
        self.recent_menu = file.addMenu("Open &Recent")
        self.recent_menu.setObjectName("menu_recent")
        file.addAction(self.action_save_checkpoint)
        file.addAction(self.action_save_checkpoint_as)
        export = file.addMenu("&Export")
        export.setObjectName("menu_export")
        export.addAction(self.action_export_csv)
        export.addAction(self.action_export_tensorboard)
        file.addSeparator()
        file.addAction(self.action_load_config)
        file.addAction(self.action_save_config)
        file.addSeparator()
        file.addAction(self.action_quit)
        train = mb.addMenu("&Training")
        for a in (self.action_start, self.action_pause, self.action_step, self.action_stop):
            train.addAction(a)
        train.addAction(self.action_start_processes)
        train.addSeparator()
        train.addAction(self.action_what_if)
        view = mb.addMenu("&View")
        for dock in self._docks.values():
            view.addAction(dock.toggleViewAction())
            dock.toggleViewAction().triggered.connect(self._on_view_dock_triggered)
        view.addSeparator()
        view.addAction(self.action_reset_layout)
        help_ = mb.addMenu("&Help")
        help_.addAction(self.action_shortcuts)
        help_.addAction(self.action_about)

    def _make_toolbar(self) -> None:
        tb = QToolBar("Training", self)
        tb.setObjectName("toolbar_training")
        tb.setMovable(False)
        tb.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        style = self.style()
        icons = {
            self.action_start: style.StandardPixmap.SP_MediaPlay,
            self.action_pause: style.StandardPixmap.SP_MediaPause,
            self.action_step: style.StandardPixmap.SP_MediaSkipForward,
            self.action_stop: style.StandardPixmap.SP_MediaStop,
            self.action_save_checkpoint: style.StandardPixmap.SP_DialogSaveButton,
            self.action_open_checkpoint: style.StandardPixmap.SP_DialogOpenButton,
        }
        for action, pixmap in icons.items():
            action.setIcon(style.standardIcon(pixmap))
        # Pause becomes Resume while paused: it then shows what it will do, as Start does.
        self._pause_icons = (
            style.standardIcon(QStyle.StandardPixmap.SP_MediaPause),
            style.standardIcon(QStyle.StandardPixmap.SP_MediaPlay),
        )
        for a in (self.action_start, self.action_pause, self.action_step, self.action_stop):
            tb.addAction(a)
        tb.addSeparator()
        tb.addAction(self.action_save_checkpoint)
        tb.addAction(self.action_open_checkpoint)
        self.addToolBar(Qt.ToolBarArea.TopToolBarArea, tb)

    def _make_status_bar(self) -> None:
        bar = StatusBar(self)
        self.setStatusBar(bar)
        self.status = StatusView(self.session, bar)
        # The labels by name, for tests and automation.
        self.status_state, self.status_progress = self.status.state, self.status.progress
        self.status_device = self.status.device

    # ----- settings ----------------------------------------------------------------------------

    def _last_config(self) -> Config:
        text = self.settings.value("session/config")
        if isinstance(text, str) and text:
            try:
                return cfgmod.from_toml(text, source="the last session's config")
            except ConfigError:
                pass  # an older or damaged setting: start from the default rather than fail
        return Config()

    def _recent(self) -> list[str]:
        value = self.settings.value("session/recent", [])
        if isinstance(value, str):
            value = [value]
        return [str(v) for v in (value or [])]

    def _add_recent(self, path: str | Path) -> None:
        path = str(Path(path).resolve())
        items = [p for p in self._recent() if p != path]
        self.settings.setValue("session/recent", [path, *items][:MAX_RECENT])
        self._update_recent_menu()

    def _update_recent_menu(self) -> None:
        self.recent_menu.clear()
        items = self._recent()
        for i, path in enumerate(items):
            a = self.recent_menu.addAction(f"&{i + 1} {path}")
            a.setObjectName(f"action_recent_{i}")
            a.triggered.connect(lambda _=False, p=path: self.open_path(p))
        self.recent_menu.setEnabled(bool(items))

    def _fit_docks(self) -> None:
        """The first layout's sizes: the left docks' tab titles in full, and the Runs dock a few
        rows tall (Qt would give the bottom area far more), so that the plots keep the height."""
        self._fit_left_docks()
        runs = self._docks["runs"]
        if runs.isVisible() and not runs.isFloating():
            self.resizeDocks([runs], [self.runs.compact_height()], Qt.Orientation.Vertical)

    def _fit_left_docks(self) -> None:
        """Widen the left dock area until its tab titles fit: squeezed, Qt elides them ("Ale…"),
        hiding the Alerts count. Measured on a tab bar like the dock area's, with "Alerts" (wider
        than any "⚠ N" it becomes)."""
        probe = QTabBar(self)
        for key in ("hyperparams", "checkpoints"):
            probe.addTab(self._docks[key].windowTitle())
        probe.addTab("Alerts")
        frame = self.style().pixelMetric(QStyle.PixelMetric.PM_DockWidgetFrameWidth)
        needed = probe.sizeHint().width() + 2 * frame + 8  # the tab bar's own margins
        probe.deleteLater()
        left, right = self._docks["hyperparams"], self._shown_dock(Qt.DockWidgetArea.RightDockWidgetArea)
        extra = needed - left.width()
        if extra <= 0:
            return
        if right.width() - extra >= right.minimumSizeHint().width():
            # From the samples: at first the plots are at their narrowest already.
            self.resizeDocks([left, right], [needed, right.width() - extra], Qt.Orientation.Horizontal)
        else:  # the samples at their narrowest (a restored layout): from the plots
            self.resizeDocks([left], [needed], Qt.Orientation.Horizontal)

    def _shown_dock(self, area: Qt.DockWidgetArea) -> QDockWidget:
        """The dock in front in `area` (the others of its tab group keep stale sizes)."""
        shown = [
            d
            for d in self._docks.values()
            if self.dockWidgetArea(d) == area
            and d.isVisible()
            and not d.isFloating()
            and not d.visibleRegion().isEmpty()
        ]
        return shown[0] if shown else self._docks["samples"]

    def save_settings(self) -> None:
        self.settings.setValue("window/geometry", self.saveGeometry())
        self.settings.setValue("window/state", self.saveState())
        self.settings.setValue("session/config", cfgmod.to_toml(self.session.config))
        self.settings.setValue("runs/folders", [str(p) for p in self.runs.extra_roots()])
        self.settings.sync()

    # ----- public operations (also for tests and automation) ------------------------------------

    def open_checkpoint(self, path: str | Path) -> None:
        if self.session.busy:
            self._on_session_error(
                "Stop training before opening a checkpoint; the current run keeps going until you do.", ""
            )
            return
        if self.session.open_checkpoint(path):
            self._pending_recent = str(path)

    def open_run(self, path: str | Path) -> None:
        """Open a run folder and follow it: File › Open Run…, a dropped folder, Open Recent and
        `ganstudio --run` all come here."""
        if self.session.open_run(path):
            self._add_recent(path)

    def open_path(self, path: str | Path) -> None:
        """A run folder or a checkpoint file, whichever `path` is."""
        if Path(path).is_dir():
            self.open_run(path)
        else:
            self.open_checkpoint(path)

    def start(self) -> None:
        self._on_start_triggered()

    @Slot()
    def reset_layout(self) -> None:
        """View › Reset Layout: every dock back where it was at first (floating ones docked, closed
        ones shown), at its first size; the 2D lab only while the data is 2D."""
        self.restoreState(self._default_state)
        self._docks["samples"].raise_()
        lab = self._docks["lab2d"]
        if self._lab2d_wanted:
            lab.show()
            lab.raise_()
        self._docks["hyperparams"].raise_()
        self._fit_docks()

    # ----- action handlers ---------------------------------------------------------------------

    @Slot(bool)
    def _on_view_dock_triggered(self, checked: bool) -> None:
        """View › a dock, ticked: it opens in front of its tab group; Qt adds it behind the tab
        that was showing, so nothing seemed to happen."""
        dock = self.sender().parent() if self.sender() is not None else None
        if checked and isinstance(dock, QDockWidget):
            dock.raise_()

    @Slot()
    def _on_start_triggered(self) -> None:
        # A value typed in a field but not yet committed (Start takes no focus) must count.
        self.hyperparams.commit()
        if not self.hyperparams.is_valid():
            self._on_session_error("Fix the highlighted hyperparameters before starting.", "")
            return
        self.session.start()

    @Slot()
    def _on_new_run_triggered(self) -> None:
        self.session.new_run()

    @Slot()
    def _on_save_checkpoint_triggered(self) -> None:
        if (
            self.session.trainer is not None
            and self.session.trainer.checkpoint_dir is None
            and not self.session.busy
        ):
            self._on_save_checkpoint_as_triggered()
            return
        self.session.save_checkpoint()

    @Slot()
    def _on_save_checkpoint_as_triggered(self) -> None:
        start = str(self.session.run_dir or Path.cwd())
        path, _ = QFileDialog.getSaveFileName(
            self, "Save Checkpoint", start + "/checkpoint.pt", CHECKPOINT_FILTER
        )
        if path:
            self.session.save_checkpoint(path)
            self._add_recent(path)

    @Slot()
    def _on_open_checkpoint_triggered(self) -> None:
        start = str(self.session.run_dir or Path(self.session.config.log.out).resolve())
        path, _ = QFileDialog.getOpenFileName(self, "Open Checkpoint", start, CHECKPOINT_FILTER)
        if path:
            self.open_checkpoint(path)

    def ask_processes(self) -> int | None:
        """How many processes for Start on N Processes; None if cancelled. Tests replace it."""
        cores = os.cpu_count() or 1
        n, ok = QInputDialog.getInt(
            self,
            "Start on N Processes",
            "Processes (one per GPU on a GPU machine; else CPU processes sharing the cores).\n"
            "train.batch_size is the global batch and must divide by N.",
            2,
            2,
            max(8, cores),
        )
        return n if ok else None

    def start_processes(self, processes: int) -> None:
        """Train the current configuration as a torchrun job of `processes` (the launcher's), and
        follow it here."""
        self.hyperparams.commit()
        self.launcher.start_processes(processes)

    @Slot()
    def _on_start_processes_triggered(self) -> None:
        n = self.ask_processes()
        if n is not None:
            self.start_processes(n)

    @Slot()
    def _on_open_run_triggered(self) -> None:
        start = str(
            self.session.run_dir.parent
            if self.session.run_dir is not None
            else Path(self.session.config.log.out).resolve()
        )
        path = QFileDialog.getExistingDirectory(self, "Open Run Folder", start)
        if path:
            self.open_run(path)

    @Slot()
    def _on_load_config_triggered(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Load Config", str(Path.cwd()), CONFIG_FILTER)
        if path:
            self.load_config(path)

    def load_config(self, path: str | Path) -> None:
        try:
            cfg = cfgmod.load(path)
        except ConfigError as e:
            self._on_session_error(f"{Path(path).name} was not loaded:\n\n" + "\n".join(e.problems), "")
            return
        if self.session.trainer is not None or self.session.busy:
            self._on_session_error("A model exists; choose File › New run first, then load the config.", "")
            return
        self._preset_name = _matching_preset(cfg)
        self.session.set_config(cfg)
        self._update_preset_label()

    @Slot()
    def _on_save_config_triggered(self) -> None:
        path, _ = QFileDialog.getSaveFileName(
            self, "Save Config", str(Path.cwd() / "config.toml"), CONFIG_FILTER
        )
        if path:
            try:
                cfgmod.save(self.session.config, path)
            except OSError as e:
                self._on_session_error(f"Cannot write {path}: {e.strerror or e}", "")

    @Slot(int)
    def _on_preset_activated(self, index: int) -> None:
        name = self._preset.itemData(index)
        self._preset.setCurrentIndex(0)
        if name is None:
            return
        if self.session.trainer is not None or self.session.busy:
            self._on_session_error("A model exists; choose File › New run first, then pick a preset.", "")
            return
        self._preset_name = name
        self.session.set_config(_preset_config(name))
        self._update_preset_label()

    def _update_preset_label(self) -> None:
        """Show the preset loaded, in the chooser and the window title, until a key is edited away
        from it; then "(modified)"."""
        name = self._preset_name
        if name is None:
            self._preset.setItemText(0, "Load a preset…")
        else:
            self._preset.setItemText(0, f"Preset: {self._preset_shown()}")
        self._update_title()

    def _preset_shown(self) -> str:
        name = self._preset_name or ""
        return name if not name or self.session.config == _preset_config(name) else f"{name} (modified)"

    @Slot()
    def _update_title(self, *_args) -> None:
        """The run (its name, and its folder's when they differ) and the preset it came from:
        "20261207-101500-ring8 · ring8 — GAN Studio"."""
        parts = []
        run_dir = self.session.run_dir
        if run_dir is not None:
            info = self.runs.info(run_dir)
            name = info.name if info is not None else ""
            folder = run_dir.name
            parts.append(folder if not name or folder.endswith(name) else f"{name} ({folder})")
        if self._preset_name is not None:
            parts.append(self._preset_shown())
        self.setWindowTitle(" · ".join(parts) + f" — {TITLE}" if parts else TITLE)

    def shortcut_rows(self) -> list[tuple[str, str, str]]:
        return shortcuts.rows(self.menuBar())

    @Slot()
    def _on_shortcuts_triggered(self) -> None:
        if self._shortcuts_dialog is None:
            self._shortcuts_dialog = shortcuts.ShortcutsDialog(self, SPACE_RULE)
        self._shortcuts_dialog.refresh(self.shortcut_rows())
        self._shortcuts_dialog.show()  # not modal: it can stay open while training runs
        self._shortcuts_dialog.raise_()

    @Slot()
    def _on_about_triggered(self) -> None:
        QMessageBox.about(
            self,
            "About GAN Studio",
            f"<b>GAN Studio</b> {__version__}<br>Train generative adversarial networks and watch them train.",
        )

    # ----- session signals ---------------------------------------------------------------------

    @Slot(str)
    def _on_session_state_changed(self, state: str) -> None:
        self._update_actions()
        self.status.update_state()
        self._update_progress()  # no rate or ETA while paused or stopped

    @Slot(object)
    def _on_session_config_changed(self, cfg: Config) -> None:
        self.hyperparams.set_config(cfg)
        self._update_progress()
        self._update_actions()
        self._update_preset_label()

    @Slot()
    def _on_model_reset(self) -> None:
        # "Stopped at step N" and the like were about the run that is gone.
        self.statusBar().clearMessage()
        if self.session.checkpoint_path is not None or self.session.following:
            self._preset_name = _matching_preset(self.session.config)  # its config is the run's
        self.plots.refresh()
        self.checkpoints.set_folder(self.session.checkpoint_folder())
        self.samples.set_default_folder(self._samples_folder())
        self.status.clear_where()
        self._update_progress()
        self._update_actions()

    @Slot(object)
    def _on_model_changed(self, changes) -> None:
        run = self.session.run
        if "info" in changes:
            self.checkpoints.set_folder(self.session.checkpoint_folder())
            self.samples.set_default_folder(self._samples_folder())
            self.status.update_where()
        if "checkpoints" in changes:
            self.checkpoints.refresh()
        if "alerts" in changes and run.alerts:
            ev = run.alerts[-1]
            self.statusBar().showMessage(f"⚠ step {ev.step}: {ev.message}", 15000)
        if changes.aspects & {"stats", "status", "info", "config"}:
            self._update_progress()
            if self.session.run_dir is not None:
                wall = run.last_stats.wall if run.last_stats is not None else 0.0
                self.runs.show_live(self.session.step, run.status, wall)
        if "status" in changes:
            self._update_actions()
            self._on_session_state_changed(self.session.state)

    @Slot(str)
    def _on_session_health_paused(self, reason: str) -> None:
        box = self._message_box(QMessageBox.Icon.Warning, "Training paused", reason)
        box.setObjectName("health_dialog")
        last = self._last_good_checkpoint()
        if last is not None:
            rollback = box.addButton("Open Last Good Checkpoint", QMessageBox.ButtonRole.AcceptRole)
            rollback.setObjectName("health_rollback")
            rollback.clicked.connect(lambda: self._roll_back(last))
        box.addButton("Keep Paused", QMessageBox.ButtonRole.RejectRole)
        box.open()

    def _last_good_checkpoint(self) -> Path | None:
        folder = self.session.folder
        return folder.latest_checkpoint() if folder is not None else None

    def _roll_back(self, path: Path) -> None:
        def reopen():
            self.session.thread_finished.disconnect(reopen)
            self.open_checkpoint(path)

        self.session.thread_finished.connect(reopen)
        self.session.stop()

    @Slot()
    def _update_alerts_title(self) -> None:
        # Short, so the tab beside Hyperparameters and Checkpoints shows the count in full.
        n = self.alerts.count()
        dock = self._docks["alerts"]
        dock.setWindowTitle(f"⚠ {n}" if n else "Alerts")
        # The View menu shows the dock's title; there it is named, not counted.
        dock.toggleViewAction().setText("Alerts")

    @Slot()
    def _on_alert_banner_show_requested(self) -> None:
        dock = self._docks["alerts"]
        dock.show()
        dock.raise_()
        self.alerts.select_newest()

    def _samples_folder(self) -> Path | None:
        """Where the run's sample grids are written, when there is a run folder."""
        folder = self.session.folder
        return folder.samples_dir if folder is not None else None

    @Slot(str)
    def _on_samples_saved(self, path: str) -> None:
        self.statusBar().showMessage(f"Saved {path}", 10000)

    @Slot(object)
    def _on_session_reference_points(self, points) -> None:
        """2D data: show the lab next to the samples; image data: hide it."""
        self._lab2d_wanted = points is not None
        if points is not None or self._lab2d is not None:  # image data: an unbuilt lab can wait
            self.lab2d.set_reference_points(points)
        dock = self._docks["lab2d"]
        dock.toggleViewAction().setEnabled(points is not None)
        if points is None:
            dock.hide()
        else:
            dock.show()
            dock.raise_()

    @Slot(str, str)
    def _on_session_error(self, message: str, details: str) -> None:
        # Keys named as the window names them ("Runs folder (log.out)"), whoever wrote the message.
        box = self._message_box(QMessageBox.Icon.Warning, "GAN Studio", with_labels(message))
        box.setObjectName("error_dialog")
        if details:
            box.setDetailedText(details)
        box.open()

    def _message_box(self, icon, title: str, text: str) -> QMessageBox:
        # Window-modal and non-blocking: training goes on while the user reads it.
        box = QMessageBox(icon, title, text, QMessageBox.StandardButton.NoButton, self)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.finished.connect(lambda _=0, b=box: self._dialogs.remove(b) if b in self._dialogs else None)
        self._dialogs.append(box)
        if icon != QMessageBox.Icon.Warning or not box.buttons():
            box.setStandardButtons(QMessageBox.StandardButton.Ok)
        return box

    @Slot(str)
    def _on_session_message(self, text: str) -> None:
        self.statusBar().showMessage(text, 10000)

    @Slot()
    def _on_session_thread_finished(self) -> None:
        pending = self._pending_recent
        if (
            pending
            and self.session.checkpoint_path is not None
            and str(self.session.checkpoint_path) == pending
        ):
            self._add_recent(pending)
        self._pending_recent = None
        self._update_actions()
        self._update_progress()
        if self._closing:
            QTimer.singleShot(0, self.close)

    @Slot(bool)
    def _on_hyperparams_valid_changed(self, valid: bool) -> None:
        self._update_actions()

    # ----- derived UI state --------------------------------------------------------------------

    def _update_actions(self) -> None:
        """Enable each action exactly when it can run; a disabled one says why (action_rules)."""
        s = self.session
        reasons = s.handle.action_reasons(self.hyperparams.is_valid(), self._closing)
        self.action_start.setProperty("tip", s.handle.start_tip)
        for name, why in reasons.items():
            if name == "preset":
                self._preset.setEnabled(not why)
                self._preset.setToolTip(PRESET_TIP if not why else f"{PRESET_TIP} — not now: {why}")
            else:
                self._set_action(getattr(self, name), why)
        st = s.state
        self.action_start.setText("&Continue" if s.following or st == STOPPED else "&Start")
        self.action_pause.setText("&Resume" if st == PAUSED else "&Pause")
        self.action_pause.setIcon(self._pause_icons[st == PAUSED])
        self.recent_menu.setEnabled(bool(self._recent()) and not reasons["action_open_run"])
        self.hyperparams.set_running(s.handle.has_model or s.busy)
        self.hyperparams.set_read_only(s.handle.edit_problem())

    @staticmethod
    def _set_action(action: QAction, why: str) -> None:
        """Enabled when `why` is ""; else disabled, and its tooltip and status-bar tip say why."""
        tip = action.property("tip") or ""
        keys = action.shortcut().toString()
        action.setEnabled(not why)
        if why:
            action.setToolTip(f"{tip} — not now: {why}" if tip else f"Not now: {why}")
            action.setStatusTip(action.toolTip())
        else:
            action.setToolTip(f"{tip} ({keys})" if tip and keys else tip)
            action.setStatusTip(tip)

    def _update_progress(self) -> None:
        self.status.update_progress()

    # ----- runs side by side: the Runs dock, compared runs, forks, export -----------------------

    @Slot()
    def _on_current_run_changed(self, *_args) -> None:
        """The current run is listed in bold and never compared with itself; the Runs dock lists
        the config's log.out. Compared runs of another dataset than a newly current run's are
        unticked (the dock says which, and why, until the next tick)."""
        s = self.session
        self.runs.set_default_root(s.config.log.out)
        self.runs.set_current(s.run_dir, s.config.data.dataset)
        info = self.runs.info(s.run_dir) if s.run_dir is not None else None
        self.compare.set_current_name(
            info.name if info is not None else s.run_dir.name if s.run_dir is not None else "current run"
        )
        self._on_runs_ticked_changed(self.runs.ticked())
        has_log = s.folder is not None and s.folder.metrics_path.exists()
        for a in (self.action_export_csv, self.action_export_tensorboard):
            self._set_action(
                a,
                ""
                if has_log and not self.exporter.busy
                else "an export is being written"
                if has_log
                else "the run has logged nothing yet; Start training or open a run first",
            )
        self._set_action(
            self.action_what_if,
            ""
            if s.folder is not None or s.checkpoint_path is not None
            else "there is no run to fork yet; Start training or open a run first",
        )

    @Slot(list)
    def _on_runs_ticked_changed(self, ticked: list) -> None:
        current = self.session.run_dir.resolve() if self.session.run_dir is not None else None
        self.overlays.set_runs([(p, name) for p, name in ticked if p.resolve() != current])

    @Slot(object)
    def _on_overlays_changed(self, _run=None) -> None:
        old, self._plot_overlays = self._plot_overlays, {}
        for run in self.overlays.runs():
            overlay = old.get(run) or Overlay(run.name, run.color, run.model)
            overlay.name = run.name
            self._plot_overlays[run] = overlay
        self.plots.set_overlays(list(self._plot_overlays.values()))

    @Slot(str)
    def _on_runs_error(self, message: str) -> None:
        self._on_session_error(message, "")

    def ask_forks(
        self, cfg: Config, count: int, title: str, base_label: str = "now"
    ) -> list[list[str]] | None:
        """Per fork, the `--set` arguments chosen in the fork dialog, whose first column (headed
        `base_label`) shows `cfg`; None if cancelled. Tests replace it."""
        dialog = ForkDialog(cfg, count, title, self, base_label=base_label)
        return dialog.overrides() if dialog.exec() == QDialog.DialogCode.Accepted else None

    @Slot(str)
    def fork_from(self, checkpoint: str) -> None:
        self.launcher.fork_from(checkpoint)

    @Slot()
    def what_if(self) -> None:
        self.launcher.what_if()

    @Slot()
    def _on_export_csv_triggered(self) -> None:
        folder = self.session.folder
        if folder is None:
            return
        path, _ = QFileDialog.getSaveFileName(
            self, "Export Curves as CSV", str(folder.path / "curves.csv"), "CSV (*.csv);;All files (*)"
        )
        if path:
            self.export_run("csv", path)

    @Slot()
    def _on_export_tensorboard_triggered(self) -> None:
        folder = self.session.folder
        if folder is None:
            return
        path = QFileDialog.getExistingDirectory(
            self, "Export to TensorBoard (a log folder)", str(folder.path.parent)
        )
        if path:
            self.export_run("tensorboard", path)

    def export_run(self, kind: str, target: str | Path) -> None:
        """Write the current run as CSV (`kind` "csv") or TensorBoard files ("tensorboard") on a
        worker thread; the status bar says where, a dialog what went wrong."""
        folder = self.session.folder
        if folder is not None:
            self.exporter.export(kind, folder, target)

    @Slot(str)
    def _on_exporter_done(self, text: str) -> None:
        self.statusBar().showMessage(text, 15000)

    # ----- window events -----------------------------------------------------------------------

    def ask_close(self) -> str:
        """'save', 'quit' or 'cancel' — asked when closing while training runs. Tests replace it."""
        box = QMessageBox(
            QMessageBox.Icon.Question,
            "GAN Studio",
            "Training is running. Save a checkpoint before quitting?",
            parent=self,
        )
        save = box.addButton("Save and Quit", QMessageBox.ButtonRole.AcceptRole)
        quit_ = box.addButton("Quit", QMessageBox.ButtonRole.DestructiveRole)
        box.addButton(QMessageBox.StandardButton.Cancel)
        box.exec()
        clicked = box.clickedButton()
        return "save" if clicked is save else "quit" if clicked is quit_ else "cancel"

    @Slot(QWidget, QWidget)
    def _on_app_focus_changed(self, old: QWidget | None, new: QWidget | None) -> None:
        if isinstance(old, QLineEdit):
            old.removeEventFilter(self)
        if isinstance(new, QLineEdit) and new.window() is self:
            new.installEventFilter(self)

    def eventFilter(self, watched, event) -> bool:  # noqa: N802 (Qt's name)
        """SPACE_RULE: a line edit takes a bare Space only while it holds an uncommitted edit (its
        `isModified()`; the hyperparameter panel clears it on commit). Otherwise the Space is left
        to the shortcut map, which pauses or resumes."""
        if (
            event.type() == QEvent.Type.ShortcutOverride
            and isinstance(watched, QLineEdit)
            and event.key() == Qt.Key.Key_Space
            and event.modifiers() == Qt.KeyboardModifier.NoModifier
            and not watched.isModified()
            and watched.window() is self
        ):
            event.ignore()  # not overridden: the window's Space shortcut gets it
            return True
        return super().eventFilter(watched, event)

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 (Qt's name)
        self.session.stop_following()  # a followed run goes on without us; its reader thread ends
        if self.session.busy:
            if not self._closing:
                choice = self.ask_close() if self.session.state in (RUNNING, PAUSED, STARTING) else "quit"
                if choice == "cancel":
                    event.ignore()
                    return
                self._closing = True
                self._update_actions()
                self.session.request_shutdown(save=choice == "save")
                self.status.update_state("Saving and stopping…" if choice == "save" else "Stopping…")
            # Close for real once the worker says it has finished (never kill a thread).
            event.ignore()
            return
        self.save_settings()
        for box in list(self._dialogs):
            box.close()
        self.runs.shutdown()
        self.overlays.shutdown()
        self.launcher.shutdown()
        self.exporter.wait()
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
            self._fit_docks() if fit_all else self._fit_left_docks()

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 (Qt's name)
        super().paintEvent(event)
        if not self._finish_scheduled:
            # After the first paint, not before it: the window appears without waiting for it.
            self._finish_scheduled = True
            QTimer.singleShot(0, self, self.finish_building)

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802
        urls = event.mimeData().urls()
        if urls and urls[0].isLocalFile():
            path = Path(urls[0].toLocalFile())
            if path.suffix == ".pt" or path.is_dir():  # a checkpoint, or a run folder
                event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802
        urls = event.mimeData().urls()
        if urls and urls[0].isLocalFile():
            event.acceptProposedAction()
            self.open_path(urls[0].toLocalFile())
