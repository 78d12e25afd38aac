"""The Runs dock's scans: folders of runs looked at every SCAN_S seconds off the GUI thread.

One plain thread scans; the GUI thread collects the result from a timer. Not a QThread per scan: a
Worker deleted on its finishing thread every 2 s while the GUI thread made widgets deadlocked PySide6
(the worker's ~QObject waited for the GIL, the GUI thread for Qt's signal-slot mutex).
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from PySide6.QtCore import QObject, QTimer, Signal, Slot

from ganstudio.core.run.listing import RunScanner

SCAN_S = 2.0  # how often the folders are looked at again (only changed runs are re-read)
POLL_MS = 20  # while a scan is in flight, how often the GUI thread looks for its result


class RunsScan(QObject):
    """Scans `roots()` with `scanner` every SCAN_S, or now (`rescan`), one scan at a time."""

    found = Signal(list)  # [RunInfo]: what a scan found
    failed = Signal(object)  # the exception of a scan that failed (a bug, not the folders)

    def __init__(self, scanner: RunScanner, roots: Callable[[], list[Path]], parent: QObject | None = None):
        super().__init__(parent)
        self._scanner = scanner
        self._roots = roots
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="runs-scan")
        self._scan: Future | None = None
        self._again = False
        self._closed = False
        self._timer = QTimer(self, objectName="runs_scan_timer")
        self._timer.setInterval(int(SCAN_S * 1000))
        self._timer.timeout.connect(self.rescan)
        self._timer.start()
        self._poll = QTimer(self, objectName="runs_scan_poll")
        self._poll.setInterval(POLL_MS)
        self._poll.timeout.connect(self._on_poll_timeout)

    @Slot()
    def rescan(self) -> None:
        """Look at the folders again now (or right after the scan in flight)."""
        if self._closed:
            return
        if self._scan is not None:
            self._again = True
            return
        # The scanner's method is looked up now: a test may replace it.
        self._scan = self._executor.submit(self._scanner.scan, self._roots())
        self._poll.start()

    @property
    def scanning(self) -> bool:
        return self._scan is not None

    def shutdown(self) -> None:
        """Stop scanning and wait for a scan in flight (the window is closing)."""
        self._closed = True
        self._timer.stop()
        self._poll.stop()
        self._executor.shutdown(wait=True, cancel_futures=True)

    @Slot()
    def _on_poll_timeout(self) -> None:
        scan = self._scan
        if scan is None or not scan.done():
            return
        self._scan = None
        self._poll.stop()
        try:
            found = scan.result()
        except Exception as e:  # a bug, not the folders (describe never raises for them)
            self.failed.emit(e)
        else:
            self.found.emit(found)
        if self._again:
            self._again = False
            self.rescan()
