"""Runs side by side: the Runs dock marks the current run and lists its config's log.out; the runs
ticked there, never the current one, are followed (overlays.py), drawn on the plots and compared in
the Compare dock."""

from __future__ import annotations

from PySide6.QtCore import QObject, Slot

from ganstudio.qt.overlays import Overlays
from ganstudio.qt.panels.compare import ComparePanel
from ganstudio.qt.panels.plots import Overlay, PlotsPanel
from ganstudio.qt.panels.runs import RunsPanel
from ganstudio.qt.session import Session


class ComparedRuns(QObject):
    def __init__(
        self,
        session: Session,
        runs: RunsPanel,
        overlays: Overlays,
        compare: ComparePanel,
        plots: PlotsPanel,
        parent: QObject | None = None,
    ):
        super().__init__(parent)
        self._session = session
        self._runs = runs
        self._overlays = overlays
        self._compare = compare
        self._plots = plots
        self._plot_overlays: dict = {}  # OverlayRun -> the plots' Overlay of it
        runs.ticked_changed.connect(self._on_runs_ticked_changed)
        for signal in (overlays.added, overlays.removed, overlays.renamed):
            signal.connect(self._on_overlays_changed)

    def update_current(self) -> None:
        """The current run is listed in bold and never compared with itself; the Runs dock lists
        the config's log.out. Compared runs of another dataset than a newly current run's are
        unticked (the dock says which, and why, until the next tick)."""
        s, runs = self._session, self._runs
        runs.set_default_root(s.config.log.out)
        runs.set_current(s.run_dir, s.config.data.dataset)
        info = runs.info(s.run_dir) if s.run_dir is not None else None
        self._compare.set_current_name(
            info.name if info is not None else s.run_dir.name if s.run_dir is not None else "current run"
        )
        self._on_runs_ticked_changed(runs.ticked())

    def current_title(self) -> str:
        """The current run as the window's title names it: its name, and its folder's when they
        differ; "" when there is none."""
        run_dir = self._session.run_dir
        if run_dir is None:
            return ""
        info = self._runs.info(run_dir)
        name = info.name if info is not None else ""
        folder = run_dir.name
        return folder if not name or folder.endswith(name) else f"{name} ({folder})"

    @Slot(list)
    def _on_runs_ticked_changed(self, ticked: list) -> None:
        current = self._session.run_dir.resolve() if self._session.run_dir is not None else None
        self._overlays.set_runs([(p, name) for p, name in ticked if p.resolve() != current])

    @Slot(object)
    def _on_overlays_changed(self, _run=None) -> None:
        old, self._plot_overlays = self._plot_overlays, {}
        for run in self._overlays.runs():
            overlay = old.get(run) or Overlay(run.name, run.color, run.model)
            overlay.name = run.name
            self._plot_overlays[run] = overlay
        self._plots.set_overlays(list(self._plot_overlays.values()))
