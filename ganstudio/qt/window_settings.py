"""What the window keeps between sessions in QSettings: its geometry and dock layout, the last
configuration, and the Runs dock's added folders and baseline. (Open Recent's list: recent.py.)"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QMainWindow

from ganstudio.core import config as cfgmod
from ganstudio.core.config import Config, ConfigError

SEPARATE_PROCESS = "training/separate_process"


def last_config(settings: QSettings) -> Config:
    """The config the last session ended with, or the default one."""
    text = settings.value("session/config")
    if isinstance(text, str) and text:
        try:
            return cfgmod.from_toml(text, source="the last session's config")
        except ConfigError:
            pass  # an older or damaged setting: start from the default rather than fail
    return Config()


def restore_layout(settings: QSettings, window: QMainWindow) -> bool:
    """Restore the saved geometry and dock layout; whether there was a saved layout."""
    geometry = settings.value("window/geometry")
    if geometry is not None:
        window.restoreGeometry(geometry)
    state = settings.value("window/state")
    if state is not None:
        window.restoreState(state)
    return state is not None


def run_folders(settings: QSettings) -> list[str]:
    """The folders the user added to the Runs dock."""
    folders = settings.value("runs/folders", [])
    return [folders] if isinstance(folders, str) else list(folders or [])


def restore_runs(settings: QSettings, runs: Any) -> None:
    """Give the Runs dock (panels/runs.py) the folders the user added and the last session's
    baseline run, which it sets once a scan lists that run."""
    for folder in run_folders(settings):
        runs.add_root(folder)
    baseline = settings.value("runs/baseline", "")
    runs.restore_baseline(baseline if isinstance(baseline, str) else "")


def separate_process(settings: QSettings) -> bool:
    """Whether new runs train in a child process (Training › Train in a Separate Process)."""
    return str(settings.value(SEPARATE_PROCESS, "false")).lower() == "true"


def set_separate_process(settings: QSettings, on: bool) -> None:
    settings.setValue(SEPARATE_PROCESS, "true" if on else "false")


def save(settings: QSettings, window: QMainWindow, config: Config, runs: Any) -> None:
    """The window's layout, `config`, and the Runs dock's (`runs`) added folders and baseline."""
    settings.setValue("window/geometry", window.saveGeometry())
    settings.setValue("window/state", window.saveState())
    settings.setValue("session/config", cfgmod.to_toml(config))
    settings.setValue("runs/folders", [str(p) for p in runs.extra_roots()])
    baseline = runs.baseline()
    settings.setValue("runs/baseline", str(baseline) if baseline is not None else "")
    settings.sync()
