"""File › Export: a run's curves as CSV or TensorBoard event files, written on a worker thread.

The writing is the core's (ganstudio.core.run.export, the same as `ganstudio export`); this object only
runs it off the GUI thread and brings the outcome back as signals. Its slots run on the GUI thread
because it lives there: the worker's signals reach them queued. (A lambda connected to a worker's
signal would run on the worker thread and touch widgets from there.)
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, QThread, Signal, Slot

from ganstudio.core.run.events import Failed
from ganstudio.core.run.folder import RunFolder
from ganstudio.qt.worker import Worker, start_worker

KINDS = ("csv", "tensorboard")


def _write(kind: str, folder: RunFolder, target: str | Path) -> str:
    """Runs on the worker thread: write, and say what was written."""
    from ganstudio.core.run import export

    if kind == "csv":
        return f"Exported {export.export_csv(folder, target)} rows to {target}"
    logdir, counts = export.export_tensorboard(folder, target)
    return f"Exported to {logdir} ({counts['scalars']} scalars, {counts['images']} images)"


def _expected_errors() -> tuple[type[BaseException], ...]:
    from ganstudio.core.run.folder import RunFolderError
    from ganstudio.core.run.tensorboard import TensorBoardMissing

    return (RunFolderError, TensorBoardMissing, OSError)


class Exporter(QObject):
    """One export at a time. `done` says what was written (for the status bar), `failed` what went
    wrong and the traceback if it was a bug (for a dialog); `busy_changed` when one starts or ends."""

    done = Signal(str)
    failed = Signal(str, str)  # message, details
    busy_changed = Signal(bool)

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self._thread: QThread | None = None

    @property
    def busy(self) -> bool:
        return self._thread is not None

    def export(self, kind: str, folder: RunFolder, target: str | Path) -> bool:
        """Start writing `folder` as `kind` ("csv" or "tensorboard") to `target`; False while
        another export runs."""
        if kind not in KINDS:
            raise ValueError(f"unknown export kind {kind!r}; one of {', '.join(KINDS)}")
        if self._thread is not None:
            return False
        worker = Worker(lambda: _write(kind, folder, target), expected_errors=_expected_errors)
        worker.built.connect(self._on_worker_built)
        worker.failed.connect(self._on_worker_failed)
        self._thread = start_worker(worker, self, on_finished=self._on_thread_finished, name="export-thread")
        self.busy_changed.emit(True)
        return True

    def wait(self) -> None:
        """Block until the export in progress (if any) has ended: for closing the window."""
        if self._thread is not None:
            self._thread.wait()

    @Slot(object)
    def _on_worker_built(self, text: str) -> None:
        self.done.emit(text)

    @Slot(object)
    def _on_worker_failed(self, ev: Failed) -> None:
        self.failed.emit(f"Export failed: {ev.message}", ev.traceback)

    @Slot()
    def _on_thread_finished(self) -> None:
        self._thread = None
        self.busy_changed.emit(False)
