"""The File menu's actions that ask for a path: each asks, then hands the path to the window's
public operation (open_checkpoint, open_run, load_config, export_run) or to the session. File ›
Import… runs its import here (`import_path`, on a worker thread) and opens the run it made."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

from PySide6.QtCore import QMimeData, QObject, Slot
from PySide6.QtWidgets import QFileDialog

from ganstudio.core import config as cfgmod
from ganstudio.qt.dialogs import Dialogs
from ganstudio.qt.recent import RecentFiles
from ganstudio.qt.run_importer import RunImporter
from ganstudio.qt.session import Session

CHECKPOINT_FILTER = "GAN Studio checkpoints (*.pt);;All files (*)"
CONFIG_FILTER = "TOML config (*.toml);;All files (*)"
IMPORT_FILTER = "CSV or TensorBoard events (*.csv *tfevents*);;All files (*)"


class FileWindow(Protocol):
    """What these dialogs need of the window they belong to (a QWidget: their parent)."""

    session: Session
    recent: RecentFiles
    dialogs: Dialogs

    def open_checkpoint(self, path: str | Path) -> None: ...
    def open_run(self, path: str | Path) -> None: ...
    def load_config(self, path: str | Path) -> None: ...
    def export_run(self, kind: str, target: str | Path) -> None: ...
    def statusBar(self) -> Any: ...  # noqa: N802 (Qt's name)


class FileDialogs(QObject):
    def __init__(self, window: FileWindow):
        super().__init__(window)
        self._w = window
        self.importer = RunImporter(self)  # File › Import…, on a worker thread
        self.importer.done.connect(self._on_importer_done)
        self.importer.failed.connect(self._on_importer_failed)

    @Slot()
    def save_checkpoint(self) -> None:
        """Save a checkpoint in the run folder; a model with no run folder asks where."""
        s = self._w.session
        if s.handle.needs_save_path():
            self.save_checkpoint_as()
            return
        s.save_checkpoint()

    @Slot()
    def save_checkpoint_as(self) -> None:
        s = self._w.session
        start = str(s.run_dir or Path.cwd())
        path, _ = QFileDialog.getSaveFileName(
            self._w, "Save Checkpoint", start + "/checkpoint.pt", CHECKPOINT_FILTER
        )
        if path:
            s.save_checkpoint(path)
            self._w.recent.add(path)

    @Slot()
    def open_checkpoint(self) -> None:
        s = self._w.session
        start = str(s.run_dir or Path(s.config.log.out).resolve())
        path, _ = QFileDialog.getOpenFileName(self._w, "Open Checkpoint", start, CHECKPOINT_FILTER)
        if path:
            self._w.open_checkpoint(path)

    @Slot()
    def open_run(self) -> None:
        s = self._w.session
        start = str(s.run_dir.parent if s.run_dir is not None else Path(s.config.log.out).resolve())
        path = QFileDialog.getExistingDirectory(self._w, "Open Run Folder", start)
        if path:
            self._w.open_run(path)

    @Slot()
    def load_config(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self._w, "Load Config", str(Path.cwd()), CONFIG_FILTER)
        if path:
            self._w.load_config(path)

    @Slot()
    def save_config(self) -> None:
        path, _ = QFileDialog.getSaveFileName(
            self._w, "Save Config", str(Path.cwd() / "config.toml"), CONFIG_FILTER
        )
        if path:
            try:
                cfgmod.save(self._w.session.config, path)
            except OSError as e:
                self._w.dialogs.error(f"Cannot write {path}: {e.strerror or e}", "")

    @Slot()
    def export_csv(self) -> None:
        folder = self._w.session.folder
        if folder is None:
            return
        path, _ = QFileDialog.getSaveFileName(
            self._w,
            "Export Curves as CSV",
            str(folder.path / "curves.csv"),
            "CSV (*.csv);;All files (*)",
        )
        if path:
            self._w.export_run("csv", path)

    @Slot()
    def export_tensorboard(self) -> None:
        folder = self._w.session.folder
        if folder is None:
            return
        path = QFileDialog.getExistingDirectory(
            self._w, "Export to TensorBoard (a log folder)", str(folder.path.parent)
        )
        if path:
            self._w.export_run("tensorboard", path)

    @Slot()
    def import_run(self) -> None:
        """A CSV of curves, or an events file of a TensorBoard log (its whole folder is imported)."""
        path, _ = QFileDialog.getOpenFileName(
            self._w, "Import a TensorBoard Log or a CSV", str(Path.cwd()), IMPORT_FILTER
        )
        if path:
            self.import_path(Path(path).parent if "tfevents" in Path(path).name else path)

    def import_path(self, source: str | Path) -> bool:
        """Import `source` into the runs folder (log.out, listed in the Runs dock), then open it."""
        out = Path(self._w.session.config.log.out).expanduser()
        if not self.importer.start(source, out):
            self._w.dialogs.error("An import is being written; wait for it to end.")
            return False
        self._w.statusBar().showMessage(f"Importing {source}…", 10000)
        return True

    @Slot(str, str)
    def _on_importer_done(self, path: str, summary: str) -> None:
        if self._w.session.busy:  # training here: the run waits in the Runs dock meanwhile
            self._w.statusBar().showMessage(f"Imported {path}; open it from the Runs dock", 15000)
            return
        self._w.open_run(path)
        self._w.statusBar().showMessage(f"Imported {summary.splitlines()[0]}", 15000)

    @Slot(str, str)
    def _on_importer_failed(self, message: str, details: str) -> None:
        self._w.dialogs.error(message, details)


def dropped_path(mime: QMimeData) -> Path | None:
    """The first local file or folder dropped on the window, if any."""
    urls = mime.urls()
    return Path(urls[0].toLocalFile()) if urls and urls[0].isLocalFile() else None
