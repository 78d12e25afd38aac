"""The window's actions, menus and toolbar. Each action is an attribute of the window
(`window.action_start`) and a child of it named the same, for tests and automation; it calls the
session or one of the window's operations. When an action may run is training_actions.py's."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QMainWindow, QMenu, QToolBar

from ganstudio.qt import window_settings
from ganstudio.qt.docks import DockLayout
from ganstudio.qt.run_handle import RunHandle


def add_action(window: QMainWindow, name: str, text: str, slot, shortcut=None, tip: str = "") -> QAction:
    a = QAction(text, window)
    a.setObjectName(name)
    if shortcut is not None:
        a.setShortcut(QKeySequence(shortcut))
    if tip:
        a.setProperty("tip", tip)  # what it does; a disabled action adds why not (training_actions)
        a.setStatusTip(tip)
        a.setToolTip(f"{tip} ({a.shortcut().toString()})" if shortcut is not None else tip)
    a.triggered.connect(slot)
    window.addAction(a)
    return a


def make_actions(w: Any) -> None:
    """Give the window `w` its actions, as attributes: its `session`, `files` (file_dialogs.py),
    `dialogs`, `dock_layout` and `launcher` must exist."""
    K = QKeySequence.StandardKey
    s, files = w.session, w.files
    w.action_start = add_action(w, "action_start", "&Start", w.start, "Ctrl+Return", RunHandle.start_tip)
    w.action_pause = add_action(
        w, "action_pause", "&Pause", s.toggle_pause, "Space", "Pause or resume training"
    )
    w.action_step = add_action(
        w, "action_step", "S&tep", s.single_step, "Ctrl+.", "Run one training iteration, then stay paused"
    )
    w.action_stop = add_action(
        w,
        "action_stop",
        "St&op",
        s.stop,
        "Ctrl+Shift+Return",
        "Stop training after the current step; the model is kept",
    )
    w.action_start_processes = add_action(
        w,
        "action_start_processes",
        "Start on &N Processes…",
        w.start_on_processes,
        None,
        "Train the configuration with torchrun in N processes (one per GPU, or CPU processes), "
        "and follow it here",
    )
    w.action_separate_process = add_action(
        w,
        "action_separate_process",
        "Train in a Se&parate Process",
        lambda on: window_settings.set_separate_process(w.settings, on),  # where the next run trains
        None,
        "Start new runs in a process of their own, followed here through their run folder: the "
        "window and the training no longer share one Python interpreter (off: on a thread of the app)",
    )
    w.action_separate_process.setCheckable(True)
    w.action_separate_process.setChecked(window_settings.separate_process(w.settings))
    w.action_new_run = add_action(
        w,
        "action_new_run",
        "&New Run",
        s.new_run,
        K.New,
        "Forget the current model and start over from the configuration",
    )
    w.action_save_checkpoint = add_action(
        w,
        "action_save_checkpoint",
        "&Save Checkpoint",
        files.save_checkpoint,
        K.Save,
        "Save a checkpoint in the run folder",
    )
    w.action_save_checkpoint_as = add_action(
        w,
        "action_save_checkpoint_as",
        "Save Checkpoint &As…",
        files.save_checkpoint_as,
        K.SaveAs,
        "Save a checkpoint to a file of your choice",
    )
    w.action_open_checkpoint = add_action(
        w,
        "action_open_checkpoint",
        "&Open Checkpoint…",
        files.open_checkpoint,
        K.Open,
        "Open a checkpoint, ready to resume",
    )
    w.action_open_run = add_action(
        w,
        "action_open_run",
        "Open &Run…",
        files.open_run,
        "Ctrl+Shift+O",
        "Open a run folder and follow it live (a run trained here, headless, or on another machine)",
    )
    w.action_load_config = add_action(
        w,
        "action_load_config",
        "&Load Config…",
        files.load_config,
        None,
        "Load a configuration from a TOML file",
    )
    w.action_save_config = add_action(
        w,
        "action_save_config",
        "Save Config &As…",
        files.save_config,
        None,
        "Save the configuration as a TOML file",
    )
    w.action_quit = add_action(w, "action_quit", "&Quit", w.close, K.Quit, "Quit GAN Studio")
    w.action_reset_layout = add_action(
        w,
        "action_reset_layout",
        "&Reset Layout",
        w.dock_layout.reset,
        None,
        "Put the panels back where they were at first, at their first sizes",
    )
    w.action_shortcuts = add_action(
        w,
        "action_shortcuts",
        "&Keyboard Shortcuts",
        w.dialogs.show_shortcuts,
        None,
        "List the keyboard shortcuts",
    )
    w.action_about = add_action(w, "action_about", "&About GAN Studio", w.dialogs.about)
    w.action_export_csv = add_action(
        w,
        "action_export_csv",
        "Curves as &CSV…",
        files.export_csv,
        None,
        "Write the current run's curves as CSV: one row per logged step, a column per series",
    )
    w.action_export_tensorboard = add_action(
        w,
        "action_export_tensorboard",
        "&TensorBoard Event Files…",
        files.export_tensorboard,
        None,
        "Write the current run as TensorBoard event files (scalars, metrics, samples, changes)",
    )
    w.action_import = add_action(
        w,
        "action_import",
        "&Import…",
        files.import_run,
        None,
        "Make a run of a TensorBoard log or a CSV of curves (no config or checkpoints), and open it",
    )
    w.action_what_if = add_action(
        w,
        "action_what_if",
        "&What If…",
        w.launcher.what_if,
        None,
        "Pause, then fork the run at this step twice with two settings and train both, drawn on the plots",
    )


def make_menus(w: Any, layout: DockLayout) -> QMenu:
    """File, Training, View (a dock each) and Help; returns File › Open Recent, filled by
    recent.RecentFiles."""
    mb = w.menuBar()
    file = mb.addMenu("&File")
    file.addAction(w.action_new_run)
    file.addAction(w.action_open_checkpoint)
    file.addAction(w.action_open_run)
    recent_menu = file.addMenu("Open &Recent")
    recent_menu.setObjectName("menu_recent")
    file.addAction(w.action_save_checkpoint)
    file.addAction(w.action_save_checkpoint_as)
    export = file.addMenu("&Export")
    export.setObjectName("menu_export")
    export.addAction(w.action_export_csv)
    export.addAction(w.action_export_tensorboard)
    file.addAction(w.action_import)
    file.addSeparator()
    file.addAction(w.action_load_config)
    file.addAction(w.action_save_config)
    file.addSeparator()
    file.addAction(w.action_quit)
    train = mb.addMenu("&Training")
    for a in (w.action_start, w.action_pause, w.action_step, w.action_stop):
        train.addAction(a)
    train.addAction(w.action_start_processes)
    train.addAction(w.action_separate_process)
    train.addSeparator()
    train.addAction(w.action_what_if)
    view = mb.addMenu("&View")
    for dock in layout.docks.values():
        view.addAction(dock.toggleViewAction())
        dock.toggleViewAction().triggered.connect(layout.on_view_dock_triggered)
    view.addSeparator()
    view.addAction(w.action_reset_layout)
    help_ = mb.addMenu("&Help")
    help_.addAction(w.action_shortcuts)
    help_.addAction(w.action_about)
    return recent_menu


def make_toolbar(w: Any) -> None:
    tb = QToolBar("Training", w)
    tb.setObjectName("toolbar_training")
    tb.setMovable(False)
    tb.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
    style = w.style()
    icons = {
        w.action_start: style.StandardPixmap.SP_MediaPlay,
        w.action_pause: style.StandardPixmap.SP_MediaPause,
        w.action_step: style.StandardPixmap.SP_MediaSkipForward,
        w.action_stop: style.StandardPixmap.SP_MediaStop,
        w.action_save_checkpoint: style.StandardPixmap.SP_DialogSaveButton,
        w.action_open_checkpoint: style.StandardPixmap.SP_DialogOpenButton,
    }
    for action, pixmap in icons.items():
        action.setIcon(style.standardIcon(pixmap))
    for a in (w.action_start, w.action_pause, w.action_step, w.action_stop):
        tb.addAction(a)
    tb.addSeparator()
    tb.addAction(w.action_save_checkpoint)
    tb.addAction(w.action_open_checkpoint)
    w.addToolBar(Qt.ToolBarArea.TopToolBarArea, tb)
