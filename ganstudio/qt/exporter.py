"""File › Export: a run's curves as CSV or TensorBoard event files, written on a worker thread.

The writing is the core's (ganstudio.core.run.export, the same as `ganstudio export`); this object only
runs it off the GUI thread and brings the outcome back as signals (qt/background_job.py).
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Signal

from ganstudio.core.run.folder import RunFolder
from ganstudio.qt.background_job import BackgroundJob

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


class Exporter(BackgroundJob):
    """One export at a time. `done` says what was written (for the status bar), `failed` what went
    wrong and the traceback if it was a bug (for a dialog); `busy_changed` when one starts or ends."""

    done = Signal(str)
    WHAT = "Export"

    def export(self, kind: str, folder: RunFolder, target: str | Path) -> bool:
        """Start writing `folder` as `kind` ("csv" or "tensorboard") to `target`; False while
        another export runs."""
        if kind not in KINDS:
            raise ValueError(f"unknown export kind {kind!r}; one of {', '.join(KINDS)}")
        return self._start(lambda: _write(kind, folder, target), _expected_errors, "export-thread")

    def _built(self, text: str) -> None:
        self.done.emit(text)
