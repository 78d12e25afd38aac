"""The Runs dock's scans: folders of runs looked at every SCAN_S seconds off the GUI thread, and
laid out there too (forks under their parents, replicates under their group's row: the first group
keys of a few hundred runs held the GUI thread for tens of milliseconds).

One plain thread scans; the GUI thread collects the result from a timer. Not a QThread per scan: a
Worker deleted on its finishing thread every 2 s while the GUI thread made widgets deadlocked PySide6
(the worker's ~QObject waited for the GIL, the GUI thread for Qt's signal-slot mutex).
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from PySide6.QtCore import QObject, QTimer, Signal, Slot

from ganstudio.core.run import groups
from ganstudio.core.run.listing import RunInfo, RunScanner

SCAN_S = 2.0  # how often the folders are looked at again (only changed runs are re-read)
POLL_MS = 20  # while a scan is in flight, how often the GUI thread looks for its result


def scan_and_lay_out(
    scan: Callable[[list[Path]], list[RunInfo]], roots: list[Path], group_by: tuple[str, ...] | None
) -> tuple[list[RunInfo], tuple[tuple[str, ...] | None, list, list]]:
    """(the runs `scan(roots)` found, (group_by, and groups.layout's rows and groups for them))."""
    found = scan(roots)
    return found, (group_by, *groups.layout(found, group_by))


class RunsScan(QObject):
    """Scans `roots()` with `scanner` every SCAN_S, or now (`rescan`), one scan at a time, and lays
    the runs out grouped by `group_by()` (config keys, or None)."""

    # [RunInfo], and (group_by, rows, groups) as scan_and_lay_out gives them: what a scan found
    found = Signal(list, object)
    failed = Signal(object)  # the exception of a scan that failed (a bug, not the folders)

    def __init__(
        self,
        scanner: RunScanner,
        roots: Callable[[], list[Path]],
        group_by: Callable[[], tuple[str, ...] | None],
        parent: QObject | None = None,
    ):
        super().__init__(parent)
        self._scanner = scanner
        self._roots = roots
        self._group_by = group_by
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
        # The scanner's method is looked up now: a test may replace it. What to scan and how to
        # group are read here, on the GUI thread.
        self._scan = self._executor.submit(
            scan_and_lay_out, self._scanner.scan, self._roots(), self._group_by()
        )
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
            found, laid_out = scan.result()
        except Exception as e:  # a bug, not the folders (describe never raises for them)
            self.failed.emit(e)
        else:
            self.found.emit(found, laid_out)
        if self._again:
            self._again = False
            self.rescan()
