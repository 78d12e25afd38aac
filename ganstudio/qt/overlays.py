"""The runs ticked in the Runs dock, to compare with the current run: one RunModel each (a core RunState
and its change notifications, like the current run's), kept up to date by a Follower polling the
run's folder on a worker thread. A finished run is read once and then only looked at; a live one
(a fork training in another process) grows as it trains.

Views (the plots, the samples compare, the config diff) subscribe to `added` / `removed` and to
each run's `model.changed`; they never read run folders themselves.
"""

from __future__ import annotations

import threading
from pathlib import Path

from PySide6.QtCore import QObject, QThread, Signal, Slot

from ganstudio.core.run.folder import RunFolder
from ganstudio.qt.run_model import RunModel
from ganstudio.qt.worker import Worker, poll_stream, start_worker

POLL_S = 0.25  # how often a compared run's folder is looked at
#: One colour per compared run, distinct from the current run's series colours and the markers'.
RUN_COLORS = (
    "#ea580c",
    "#be185d",
    "#0f766e",
    "#854d0e",
    "#4d7c0f",
    "#1e40af",
    "#c026d3",
    "#475569",
    "#ca8a04",
    "#9f1239",
)


class OverlayRun(QObject):
    """One compared run: `model` (its RunState), `name` and `color`; followed from `start()` on."""

    def __init__(self, path: str | Path, name: str, color: str, parent: QObject | None = None):
        super().__init__(parent)
        self.folder = RunFolder(Path(path))
        self.name = name
        self.color = color
        self.model = RunModel(self)
        cfg, _ = self.folder.try_config()
        self.model.start_over(cfg)
        self._stop = threading.Event()
        self.thread: QThread | None = None

    @property
    def path(self) -> Path:
        return self.folder.path

    def start(self) -> None:
        from ganstudio.core.run.follow import Follower

        folder, stop = self.folder, self._stop
        worker = Worker(lambda: Follower(folder), lambda follower: poll_stream(follower.poll, stop, POLL_S))
        worker.events.connect(self._on_worker_events)
        self.thread = start_worker(worker, self, name="compare-thread")

    def stop(self) -> None:
        """Stop following (the thread ends within POLL_S; `wait` waits for it)."""
        self._stop.set()

    def wait(self, ms: int = 10_000) -> bool:
        return self.thread is None or self.thread.wait(ms)

    @Slot(list)
    def _on_worker_events(self, events: list) -> None:
        if self._stop.is_set():
            return
        if self.model.state.config is None:
            # Ticked while its process was still making the folder: config.toml is written before
            # the first line of the log, so it is there now (as the session does for its own run).
            self.model.state.config, _ = self.folder.try_config()
        self.model.apply(events)


class Overlays(QObject):
    """The compared runs, by folder. `set_runs` makes the set what the Runs dock's ticks say."""

    added = Signal(object)  # OverlayRun, before its first events arrive
    removed = Signal(object)  # OverlayRun, no longer followed
    renamed = Signal(object)  # OverlayRun whose name changed

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self._runs: dict[Path, OverlayRun] = {}
        self._stopping: list[OverlayRun] = []

    def runs(self) -> list[OverlayRun]:
        return list(self._runs.values())

    def get(self, path: str | Path) -> OverlayRun | None:
        return self._runs.get(Path(path))

    def set_runs(self, wanted: list[tuple[Path, str]]) -> None:
        """Compare exactly these (folder, name) runs: new ones are followed, others dropped."""
        paths = {Path(p): name for p, name in wanted}
        for path in [p for p in self._runs if p not in paths]:
            run = self._runs.pop(path)
            run.stop()
            self._stopping.append(run)
            self.removed.emit(run)
        for path, name in paths.items():
            run = self._runs.get(path)
            if run is not None:
                if run.name != name:
                    run.name = name
                    self.renamed.emit(run)
                continue
            used = {r.color for r in self._runs.values()}
            spare = RUN_COLORS[len(self._runs) % len(RUN_COLORS)]
            color = next((c for c in RUN_COLORS if c not in used), spare)
            run = OverlayRun(path, name, color, self)
            self._runs[path] = run
            self.added.emit(run)
            run.start()
        for run in [r for r in self._stopping if r.wait(0)]:
            self._stopping.remove(run)
            run.deleteLater()

    def shutdown(self) -> None:
        """Stop following every run and wait for the threads (the window is closing)."""
        self.set_runs([])
        for run in self._stopping:
            run.wait()
        self._stopping = []
