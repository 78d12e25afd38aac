"""One job at a time off the GUI thread: File › Export and File › Import run the core's writing on
a worker thread (qt/worker.py) and bring the outcome back as signals.

A subclass starts its job with `_start(call, expected_errors, name)` and says what its result
means in `_built(result)`. The slots run on the GUI thread because the object lives there: the
worker's signals reach them queued. (A lambda connected to a worker's signal would run on the worker
thread and touch widgets from there.)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QThread, Signal, Slot

from ganstudio.core.run.events import Failed
from ganstudio.qt.worker import Worker, start_worker


class BackgroundJob(QObject):
    """`failed(message, traceback if it was a bug)` when a job fails, `busy_changed` when one starts
    or ends; `WHAT` names the job in the failure's message ("Export failed: ...")."""

    failed = Signal(str, str)
    busy_changed = Signal(bool)
    WHAT = "Job"

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self._thread: QThread | None = None

    @property
    def busy(self) -> bool:
        return self._thread is not None

    def wait(self) -> None:
        """Block until the job in progress (if any) has ended: for closing the window."""
        if self._thread is not None:
            self._thread.wait()

    def _start(
        self,
        call: Callable[[], Any],
        expected_errors: Callable[[], tuple[type[BaseException], ...]],
        name: str,
    ) -> bool:
        """Run `call` on a worker thread; False while another job runs."""
        if self._thread is not None:
            return False
        worker = Worker(call, expected_errors=expected_errors)
        worker.built.connect(self._on_worker_built)
        worker.failed.connect(self._on_worker_failed)
        self._thread = start_worker(worker, self, on_finished=self._on_thread_finished, name=name)
        self.busy_changed.emit(True)
        return True

    def _built(self, result: Any) -> None:
        """The job's result, on the GUI thread."""
        raise NotImplementedError

    @Slot(object)
    def _on_worker_built(self, result: Any) -> None:
        self._built(result)

    @Slot(object)
    def _on_worker_failed(self, ev: Failed) -> None:
        self.failed.emit(f"{self.WHAT} failed: {ev.message}", ev.traceback)

    @Slot()
    def _on_thread_finished(self) -> None:
        self._thread = None
        self.busy_changed.emit(False)
