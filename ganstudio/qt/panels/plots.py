"""Live training curves, drawn from the run model's History.

The plots are created once and updated: one PlotDataItem per series (plus a faint one for the raw
values behind the smoothed curve), fed from a display-rate QTimer and only when something is dirty.
The run model's `changed` (stats, metrics or markers) and `reset` mark every tab dirty, as do a
compared run's model and the panel's own settings; a tick draws the visible tab if it is dirty (or
its view moved), and a hidden tab catches up when it is shown. Smoothing is cached per stat and
extended by the new tail only (core.curves). A short series is drawn from views of History's own
buffers; a long one through a min/max pyramid that hands pyqtgraph two points per pixel column, so
a million-point run redraws as cheaply as a short one. Compared runs (set_overlays) are reduced the
same way and drawn by one item per plot (widgets.compare_layer.CompareLayer); a ticked group of
replicates is one of them, its mean with a band. A plot's right-click menu can draw every run as
deltas against the baseline run (set_baseline; core.run.groups.delta_history).

Drawing shares the GUI thread (and the GIL) with everything else the window does while the
training thread works, so it is budgeted: at most about 10 redraws a second, fewer when a frame is
expensive (REDRAW_DUTY of the GUI thread's CPU; more for a run another process trains), and grid
lines are opaque (Qt strokes translucent lines ~10x slower).
"""

from __future__ import annotations

import time
from collections import deque

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent, Qt, QTimer, Signal, Slot
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QSlider,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from ganstudio.core.curves import LOD_DIRECT_POINTS, SeriesCache, SeriesCaches, curve_data, index_range
from ganstudio.core.metrics.tabs import TABS, rest_keys
from ganstudio.core.run.groups import delta_history
from ganstudio.core.run.history import History
from ganstudio.qt.run_model import RunChanges, RunModel
from ganstudio.qt.widgets.compare_layer import CompareLayer, LayerCurve
from ganstudio.qt.widgets.plot_items import MarkerLayer
from ganstudio.qt.widgets.plot_overlay import Overlay
from ganstudio.qt.widgets.plot_tab import LEGEND_ROW_PX, SERIES_COLORS, PlotTab, TabCurve, label_fill

__all__ = ["LEGEND_ROW_PX", "LOD_DIRECT_POINTS", "SERIES_COLORS", "Overlay", "PlotsPanel"]

REDRAW_INTERVAL_MS = 25  # the display tick: how soon a change the user made is drawn
MIN_REDRAW_GAP_S = 0.1  # new training data is drawn at most 10 times a second...
REDRAW_DUTY = 0.05  # ...and the plots take at most ~5% of the GUI thread's time while it streams
FOLLOW_REDRAW_DUTY = 0.2  # a run another process trains shares no GIL with drawing: draw it sooner
MAX_REDRAW_GAP_S = 1.0  # however slow the frames: never longer than this between new data's draws
COST_WINDOW = 5  # the budget follows the median cost of the last frames, not one slow frame
SMOOTHING_STEPS = 99  # slider 0..99 -> weight 0.00..0.99
DEFAULT_SMOOTHING = 0.6  # TensorBoard's default
PLOTTED = frozenset({"stats", "metrics", "markers", "system"})  # what of a run's changes the plots draw

# Colour ramps for a tab's groups of series (core.metrics.tabs), light to dark, input to output.
RAMPS = {
    "blues": ("#93c5fd", "#60a5fa", "#3b82f6", "#2563eb", "#1d4ed8", "#1e40af", "#1e3a8a"),
    "oranges": ("#fdba74", "#fb923c", "#f97316", "#ea580c", "#c2410c", "#9a3412", "#7c2d12"),
    "greens": ("#86efac", "#4ade80", "#22c55e", "#16a34a", "#15803d", "#166534", "#14532d"),
    "purples": ("#d8b4fe", "#c084fc", "#a855f7", "#9333ea", "#7e22ce", "#6b21a8", "#581c87"),
    "greys": ("#d1d5db", "#9ca3af", "#6b7280", "#4b5563", "#374151", "#1f2937", "#111827"),
}
X_AXES = (("Step", "step"), ("Wall time (s)", "wall time (s)"))


