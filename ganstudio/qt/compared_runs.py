"""Runs side by side: the Runs dock marks the current run and lists its config's log.out; the runs
ticked there, never the current one, are followed (overlays.py), drawn on the plots and compared in
the Compare dock. A ticked group of replicates is followed run by run and drawn as one mean line
with its band; the baseline run (the dock's Set as Baseline) is followed too, for the plots' deltas."""

from __future__ import annotations

from PySide6.QtCore import QObject, Slot

from ganstudio.qt.overlays import Overlays
from ganstudio.qt.panels.compare import ComparePanel
from ganstudio.qt.panels.plots import Overlay, PlotsPanel
from ganstudio.qt.panels.runs import RunsPanel
from ganstudio.qt.session import Session
from ganstudio.qt.widgets.plot_overlay import GroupOverlay


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
        self._plot_overlays: dict = {}  # OverlayRun (or a group's key) -> the plots' Overlay of it
        runs.ticked_changed.connect(self._on_runs_ticked_changed)
        runs.baseline_changed.connect(self._on_runs_ticked_changed)
        for signal in (overlays.added, overlays.removed, overlays.renamed):
            signal.connect(self._on_overlays_changed)

    def update_current(self) -> None:
        """The current run is listed in bold and never compared with itself; the Runs dock lists
        the config's log.out. Compared runs of another dataset than a newly current run's are
        unticked (the dock says which, and why, until the next tick)."""
        s, runs = self._session, self._runs
        self._plots.set_followed(s.following)  # the redraw budget: does drawing share the GIL?
        runs.set_default_root(s.config.log.out)
        # An imported run's dataset is not known: nothing is unticked for it.
        runs.set_current(s.run_dir, "" if s.handle.imported else s.config.data.dataset)
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

    def _current(self):
        return self._session.run_dir.resolve() if self._session.run_dir is not None else None

    @Slot(object)
    def _on_runs_ticked_changed(self, _ticked=None) -> None:
        """Follow the ticked runs, the ticked groups' runs and the baseline (never the current run:
        its own model has it)."""
        runs, current = self._runs, self._current()
        wanted = dict(runs.ticked())
        for group in runs.ticked_groups():
            wanted.update((r.path, r.name) for r in group.runs)
        baseline = runs.info(runs.baseline()) if runs.baseline() is not None else None
        if baseline is not None:
            wanted.setdefault(baseline.path, baseline.name)
        self._overlays.set_runs([(p, name) for p, name in wanted.items() if p.resolve() != current])
        self._on_overlays_changed()

    @Slot(object)
    def _on_overlays_changed(self, _run=None) -> None:
        """The plots' overlays: each ticked run, and each ticked group as one (its mean and band)."""
        old, self._plot_overlays = self._plot_overlays, {}
        ticked = {p for p, _ in self._runs.ticked()}
        for run in self._overlays.runs():
            if run.path in ticked:
                overlay = old.get(run) or Overlay(run.name, run.color, run.model)
                overlay.name = run.name
                self._plot_overlays[run] = overlay
        for group in self._runs.ticked_groups():
            members = [self._overlays.get(p) for p in group.paths]
            members = [m for m in members if m is not None]
            if not members:  # all of them the current run (a group of one besides it)
                continue
            name = f"{group.name} (mean of {len(group.runs)})"
            overlay = old.get(group.key)
            if overlay is None or [m.model for m in members] != overlay.members:
                overlay = GroupOverlay(name, members[0].color, [m.model for m in members])
            self._plot_overlays[group.key] = overlay
        self._plots.set_overlays(list(self._plot_overlays.values()))
        self._plots.set_baseline(self._baseline_model())

    def _baseline_model(self):
        path = self._runs.baseline()
        if path is None:
            return None
        if path.resolve() == self._current():
            return self._session.model
        run = self._overlays.get(path)
        return run.model if run is not None else None
