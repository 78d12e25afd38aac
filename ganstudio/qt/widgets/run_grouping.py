"""The Runs dock's Groups button: whether replicates are grouped into one row, and which config keys
may differ between the runs of a group (train.seed by default; core.run.groups decides)."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtWidgets import QMenu, QToolButton, QWidget

from ganstudio.core.run import groups


class GroupingButton(QToolButton):
    """A button with a menu: "Group Replicates" (on or off) and "Keys That May Differ…". It calls
    `apply(keys)` with the keys to ignore, or None for no group rows. `panel` asks for text
    (`ask_text`, replaced by tests) and reports a bad key list (`error`)."""

    def __init__(self, panel: QWidget, apply: Callable[[tuple[str, ...] | None], None]):
        super().__init__(panel, objectName="runs_grouping")
        self._panel = panel
        self._apply = apply
        self._keys: tuple[str, ...] = groups.DEFAULT_IGNORED
        self.setText("Groups")
        self.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        menu = QMenu(self)
        self.enabled = menu.addAction("Group Replicates")
        self.enabled.setObjectName("runs_group_replicates")
        self.enabled.setCheckable(True)
        self.enabled.setChecked(True)
        self.enabled.toggled.connect(self._on_enabled_toggled)
        self.pick = menu.addAction("Keys That May Differ…", self.ask_keys)
        self.pick.setObjectName("runs_group_keys")
        self.setMenu(menu)
        self.show_keys(self._keys)

    def show_keys(self, keys: tuple[str, ...] | None) -> None:
        """Say what groups now (the panel's setting, however it was set)."""
        if keys is not None:
            self._keys = keys
        self.enabled.blockSignals(True)
        self.enabled.setChecked(keys is not None)
        self.enabled.blockSignals(False)
        self.setToolTip(
            "Runs are not grouped"
            if keys is None
            else f"Runs whose configs differ only in {', '.join(self._keys)} are one row, drawn as their "
            "mean and band when ticked"
        )

    def ask_keys(self) -> None:
        text = self._panel.ask_text(
            "Group Runs",
            "Group runs whose configs differ only in these keys (comma-separated):",
            ",".join(self._keys),
        )
        if text is None:
            return
        try:
            keys = groups.parse_keys(text)
        except groups.GroupKeysError as e:
            self._panel.error.emit(f"Runs not regrouped: {e}")
            return
        self._apply(keys)

    def _on_enabled_toggled(self, on: bool) -> None:
        self._apply(self._keys if on else None)
