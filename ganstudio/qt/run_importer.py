"""File › Import…: a TensorBoard log or a CSV of curves made into a run folder on a worker thread.

The reading and writing are the core's (ganstudio.core.run.importer, the same as `ganstudio
import`); this object runs them off the GUI thread as the Exporter does an export (qt/background_job.py).
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Signal

from ganstudio.qt.background_job import BackgroundJob


def _expected_errors() -> tuple[type[BaseException], ...]:
    from ganstudio.core.run.importer import ImportProblem

    return (ImportProblem, OSError)


class RunImporter(BackgroundJob):
    """One import at a time. `done(run folder, summary)` when the run is written, `failed(message,
    traceback if it was a bug)` when not; `busy_changed` when one starts or ends."""

    done = Signal(str, str)
    WHAT = "Import"

    def start(self, source: str | Path, out: str | Path) -> bool:
        """Import `source` into a new run folder under `out`; False while another import runs."""
        from ganstudio.core.run.importer import import_run

        return self._start(lambda: import_run(source, out), _expected_errors, "import-thread")

    def _built(self, imported) -> None:
        self.done.emit(str(imported.folder.path), imported.summary())