class PlotsPanel(QWidget):
    marker_activated = Signal(object)  # Marker double-clicked or right-clicked on any tab

    def __init__(self, model: RunModel, parent: QWidget | None = None):
        """`model`: the run to plot."""
        super().__init__(parent)
        self.setObjectName("plots_panel")
        self._model = model
        self._history = model.history  # the same object for the model's whole life
        self._overlays: list[Overlay] = []
        self._baseline: RunModel | None = None  # what a tab's "Deltas Against Baseline" subtracts
        self._baseline_version = 0
        self._cursor_step: int | None = None
        self._caches = SeriesCaches()
        self._tabs: list[PlotTab] = []
        self._next_draw = 0.0  # time.monotonic() before which new data waits (the redraw budget)
        self._duty, self._costs = REDRAW_DUTY, deque(maxlen=COST_WINDOW)  # CPU s of the last frames
        self._urgent = False  # the user changed something: draw at the next tick, budget or not

        self._smoothing = QSlider(Qt.Orientation.Horizontal, objectName="plots_smoothing")
        self._smoothing.setRange(0, SMOOTHING_STEPS)
        self._smoothing.setValue(round(DEFAULT_SMOOTHING * 100))
        self._smoothing.setFixedWidth(120)
        self._smoothing.setToolTip("Exponential moving average weight (0 = raw values)")
        self._smoothing_value = QLabel()
        self._smoothing_value.setMinimumWidth(self._smoothing_value.fontMetrics().horizontalAdvance("0.00"))
        self._log_y = QCheckBox("Log y", objectName="plots_log_y")
        self._x_axis = QComboBox(objectName="plots_x_axis")
        self._x_axis.addItems([name for name, _ in X_AXES])
        self._follow = QCheckBox("Follow latest", objectName="plots_follow")
        self._follow.setChecked(True)
        self._follow.setToolTip("Keep every point in view; zooming or panning a plot turns this off")

        self._tab_widget = QTabWidget(objectName="plots_tabs")
        self._tab_widget.setDocumentMode(True)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addLayout(self._controls_row())
        layout.addWidget(self._tab_widget, 1)

        for tab in TABS:
            self.add_tab(
                tab.title,
                list(tab.series),
                tab.y_label,
                tab.smooth,
                tab.bands,
                {prefix: (name, RAMPS[ramp]) for prefix, name, ramp in tab.groups},
                rest=tab.rest,
            )
        self._update_smoothing_label()
        self._show_rest_tabs()

        self._smoothing.valueChanged.connect(self._on_smoothing_value_changed)
        self._log_y.toggled.connect(self._on_log_y_toggled)
        self._x_axis.currentIndexChanged.connect(self._on_x_axis_changed)
        self._follow.toggled.connect(self._on_follow_toggled)
        self._tab_widget.currentChanged.connect(self._on_tabs_current_changed)
        model.changed.connect(self._on_model_changed)
        model.reset.connect(self._on_model_reset)

        self._timer = QTimer(self, objectName="plots_redraw_timer")
        self._timer.setInterval(REDRAW_INTERVAL_MS)
        self._timer.timeout.connect(self._on_timer_timeout)
        self._timer.start()

    def _controls_row(self) -> QHBoxLayout:
        controls = QHBoxLayout()
        controls.setContentsMargins(4, 2, 4, 2)
        controls.addWidget(QLabel("Smoothing"))
        controls.addWidget(self._smoothing)
        controls.addWidget(self._smoothing_value)
        controls.addSpacing(12)
        controls.addWidget(self._log_y)
        controls.addSpacing(12)
        controls.addWidget(QLabel("x:"))
        controls.addWidget(self._x_axis)
        controls.addStretch(1)
        controls.addWidget(self._follow)
        return controls

    # ---- public API ---------------------------------------------------------------------------

    def add_tab(
        self,
        title: str,
        series: list[tuple[str, str]],
        y_label: str | None = None,
        smooth: bool = True,
        bands: bool = False,
        prefixes: dict[str, tuple[str, tuple[str, ...]]] | None = None,
        rest: bool = False,
    ) -> None:
        """Add a tab plotting the History keys in `series`, given as (key, legend label) pairs.
        `y_label` defaults to the title in lower case; `smooth=False` ignores the smoothing slider.
        `bands=True` is for sparse, uncertain values (quality metrics): each point gets a dot and a
        shaded band of +/- the History key "<key>_std" around it. `prefixes` adds a curve for
        every key that starts with one, as it appears ({prefix: (group name, colours)}); the
        legend then lists each group once, collapsed, until its "Every series" box is checked."""
        if any(tab.title == title for tab in self._tabs):
            raise ValueError(f"a plot tab named '{title}' already exists")
        page = QWidget()
        layout = QVBoxLayout(page)
        layout.setContentsMargins(0, 0, 0, 0)
        tab = PlotTab(
            title,
            page,
            list(series),
            y_label or title.lower(),
            smooth and not bands,
            bands,
            prefixes=dict(prefixes or {}),
            rest=rest,
        )
        if tab.prefixes:
            tab.expand = QCheckBox("Every series in the legend", objectName=f"plots_expand_{len(self._tabs)}")
            tab.expand.setToolTip("List each curve in the legend (collapsed: one line a group)")
            tab.expand.toggled.connect(lambda _on, t=tab: self._on_expand_toggled(t))
            row = QHBoxLayout()
            row.setContentsMargins(4, 0, 4, 0)
            row.addStretch(1)
            row.addWidget(tab.expand)
            layout.addLayout(row)
        self._tabs.append(tab)
        self._tab_widget.addTab(page, title)
        if self._tab_widget.currentWidget() is page and self.isVisible():
            self._built(tab)

    def _built(self, tab: PlotTab) -> PlotTab:
        """`tab`, with its plot built in the panel's current settings if it was not yet."""
        if tab.plot is not None:
            return tab
        plot = tab.build(
            f"plots_plot_{self._tabs.index(tab)}",
            X_AXES[self._x_axis.currentIndex()][1],
            self._log_y.isChecked(),
            label_fill(self.palette()),
        )
        view = plot.getPlotItem().getViewBox()
        view.sigRangeChangedManually.connect(self._on_view_range_changed_manually)
        view.sigXRangeChanged.connect(self._on_view_x_range_changed)
        tab.add_compare_actions(self._on_tab_compare_changed)
        tab.markers.activated.connect(self.marker_activated)
        tab.emphasise(bool(self._overlays))
        tab.apply_palette(self.palette())
        self._redraw(tab)  # up to date from the start, whoever asked for it
        return tab

    def _on_expand_toggled(self, tab: PlotTab) -> None:
        tab.dirty = True
        self._urgent = True

    def _built_tabs(self) -> list[PlotTab]:
        return [tab for tab in self._tabs if tab.plot is not None]

    def show_tab(self, title: str) -> None:
        self._tab_widget.setCurrentWidget(self._tab(title).page)

    def refresh(self) -> None:
        """Redraw every built tab now, from scratch, whether or not anything changed (the others
        draw when they are built)."""
        for tab in self._built_tabs():
            tab.compared.clear()  # compared runs' curves made again too
            self._redraw(tab, force=True)

    def set_followed(self, followed: bool) -> None:
        """Whether the run shown trains in another process (FOLLOW_REDRAW_DUTY) or in this one."""
        self._duty = FOLLOW_REDRAW_DUTY if followed else REDRAW_DUTY

    def redraw(self) -> bool:
        """Redraw the visible tab now if it is dirty or its view changed (what a display tick
        does, without the budget); True if it drew."""
        current = self._tab_widget.currentIndex()
        return current >= 0 and self.isVisible() and self._redraw(self._built(self._tabs[current]))

    # Accessors for tests and for features that decorate a plot (read-only use).
    def plot_widget(self, title: str) -> pg.PlotWidget:
        return self._tab(title).plot

    def curve(self, title: str, key: str, raw: bool = False) -> pg.PlotDataItem:
        """The smoothed (or with raw=True, the faint raw) PlotDataItem of `key` in tab `title`."""
        for c in self._tab(title).curves:
            if c.key == key:
                return c.raw if raw else c.smooth
        raise KeyError(f"tab '{title}' has no series '{key}'")

    def marker_layer(self, title: str) -> MarkerLayer:
        """The item drawing tab `title`'s markers (its `x` and `markers` say what it shows)."""
        return self._tab(title).markers

    def titles(self) -> list[str]:
        """The tabs shown (a rest tab only while it has series)."""
        return [tab.title for i, tab in enumerate(self._tabs) if self._tab_widget.isTabVisible(i)]

    def is_dirty(self, title: str) -> bool:
        """Whether tab `title` has something to draw that it has not drawn yet."""
        return next(tab for tab in self._tabs if tab.title == title).dirty

    # ---- compared runs ------------------------------------------------------------------------

    def set_overlays(self, overlays: list[Overlay]) -> None:
        """Draw these other runs on every tab too, each in its colour, with the same smoothing,
        log-y and x axis; the current run stays in front. Each redraws on its model's changes."""
        keep = {id(o) for o in overlays}
        for tab in self._built_tabs():  # an unticked run leaves the plots now, not at the next redraw
            for key in [k for k in tab.compared if k not in keep]:
                del tab.compared[key]
            tab.compare.set_curves([c for c in tab.compare.curves if c.run in keep])
        known = {id(o) for o in self._overlays}
        for o in self._overlays:
            if id(o) not in keep:
                for model in o.models:
                    self._unsubscribe(model)
        for o in overlays:
            if id(o) not in known:
                for model in o.models:
                    model.changed.connect(self._on_overlay_model_changed)
                    model.reset.connect(self._on_overlay_model_reset)
        self._overlays = list(overlays)
        for tab in self._built_tabs():
            tab.emphasise(bool(self._overlays))
        self._invalidate()

    def _unsubscribe(self, model: RunModel, changed=None, reset=None) -> None:
        try:
            model.changed.disconnect(changed or self._on_overlay_model_changed)
            model.reset.disconnect(reset or self._on_overlay_model_reset)
        except (RuntimeError, TypeError):  # its model is gone already, and its connections with it
            pass

    def overlays(self) -> list[Overlay]:
        return list(self._overlays)

    def set_baseline(self, model: RunModel | None) -> None:
        """The run a tab's "Deltas Against Baseline" subtracts (None: none; those tabs draw values)."""
        if model is self._baseline:
            return
        if self._baseline is not None:
            self._unsubscribe(self._baseline, *(self._on_baseline_model_changed,) * 2)
        self._baseline = model
        if model is not None:
            model.changed.connect(self._on_baseline_model_changed)
            model.reset.connect(self._on_baseline_model_changed)
        self._on_baseline_model_changed()

    def baseline(self) -> RunModel | None:
        return self._baseline

    def _deltas(self, tab: PlotTab) -> History | None:
        """The baseline's History when `tab` draws deltas against it, else None."""
        on = tab.deltas is not None and tab.deltas.isChecked() and self._baseline is not None
        return self._baseline.history if on else None

    @Slot()
    def _on_baseline_model_changed(self, *_args: object) -> None:
        self._baseline_version += 1
        self._invalidate()

    def _on_tab_compare_changed(self, tab: PlotTab) -> None:
        tab.dirty = True
        self._urgent = True

    def overlay_curves(self, title: str, overlay: Overlay) -> list[LayerCurve]:
        """The curves of `overlay` drawn in tab `title` (one per series with data), once drawn."""
        return [c for c in self._tab(title).compare.curves if c.run == id(overlay)]

    def compare_layer(self, title: str) -> CompareLayer:
        """The item drawing tab `title`'s compared runs."""
        return self._tab(title).compare

    def set_cursor(self, step: int | None) -> None:
        """A vertical line at `step` on every tab (the compare's step), or none."""
        self._cursor_step = step
        for tab in self._built_tabs():
            self._update_cursor(tab)

    def cursor_x(self, title: str) -> float | None:
        tab = self._tab(title)
        return float(tab.cursor.value()) if tab.cursor is not None and tab.cursor.isVisible() else None

    # ---- drawing ------------------------------------------------------------------------------

    def _tab(self, title: str) -> PlotTab:
        for tab in self._tabs:
            if tab.title == title:
                return self._built(tab)
        raise KeyError(f"no plot tab named '{title}'")

    @property
    def _weight(self) -> float:
        return self._smoothing.value() / 100.0

    @property
    def _wall_x(self) -> bool:
        return self._x_axis.currentIndex() == 1

    def _view_key(self, tab: PlotTab) -> tuple:
        """What besides the data decides what a tab draws, once its series are long enough to be
        reduced: its width, and its x range when the user has zoomed or panned (then only the part
        in view is reduced, at screen resolution). () while every point is drawn as it is."""
        if max(len(self._history), *(len(o.history) for o in self._overlays), 0) <= LOD_DIRECT_POINTS:
            return ()
        view = tab.plot.getPlotItem().getViewBox()
        width = max(200, round(view.width()))
        if self._follow.isChecked():
            return (width,)
        lo, hi = view.viewRange()[0]
        return (width, lo, hi)

    def _redraw(self, tab: PlotTab, force: bool = False) -> bool:
        """Draw `tab` if it is dirty or its view changed (or `force`); True if it drew."""
        view = self._view_key(tab)
        if not (force or tab.dirty or tab.drawn_view != view):
            return False
        baseline = self._deltas(tab)
        tab.show_deltas(baseline is not None)
        # Deltas are made anew for each draw (either run may have changed), so are their caches.
        h = self._history if baseline is None else delta_history(self._history, baseline)
        caches = self._caches if baseline is None else SeriesCaches()
        x_all = h.walls() if self._wall_x else h.steps()
        weight = self._weight if tab.smooth else 0.0
        keys = set(h.keys)
        if tab.prefixes or tab.rest:  # the series found in this run or in a compared one
            tab.discover(keys.union(*(o.history.keys for o in self._overlays)))
        with_data = [
            c for c in tab.curves if self._draw_curve(tab, c, (h, caches), view, x_all, weight, keys)
        ]
        tab.sync_legend(tab.legend_entries(with_data) + self._draw_overlays(tab, view, weight))
        self._update_markers(tab)
        self._update_cursor(tab)
        # Auto-range and re-map now rather than at the start of the paint: there, the new range
        # would update the axes mid-paint and queue a second full paint of the plot.
        tab.plot.getPlotItem().getViewBox().prepareForPaint()
        tab.dirty, tab.drawn_view = False, view
        return True

    def _draw_curve(
        self,
        tab: PlotTab,
        c: TabCurve,
        drawn: tuple[History, SeriesCaches],
        view: tuple,
        x_all: np.ndarray,
        weight: float,
        keys: set[str],
    ) -> bool:
        """setData on one series' items (from `drawn`: the run's History or its deltas, and their
        caches); True if it has finite points."""
        h, caches = drawn
        if c.key not in keys:
            c.clear()
            return False
        raw = h.series(c.key)
        cache = caches.get(c.key, h.revision)
        cache.update(raw, weight)
        if tab.bands:
            self._draw_points(c, cache, x_all, raw, h)
        else:
            i0, i1 = index_range(view, cache, x_all)
            smoothed = weight > 0.0
            c.smooth.setData(*curve_data(view, cache, x_all, raw, i0, i1, smoothed=smoothed))
            if smoothed:
                c.raw.setData(*curve_data(view, cache, x_all, raw, i0, i1, smoothed=False))
            c.raw.setVisible(smoothed)
        return cache.n_finite > 0

    def _draw_points(
        self, c: TabCurve, cache: SeriesCache, x_all: np.ndarray, raw: np.ndarray, h: History
    ) -> None:
        """A sparse metric: every finite point, with its band."""
        index = slice(None) if cache.finite is None else cache.finite.view()
        std = np.nan_to_num(h.series(c.key + "_std")[index], nan=0.0)
        c.set_points(x_all[index], raw[index], std)

    def _draw_overlays(self, tab: PlotTab, view: tuple, weight: float) -> list[tuple[pg.PlotDataItem, str]]:
        """Hand each compared run's series in this tab to its CompareLayer; (legend sample, run
        name) for the legend, one per run that has data here. A run that did not change since its
        curves were made (a finished one), under the same name, colour and view, keeps them (and
        the layer the paths made from them)."""
        entries, curves = [], []
        baseline = self._deltas(tab)
        deltas = (self._baseline_version if baseline is not None else None, tab.band)
        for o in self._overlays:
            made_from = (o.name, o.color, o.version, view, weight, self._wall_x, len(tab.series), deltas)
            known = tab.compared.get(id(o))
            if known is None or known[0] != made_from:
                made = o.curves(tab.series, tab.bands, view, weight, self._wall_x, baseline, tab.band)
                known = tab.compared[id(o)] = (made_from, made)
            run_curves = known[1]
            curves += run_curves
            if run_curves:
                entries.append((tab.compare.legend_sample(id(o), run_curves[0]), o.name))
        tab.compare.set_curves(curves)
        return entries

    def _update_cursor(self, tab: PlotTab) -> None:
        step = self._cursor_step
        tab.set_cursor(None if step is None else self._history.wall_at(step) if self._wall_x else step)

    def _update_markers(self, tab: PlotTab) -> None:
        markers = self._history.markers
        if not markers:
            tab.markers.set_markers(np.empty(0), markers)
            return
        steps = np.fromiter((m.step for m in markers), dtype=np.float64, count=len(markers))
        # On a wall-time axis a marker not logged yet sits at the last point and moves as they come.
        tab.markers.set_markers(self._history.walls_at(steps) if self._wall_x else steps, markers)

    def _mark_dirty(self) -> None:
        for tab in self._tabs:
            tab.dirty = True

    def _invalidate(self) -> None:
        self._mark_dirty()
        self._urgent = True

    def _update_smoothing_label(self) -> None:
        self._smoothing_value.setText(f"{self._weight:.2f}")

    # ---- handlers -----------------------------------------------------------------------------

    @Slot(object)
    def _on_model_changed(self, changes: RunChanges) -> None:
        if not changes.aspects.isdisjoint(PLOTTED):
            self._mark_dirty()  # drawn at the next tick the budget allows; hidden tabs when shown
            self._show_rest_tabs()

    def _show_rest_tabs(self) -> None:
        """A rest tab (what your own loop logs by its own names) shows only while it has series."""
        keys = set(self._history.keys).union(*(o.history.keys for o in self._overlays))
        for i, tab in enumerate(self._tabs):
            if tab.rest:
                self._tab_widget.setTabVisible(i, bool(rest_keys(keys)))

    @Slot()
    def _on_model_reset(self) -> None:
        self._caches.clear()  # another run (its History's revision says so too)
        self._invalidate()
        self._show_rest_tabs()

    @Slot(object)
    def _on_overlay_model_changed(self, changes: RunChanges) -> None:
        if not changes.aspects.isdisjoint(PLOTTED):
            self._overlay_changed(self.sender())

    @Slot()
    def _on_overlay_model_reset(self) -> None:
        self._overlay_changed(self.sender())

    def _overlay_changed(self, model: object) -> None:
        for o in self._overlays:
            if any(m is model for m in o.models):
                o.version += 1  # its curves are made again at the next draw of each tab
        self._mark_dirty()

    def _on_timer_timeout(self) -> None:
        """The display tick: draws the visible tab if it is dirty (or its view moved). A change the
        user made is drawn now; new training data waits for the budget: at least MIN_REDRAW_GAP_S
        between redraws, and REDRAW_DUTY of the time at most."""
        now = time.monotonic()
        if not self._urgent and now < self._next_draw:
            return
        current = self._tab_widget.currentIndex()
        if not self.isVisible() or current < 0:
            return
        self._urgent = False
        tab = self._built(self._tabs[current])
        t0 = time.thread_time()
        if self._redraw(tab):
            self._costs.append(time.thread_time() - t0 + tab.plot.paint_s)  # this setData + last paint
            # The median frame, capped: one slow one once held every plot still for 20x its cost.
            gap = float(np.median(self._costs)) / self._duty
            self._next_draw = now + min(max(MIN_REDRAW_GAP_S, gap), MAX_REDRAW_GAP_S)

    def _on_tabs_current_changed(self, index: int) -> None:
        if index >= 0 and self.isVisible():
            self._redraw(self._built(self._tabs[index]))

    def _on_smoothing_value_changed(self, _value: int) -> None:
        self._update_smoothing_label()
        self._invalidate()  # the caches notice the new weight; the next tick recomputes

    def _on_log_y_toggled(self, checked: bool) -> None:
        for tab in self._built_tabs():
            tab.plot.getPlotItem().setLogMode(x=False, y=checked)
        self._follow.setChecked(True)  # the old y range means nothing on the new scale
        self._urgent = True

    def _on_x_axis_changed(self, index: int) -> None:
        label = X_AXES[index][1]
        for tab in self._built_tabs():
            tab.plot.getPlotItem().setLabel("bottom", label)
        self._invalidate()
        self._follow.setChecked(True)
        self._on_follow_toggled(True)

    def _on_follow_toggled(self, checked: bool) -> None:
        for tab in self._built_tabs():
            view = tab.plot.getPlotItem().getViewBox()
            if checked:
                view.enableAutoRange()
            else:
                view.disableAutoRange()
        self._urgent = True

    def _on_view_range_changed_manually(self, _mask: object) -> None:
        self._follow.setChecked(False)

    def _on_view_x_range_changed(self, *_args: object) -> None:
        if not self._follow.isChecked():
            self._urgent = True  # a zoom or pan: reduce the newly visible part at its resolution

    def showEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        current = self._tab_widget.currentIndex()
        if current >= 0:  # the tab shown has its plot before the first paint
            self._built(self._tabs[current])
        super().showEvent(event)

    def resizeEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        self._invalidate()  # the legend's entries per row follow the width (and so do reduced curves)
        super().resizeEvent(event)

    def changeEvent(self, event: QEvent) -> None:  # noqa: N802 (Qt's name)
        if event.type() == QEvent.Type.PaletteChange:
            for tab in self._built_tabs():
                tab.apply_palette(self.palette())
        super().changeEvent(event)
