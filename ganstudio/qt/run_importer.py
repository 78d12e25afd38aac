"""File › Import…: a TensorBoard log or a CSV of curves made into a run folder on a worker thread.

The reading and writing are the core's (ganstudio.core.run.importer, the same as `ganstudio
import`); this object runs them off the GUI thread, as the Exporter does an export, and brings the
outcome back as signals to its slots, which run on the GUI thread where it lives.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, QThread, Signal, Slot

from ganstudio.core.run.events import Failed
from ganstudio.qt.worker import Worker, start_worker


def _expected_errors() -> tuple[type[BaseException], ...]:
    from ganstudio.core.run.importer import ImportProblem

    return (ImportProblem, OSError)


class RunImporter(QObject):
    """One import at a time. `done(run folder, summary)` when the run is written, `failed(message,
    traceback if it was a bug)` when not; `busy_changed` when one starts or ends."""

    done = Signal(str, str)
    failed = Signal(str, str)
    busy_changed = Signal(bool)

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self._thread: QThread | None = None

    @property
    def busy(self) -> bool:
        return self._thread is not None

    def start(self, source: str | Path, out: str | Path) -> bool:
        """Import `source` into a new run folder under `out`; False while another import runs."""
        if self._thread is not None:
            return False
        from ganstudio.core.run.importer import import_run

        worker = Worker(lambda: import_run(source, out), expected_errors=_expected_errors)
        worker.built.connect(self._on_worker_built)
        worker.failed.connect(self._on_worker_failed)
        self._thread = start_worker(worker, self, on_finished=self._on_thread_finished, name="import-thread")
        self.busy_changed.emit(True)
        return True

    def wait(self) -> None:
        """Block until the import in progress (if any) has ended: for closing the window."""
        if self._thread is not None:
            self._thread.wait()

    @Slot(object)
    def _on_worker_built(self, imported) -> None:
        self.done.emit(str(imported.folder.path), imported.summary())

    @Slot(object)
    def _on_worker_failed(self, ev: Failed) -> None:
        self.failed.emit(f"Import failed: {ev.message}", ev.traceback)

    @Slot()
    def _on_thread_finished(self) -> None:
        self._thread = None
        self.busy_changed.emit(False)
