"""The main window: menus, actions, docks and the status bar. No training logic lives here; every
action goes to the Session, and the panels follow the Session's signals."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSettings, Qt, QTimer, Slot
from PySide6.QtGui import QAction, QCloseEvent, QDragEnterEvent, QDropEvent, QKeySequence, QPaintEvent
from PySide6.QtWidgets import (
    QComboBox,
    QDockWidget,
    QFileDialog,
    QLabel,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QToolBar,
    QWidget,
)

from ganstudio import __version__
from ganstudio.core import config as cfgmod
from ganstudio.core import presets
from ganstudio.core.config import Config, ConfigError
from ganstudio.qt.panels.alerts import AlertsPanel
from ganstudio.qt.panels.checkpoints import CheckpointsPanel
from ganstudio.qt.panels.hyperparams import HyperparamsPanel
from ganstudio.qt.panels.lab2d import Lab2DPanel
from ganstudio.qt.panels.plots import PlotsPanel
from ganstudio.qt.panels.samples import SamplesPanel
from ganstudio.qt.session import IDLE, PAUSED, RUNNING, STARTING, STOPPED, STOPPING, Session

MAX_RECENT = 8
CHECKPOINT_FILTER = "GAN Studio checkpoints (*.pt);;All files (*)"
CONFIG_FILTER = "TOML config (*.toml);;All files (*)"


def _fmt_duration(seconds: float) -> str:
    if not seconds or seconds != seconds or seconds == float("inf") or seconds < 0:
        return "—"
    m, s = divmod(int(seconds), 60)
    h, m = divmod(m, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


class MainWindow(QMainWindow):
    def __init__(self, config: Config | None = None, settings: QSettings | None = None):
        super().__init__()
        self.setObjectName("main_window")
        self.setWindowTitle("GAN Studio")
        self.setAcceptDrops(True)
        self.settings = settings if settings is not None else QSettings()
        self._closing = False
        self._last_stats = None
        self._pending_recent: str | None = None
        self._dialogs: list[QMessageBox] = []

        self.session = Session(config or self._last_config(), self)
        s = self.session

        self.plots = PlotsPanel(s.history)
        # Quality metrics arrive every metrics.every steps with a bootstrap std: dots and bands.
        self.plots.add_tab("Coverage", [("modes_covered", "modes covered"),
                                               ("classes_covered", "classes covered")],
                           y_label="count", bands=True)
        self.plots.add_tab("Precision/recall", [("precision", "precision"), ("recall", "recall"),
                                                  ("density", "density"), ("coverage", "coverage"),
                                                  ("high_quality", "high-quality share")],
                           y_label="score", bands=True)
        self.plots.add_tab("FD", [("fd", "Fréchet distance (classifier features)")],
                           y_label="FD", bands=True)
        self.setCentralWidget(self.plots)
        self._lab2d: Lab2DPanel | None = None  # built after the first paint: see finish_building
        self._finish_scheduled = False
        self.alerts = AlertsPanel()
        self.samples = SamplesPanel()
        self.hyperparams = HyperparamsPanel(s.config)
        self.checkpoints = CheckpointsPanel()
        self._preset = QComboBox()
        self._preset.setObjectName("hyperparams_preset")
        self._preset.addItem("Load a preset…", None)
        for name in presets.NAMES:
            self._preset.addItem(name, name)
            self._preset.setItemData(self._preset.count() - 1, presets.describe(name),
                                     Qt.ItemDataRole.ToolTipRole)
        self._preset.setToolTip("Replace the configuration with a named starting point")
        self._preset.activated.connect(self._on_preset_activated)
        self.hyperparams.add_header_widget(self._preset)

        self._docks = {
            "samples": self._dock("Samples", self.samples, Qt.DockWidgetArea.RightDockWidgetArea),
            "hyperparams": self._dock("Hyperparameters", self.hyperparams,
                                      Qt.DockWidgetArea.LeftDockWidgetArea),
            "checkpoints": self._dock("Checkpoints", self.checkpoints,
                                      Qt.DockWidgetArea.LeftDockWidgetArea),
            "alerts": self._dock("Alerts", self.alerts, Qt.DockWidgetArea.LeftDockWidgetArea),
            # Empty until finish_building; the dock itself exists now, for restoreState and the menu.
            "lab2d": self._dock("2D Lab", None, Qt.DockWidgetArea.RightDockWidgetArea, "lab2d_panel"),
        }
        self.tabifyDockWidget(self._docks["hyperparams"], self._docks["checkpoints"])
        self.tabifyDockWidget(self._docks["hyperparams"], self._docks["alerts"])
        self._docks["hyperparams"].raise_()
        # Shown when the data is 2D. Hidden before it is tabified: hidden after, it left a stray
        # "Samples | 2D Lab" tab bar drawn across the samples dock.
        self._docks["lab2d"].hide()
        self.tabifyDockWidget(self._docks["samples"], self._docks["lab2d"])
        self._docks["lab2d"].toggleViewAction().setEnabled(False)

        self._make_actions()
        self._make_menus()
        self._make_toolbar()
        self._make_status_bar()

        s.state_changed.connect(self._on_session_state_changed)
        s.config_changed.connect(self._on_session_config_changed)
        s.run_reset.connect(self._on_session_run_reset)
        s.run_started.connect(self._on_session_run_started)
        s.stats_ready.connect(self._on_session_stats)
        s.samples_ready.connect(self.samples.add_samples)
        s.timeline_loaded.connect(self.samples.load_timeline)
        s.reference_points.connect(self.samples.set_reference_points)
        s.reference_points.connect(self._on_session_reference_points)
        s.run_reset.connect(self.alerts.clear)
        s.checkpoint_saved.connect(self._on_session_checkpoint_saved)
        s.health_paused.connect(self._on_session_health_paused)
        s.alert.connect(self._on_session_alert)
        s.error.connect(self._on_session_error)
        s.message.connect(self._on_session_message)
        s.finished.connect(self._on_session_finished)
        s.thread_finished.connect(self._on_session_thread_finished)
        self.hyperparams.config_edited.connect(s.set_config)
        self.hyperparams.valid_changed.connect(self._on_hyperparams_valid_changed)
        self.checkpoints.open_requested.connect(self.open_checkpoint)

        self.resize(1360, 860)
        geometry = self.settings.value("window/geometry")
        if geometry is not None:
            self.restoreGeometry(geometry)
        state = self.settings.value("window/state")
        if state is not None:
            self.restoreState(state)
        self._update_actions()
        self._update_recent_menu()

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
        hidden until a 2D run starts. Runs from the event loop right after the first paint, or
        when `lab2d` is first used; later calls do nothing."""
        if self._lab2d is not None:
            return
        panel = Lab2DPanel()
        self._lab2d = panel
        self._docks["lab2d"].setWidget(panel)
        self.session.samples_ready.connect(panel.show_samples)
        self.session.run_reset.connect(panel.clear)

    def _action(self, name: str, text: str, slot, shortcut=None, tip: str = "") -> QAction:
        a = QAction(text, self)
        a.setObjectName(name)
        if shortcut is not None:
            a.setShortcut(QKeySequence(shortcut))
        if tip:
            a.setStatusTip(tip)
            a.setToolTip(f"{tip} ({a.shortcut().toString()})" if shortcut is not None else tip)
        a.triggered.connect(slot)
        self.addAction(a)
        return a

    def _make_actions(self) -> None:
        K = QKeySequence.StandardKey
        s = self.session
        self.action_start = self._action("action_start", "&Start", self._on_start_triggered, "Ctrl+Return",
                                         "Start training, or continue the current model")
        self.action_pause = self._action("action_pause", "&Pause", s.toggle_pause, "Space",
                                         "Pause or resume training")
        self.action_step = self._action("action_step", "S&tep", s.single_step, "Ctrl+.",
                                        "Run one training iteration, then stay paused")
        self.action_stop = self._action("action_stop", "St&op", s.stop, "Ctrl+Shift+Return",
                                        "Stop training after the current step; the model is kept")
        self.action_new_run = self._action("action_new_run", "&New Run", self._on_new_run_triggered, K.New,
                                           "Forget the current model and start over from the configuration")
        self.action_save_checkpoint = self._action(
            "action_save_checkpoint", "&Save Checkpoint", self._on_save_checkpoint_triggered, K.Save,
            "Save a checkpoint in the run folder")
        self.action_save_checkpoint_as = self._action(
            "action_save_checkpoint_as", "Save Checkpoint &As…", self._on_save_checkpoint_as_triggered,
            K.SaveAs, "Save a checkpoint to a file of your choice")
        self.action_open_checkpoint = self._action(
            "action_open_checkpoint", "&Open Checkpoint…", self._on_open_checkpoint_triggered, K.Open,
            "Open a checkpoint, ready to resume")
        self.action_load_config = self._action("action_load_config", "&Load Config…",
                                               self._on_load_config_triggered, None,
                                               "Load a configuration from a TOML file")
        self.action_save_config = self._action("action_save_config", "Save Config &As…",
                                               self._on_save_config_triggered, None,
                                               "Save the configuration as a TOML file")
        self.action_quit = self._action("action_quit", "&Quit", self.close, K.Quit, "Quit GAN Studio")
        self.action_about = self._action("action_about", "&About GAN Studio", self._on_about_triggered)

    def _make_menus(self) -> None:
        mb = self.menuBar()
        file = mb.addMenu("&File")
        file.addAction(self.action_new_run)
        file.addAction(self.action_open_checkpoint)
        self.recent_menu = file.addMenu("Open &Recent")
        self.recent_menu.setObjectName("menu_recent")
        file.addAction(self.action_save_checkpoint)
        file.addAction(self.action_save_checkpoint_as)
        file.addSeparator()
        file.addAction(self.action_load_config)
        file.addAction(self.action_save_config)
        file.addSeparator()
        file.addAction(self.action_quit)
        train = mb.addMenu("&Training")
        for a in (self.action_start, self.action_pause, self.action_step, self.action_stop):
            train.addAction(a)
        view = mb.addMenu("&View")
        for dock in self._docks.values():
            view.addAction(dock.toggleViewAction())
        mb.addMenu("&Help").addAction(self.action_about)

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
        for a in (self.action_start, self.action_pause, self.action_step, self.action_stop):
            tb.addAction(a)
        tb.addSeparator()
        tb.addAction(self.action_save_checkpoint)
        tb.addAction(self.action_open_checkpoint)
        self.addToolBar(Qt.ToolBarArea.TopToolBarArea, tb)

    def _make_status_bar(self) -> None:
        sb = self.statusBar()
        self.status_state = QLabel("Ready")
        self.status_state.setObjectName("status_state")
        self.status_progress = QProgressBar()
        self.status_progress.setObjectName("status_progress")
        self.status_progress.setMaximumWidth(220)
        self.status_epoch = QLabel()
        self.status_rate = QLabel()
        self.status_eta = QLabel()
        self.status_device = QLabel()
        for name, w in (("status_epoch", self.status_epoch), ("status_rate", self.status_rate),
                        ("status_eta", self.status_eta), ("status_device", self.status_device)):
            w.setObjectName(name)
        sb.addPermanentWidget(self.status_state)
        sb.addPermanentWidget(self.status_progress)
        for w in (self.status_epoch, self.status_rate, self.status_eta, self.status_device):
            sb.addPermanentWidget(w)
        self._update_progress()

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
            a.triggered.connect(lambda _=False, p=path: self.open_checkpoint(p))
        self.recent_menu.setEnabled(bool(items))

    def save_settings(self) -> None:
        self.settings.setValue("window/geometry", self.saveGeometry())
        self.settings.setValue("window/state", self.saveState())
        self.settings.setValue("session/config", cfgmod.to_toml(self.session.config))
        self.settings.sync()

    # ----- public operations (also for tests and automation) ------------------------------------

    def open_checkpoint(self, path: str | Path) -> None:
        if self.session.busy:
            self._on_session_error("Stop training before opening a checkpoint; the current run "
                                   "keeps going until you do.", "")
            return
        if self.session.open_checkpoint(path):
            self._pending_recent = str(path)

    def start(self) -> None:
        self._on_start_triggered()

    # ----- action handlers ---------------------------------------------------------------------

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
        if self.session.trainer is not None and self.session.trainer.checkpoint_dir is None and \
                not self.session.busy:
            self._on_save_checkpoint_as_triggered()
            return
        self.session.save_checkpoint()

    @Slot()
    def _on_save_checkpoint_as_triggered(self) -> None:
        start = str(self.session.run_dir or Path.cwd())
        path, _ = QFileDialog.getSaveFileName(self, "Save Checkpoint", start + "/checkpoint.pt",
                                              CHECKPOINT_FILTER)
        if path:
            self.session.save_checkpoint(path)
            self._add_recent(path)

    @Slot()
    def _on_open_checkpoint_triggered(self) -> None:
        start = str(self.session.run_dir or Path(self.session.config.log.out).resolve())
        path, _ = QFileDialog.getOpenFileName(self, "Open Checkpoint", start, CHECKPOINT_FILTER)
        if path:
            self.open_checkpoint(path)

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
        self.session.set_config(cfg)

    @Slot()
    def _on_save_config_triggered(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save Config", str(Path.cwd() / "config.toml"),
                                              CONFIG_FILTER)
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
        self.session.set_config(presets.get(name))

    @Slot()
    def _on_about_triggered(self) -> None:
        QMessageBox.about(self, "About GAN Studio",
                          f"<b>GAN Studio</b> {__version__}<br>Train generative adversarial networks "
                          "and watch them train.")

    # ----- session signals ---------------------------------------------------------------------

    @Slot(str)
    def _on_session_state_changed(self, state: str) -> None:
        self._update_actions()
        self.status_state.setText({
            IDLE: "Ready", STARTING: "Starting…", RUNNING: "Training", PAUSED: "Paused",
            STOPPING: "Stopping…", STOPPED: "Stopped",
        }[state])

    @Slot(object)
    def _on_session_config_changed(self, cfg: Config) -> None:
        self.hyperparams.set_config(cfg)
        self._update_progress()
        self._update_actions()

    @Slot()
    def _on_session_run_reset(self) -> None:
        self._last_stats = None
        self.plots.refresh()
        self.samples.clear()
        self._docks["alerts"].setWindowTitle("Alerts")
        self.checkpoints.set_folder(self.session.checkpoint_folder())
        self._update_progress()

    @Slot(object)
    def _on_session_run_started(self, ev) -> None:
        self.checkpoints.set_folder(self.session.run_dir / "checkpoints" if self.session.run_dir else None)
        self.status_device.setText(f"{ev.device} · {ev.threads} thread{'s' if ev.threads != 1 else ''}")
        self._update_progress()

    @Slot(list)
    def _on_session_stats(self, batch: list) -> None:
        last = batch[-1]
        self._last_stats = last
        self._update_progress()

    @Slot(object)
    def _on_session_checkpoint_saved(self, ev) -> None:
        self.checkpoints.refresh()

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
        if self.session.run_dir is None:
            return None
        latest = self.session.run_dir / "checkpoints" / "latest.pt"
        return latest if latest.exists() else None

    def _roll_back(self, path: Path) -> None:
        def reopen():
            self.session.thread_finished.disconnect(reopen)
            self.open_checkpoint(path)

        self.session.thread_finished.connect(reopen)
        self.session.stop()

    @Slot(object)
    def _on_session_alert(self, ev) -> None:
        self.alerts.add_alert(ev)
        self._docks["alerts"].setWindowTitle(f"Alerts ({self.alerts.count()})")
        self.statusBar().showMessage(f"⚠ step {ev.step}: {ev.message}", 15000)

    @Slot(object)
    def _on_session_reference_points(self, points) -> None:
        """2D data: show the lab next to the samples; image data: hide it."""
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
        box = self._message_box(QMessageBox.Icon.Warning, "GAN Studio", message)
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

    @Slot(object)
    def _on_session_finished(self, ev) -> None:
        self._update_progress()

    @Slot()
    def _on_session_thread_finished(self) -> None:
        pending = self._pending_recent
        if pending and self.session.checkpoint_path is not None and \
                str(self.session.checkpoint_path) == pending:
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
        s = self.session
        st = s.state
        valid = self.hyperparams.is_valid()
        stopping = st == STOPPING or self._closing
        self.action_start.setEnabled(valid and not stopping and s.can_start())
        self.action_start.setText("&Continue" if st == STOPPED else "&Start")
        self.action_pause.setEnabled(st in (RUNNING, PAUSED) and not stopping)
        self.action_pause.setText("&Resume" if st == PAUSED else "&Pause")
        self.action_step.setEnabled(
            not stopping and (st == PAUSED or (valid and not s.busy and s.can_start())))
        self.action_stop.setEnabled(st in (STARTING, RUNNING, PAUSED))
        has_model = s.trainer is not None
        self.action_save_checkpoint.setEnabled(has_model and st in (RUNNING, PAUSED, STOPPED))
        self.action_save_checkpoint_as.setEnabled(has_model and st in (RUNNING, PAUSED, STOPPED))
        self.action_open_checkpoint.setEnabled(not s.busy)
        self.recent_menu.setEnabled(not s.busy and bool(self._recent()))
        self.action_new_run.setEnabled(not s.busy and has_model)
        self.action_load_config.setEnabled(not s.busy and not has_model)
        self._preset.setEnabled(not s.busy and not has_model)
        self.hyperparams.set_running(has_model or s.busy)

    def _update_progress(self) -> None:
        s = self.session
        total = max(1, s.config.train.steps)
        step = s.step
        self.status_progress.setMaximum(total)
        # The text is set as a literal: with a "%v" format, QProgressBar repaints synchronously on
        # every setValue (0.6 ms, 20 times a second while training); this way it just updates.
        self.status_progress.setFormat(f"{step} / {total}")
        self.status_progress.setValue(min(step, total))
        last = self._last_stats
        if last is not None and s.history is not None and len(s.history):
            rate = last.values.get("steps_per_s", 0.0)
            self.status_epoch.setText(f"epoch {last.epoch:.1f}")
            self.status_rate.setText(f"{rate:,.0f} it/s")
            eta = (total - step) / rate if rate > 0 and s.state == RUNNING else float("nan")
            self.status_eta.setText(f"ETA {_fmt_duration(eta)}")
        else:
            self.status_epoch.setText("epoch —")
            self.status_rate.setText("— it/s")
            self.status_eta.setText("ETA —")
        if not self.status_device.text():
            self.status_device.setText("device: " + s.config.train.device)

    # ----- window events -----------------------------------------------------------------------

    def ask_close(self) -> str:
        """'save', 'quit' or 'cancel' — asked when closing while training runs. Tests replace it."""
        box = QMessageBox(QMessageBox.Icon.Question, "GAN Studio",
                          "Training is running. Save a checkpoint before quitting?", parent=self)
        save = box.addButton("Save and Quit", QMessageBox.ButtonRole.AcceptRole)
        quit_ = box.addButton("Quit", QMessageBox.ButtonRole.DestructiveRole)
        box.addButton(QMessageBox.StandardButton.Cancel)
        box.exec()
        clicked = box.clickedButton()
        return "save" if clicked is save else "quit" if clicked is quit_ else "cancel"

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 (Qt's name)
        if self.session.busy:
            if not self._closing:
                choice = self.ask_close() if self.session.state in (RUNNING, PAUSED, STARTING) else "quit"
                if choice == "cancel":
                    event.ignore()
                    return
                self._closing = True
                self._update_actions()
                self.session.request_shutdown(save=choice == "save")
                self.status_state.setText("Saving and stopping…" if choice == "save" else "Stopping…")
            # Close for real once the worker says it has finished (never kill a thread).
            event.ignore()
            return
        self.save_settings()
        for box in list(self._dialogs):
            box.close()
        event.accept()

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 (Qt's name)
        super().paintEvent(event)
        if not self._finish_scheduled:
            # After the first paint, not before it: the window appears without waiting for it.
            self._finish_scheduled = True
            QTimer.singleShot(0, self, self.finish_building)

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802
        urls = event.mimeData().urls()
        if urls and urls[0].isLocalFile() and urls[0].toLocalFile().endswith(".pt"):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802
        urls = event.mimeData().urls()
        if urls and urls[0].isLocalFile():
            event.acceptProposedAction()
            self.open_checkpoint(urls[0].toLocalFile())
