"""The actions' state, read from the session's run handle: each action enabled exactly when it can
run, and a disabled one saying why in its tooltip and status tip (the rules: action_rules.py via
`handle.action_reasons`); Start/Continue and Pause/Resume say what they will do."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QObject, Slot
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QLabel, QStyle

from ganstudio.qt.exporter import Exporter
from ganstudio.qt.panels.hyperparams import HyperparamsPanel
from ganstudio.qt.presets_chooser import PresetChooser
from ganstudio.qt.recent import RecentFiles
from ganstudio.qt.session import PAUSED, STOPPED, Session

NO_LOG = "the run has logged nothing yet; Start training or open a run first"
EXPORTING = "an export is being written"
NO_RUN_TO_FORK = "there is no run to fork yet; Start training or open a run first"


def set_action(action: QAction, why: str) -> None:
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


class TrainingActions(QObject):
    """The window `window`'s actions (its `action_*` attributes, menus.py), the preset chooser,
    Open Recent and the hyperparameters' read-only state, kept to what the run allows now."""

    def __init__(
        self,
        window: Any,
        session: Session,
        hyperparams: HyperparamsPanel,
        presets: PresetChooser,
        recent: RecentFiles,
        exporter: Exporter,
    ):
        super().__init__(window)
        self._w = window
        self._session = session
        self._hyperparams = hyperparams
        self._presets = presets
        self._recent = recent
        self._exporter = exporter
        # Above the hyperparameters: an imported run's fields are not its config (they are read-only).
        self._imported_note = QLabel(objectName="imported_note", wordWrap=True)
        self._imported_note.hide()
        hyperparams.add_header_widget(self._imported_note)
        self.closing = False  # the window is closing: nothing may start
        # Pause becomes Resume while paused: it then shows what it will do, as Start does.
        style = window.style()
        self._pause_icons = (
            style.standardIcon(QStyle.StandardPixmap.SP_MediaPause),
            style.standardIcon(QStyle.StandardPixmap.SP_MediaPlay),
        )

    @Slot()
    def update(self) -> None:
        """Enable each action exactly when it can run; a disabled one says why (action_rules)."""
        s, w = self._session, self._w
        reasons = s.handle.action_reasons(self._hyperparams.is_valid(), self.closing)
        w.action_start.setProperty("tip", s.handle.start_tip)
        for name, why in reasons.items():
            if name == "preset":
                self._presets.set_blocked(why)
            else:
                set_action(getattr(w, name), why)
        st = s.state
        w.action_start.setText("&Continue" if s.following or st == STOPPED else "&Start")
        w.action_pause.setText("&Resume" if st == PAUSED else "&Pause")
        w.action_pause.setIcon(self._pause_icons[st == PAUSED])
        self._recent.set_allowed(not reasons["action_open_run"])
        self._hyperparams.set_running(s.has_model)
        self._hyperparams.set_read_only(s.handle.edit_problem())

    def update_run(self) -> None:
        """Export needs a run that logged something, What If a run to fork."""
        s, w = self._session, self._w
        has_log = s.folder is not None and s.folder.metrics_path.exists()
        export_why = "" if has_log and not self._exporter.busy else EXPORTING if has_log else NO_LOG
        for a in (w.action_export_csv, w.action_export_tensorboard):
            set_action(a, export_why)
        forkable = s.folder is not None or s.checkpoint_path is not None
        imported = s.handle.imported
        why = f"the run was {imported}: it has no checkpoint to fork" if imported else ""
        set_action(w.action_what_if, why or ("" if forkable else NO_RUN_TO_FORK))
        self._imported_note.setText(
            f"This run was {imported}: its configuration is not known." if imported else ""
        )
        self._imported_note.setVisible(bool(imported))
