"""The preset chooser above the hyperparameters: it replaces the configuration with a named starting
point, and shows the preset loaded ("Preset: ring8") until a key is edited away from it ("ring8
(modified)"); the window's title shows the same."""

from __future__ import annotations

import functools

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import QComboBox

from ganstudio.core.config import Config, presets
from ganstudio.qt.session import Session

PRESET_TIP = "Replace the configuration with a named starting point"
PROMPT = "Load a preset…"


@functools.cache
def preset_config(name: str) -> Config:
    return presets.get(name)


def matching_preset(cfg: Config) -> str | None:
    """The preset whose config `cfg` is exactly, if any."""
    return next((name for name in presets.NAMES if preset_config(name) == cfg), None)


class PresetChooser(QComboBox):
    failed = Signal(str, str)  # (message, details) for a dialog
    label_changed = Signal()  # the preset shown changed: the window's title says it too

    def __init__(self, session: Session):
        super().__init__()
        self.setObjectName("hyperparams_preset")
        self._session = session
        self.addItem(PROMPT, None)
        for name in presets.NAMES:
            self.addItem(name, name)
            self.setItemData(self.count() - 1, presets.describe(name), Qt.ItemDataRole.ToolTipRole)
        self.setToolTip(PRESET_TIP)
        # As wide as the dock gives (the text elides), never holding a narrow dock wide because a
        # preset's name is long.
        self.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.setMinimumContentsLength(8)
        self.activated.connect(self._on_activated)
        self.name: str | None = None  # the preset last loaded, shown until edited away

    def adopt(self, cfg: Config) -> None:
        """A config from elsewhere (a file, a checkpoint, a run): its preset, if it is one."""
        self.name = matching_preset(cfg)

    def shown(self) -> str:
        """The preset's name, "(modified)" once the config left it; "" when none was loaded."""
        name = self.name or ""
        if not name or self._session.config == preset_config(name):
            return name
        return f"{name} (modified)"

    def update_label(self) -> None:
        self.setItemText(0, PROMPT if self.name is None else f"Preset: {self.shown()}")
        self.label_changed.emit()

    def set_blocked(self, why: str) -> None:
        """Enabled when `why` is ""; else disabled, and its tooltip says why."""
        self.setEnabled(not why)
        self.setToolTip(PRESET_TIP if not why else f"{PRESET_TIP} — not now: {why}")

    @Slot(int)
    def _on_activated(self, index: int) -> None:
        name = self.itemData(index)
        self.setCurrentIndex(0)
        if name is None:
            return
        s = self._session
        if s.has_model:
            self.failed.emit("A model exists; choose File › New run first, then pick a preset.", "")
            return
        self.name = name
        s.set_config(preset_config(name))
        self.update_label()
