"""Live training curves, drawn from the GUI's History.

The plots are created once and updated: one PlotDataItem per series (plus a faint one for the raw
values behind the smoothed curve), fed from a display-rate QTimer and only when the history
changed. Smoothing is cached per stat and extended by the new tail only. A short series is drawn
from views of History's own buffers; a long one through a min/max pyramid that hands pyqtgraph two
points per pixel column, so a million-point run redraws as cheaply as a short one. Compared runs
(set_overlays) are reduced the same way and drawn by one item per plot (plot_items.CompareLayer).

Drawing shares the GUI thread (and the GIL) with everything else the window does while the
training thread works, so it is budgeted: at most about 10 redraws a second, fewer when a frame is
expensive (REDRAW_DUTY), and grid lines are opaque (Qt strokes translucent lines ~10x slower).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QFont, QFontMetrics, QPalette
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

from ganstudio.core.curves import SeriesCache
from ganstudio.core.metrics.tabs import TABS
from ganstudio.core.run.history import History
from ganstudio.qt.widgets.compare_layer import CompareLayer, LayerCurve
from ganstudio.qt.widgets.plot_items import MarkerLayer, SeriesItem, TimedPlotWidget

REDRAW_INTERVAL_MS = 25  # the display tick: how soon a change the user made is drawn
MIN_REDRAW_GAP_S = 0.1  # new training data is drawn at most 10 times a second...
REDRAW_DUTY = 0.05  # ...and the plots take at most ~5% of the GUI thread's time while it streams
LOD_DIRECT_POINTS = 4096  # up to this many points in view are handed to pyqtgraph as they are
SMOOTHING_STEPS = 99  # slider 0..99 -> weight 0.00..0.99
DEFAULT_SMOOTHING = 0.6  # TensorBoard's default

# Series colours readable on light and dark backgrounds, and distinct from the marker colours.
SERIES_COLORS = ("#3b82f6", "#16a34a", "#a855f7", "#0891b2")
RAW_ALPHA = 70
BAND_ALPHA = 70  # the bootstrap band's fill; its edges and the error bars are a little stronger
BAND_EDGE_ALPHA = 110
LEGEND_ROW_PX = 22  # the legend's row above each plot (taller if its text needs it)
LEGEND_ENTRY_PX = 44  # a legend entry's line sample and spacing, besides its text

# Colour ramps for a tab's groups of series (core.metrics.tabs), light to dark, input to output.
RAMPS = {
    "blues": ("#93c5fd", "#60a5fa", "#3b82f6", "#2563eb", "#1d4ed8", "#1e40af", "#1e3a8a"),
    "oranges": ("#fdba74", "#fb923c", "#f97316", "#ea580c", "#c2410c", "#9a3412", "#7c2d12"),
}
X_AXES = (("Step", "step"), ("Wall time (s)", "wall time (s)"))
# Compared runs (set_overlays): each in its colour, a tab's later series in paler tints of it (opaque
# and solid: Qt strokes dashed or translucent lines several times slower, and ten runs are many
# lines), all of a plot's by one CompareLayer under the current run's curves, which are drawn wider
# meanwhile, so the current run stays the one in front.
OVERLAY_TINTS = (0.0, 0.45, 0.65, 0.8)  # how far each series' colour is mixed towards white
CURRENT_WIDTH_COMPARED = 2
# A compared run's long series is reduced to a (min, max) pair every this many pixel columns (the
# current run's, every column): the same envelope, drawn with half the points; with ten runs, Qt's
# stroking of their points is most of a frame.
OVERLAY_COLUMN_PX = 2
CURSOR_COLOR = "#64748b"


@dataclass
class _Curve:
    key: str
    label: str
    smooth: pg.PlotDataItem
    raw: pg.PlotDataItem
    band: tuple[pg.PlotDataItem, pg.PlotDataItem] | None = None  # value -/+ its "<key>_std"
    # The same interval as a vertical bar at each point: a band between one or two points is a
    # sliver or nothing at all, and a metric's first evaluations are just that.
    error_bars: pg.PlotDataItem | None = None


@dataclass(eq=False)
class Overlay:
    """Another run drawn on every tab beside the current one: its name (legend and hover), colour
    and History (a RunState's, which the panel only reads)."""

    name: str
    color: str
    history: History
    caches: dict[str, SeriesCache] = field(default_factory=dict)
    seen: tuple = ()  # (revision, points, last step) when last drawn: tells appends from rewrites


@dataclass
class _Tab:
    """One plot tab. Its plot is built when the tab is first shown or asked for (see `_built`):
    each pyqtgraph plot costs ~30 ms to build, and most tabs are hidden at startup."""

    title: str
    page: QWidget  # the tab's page; the plot goes in it once built
    series: list[tuple[str, str]]
    y_label: str
    smooth: bool
    bands: bool
    plot: TimedPlotWidget | None = None
    curves: list[_Curve] = field(default_factory=list)
    markers: MarkerLayer | None = None
    drawn: tuple | None = None  # what it shows: the history signature and view; None = stale
    compare: CompareLayer | None = None  # the compared runs' curves
    # id(Overlay) -> (what its curves were made from, the curves): a run that did not change (a
    # finished one) keeps its curves, and the layer its paths.
    compared: dict[int, tuple[tuple, list[LayerCurve]]] = field(default_factory=dict)
    cursor: pg.InfiniteLine | None = None  # the compare's step (set_cursor)
    # Series found in the history by name: {prefix: (group name, colours)}; one curve per key that
    # starts with a prefix (the layers' gradient norms), listed in the legend one line a group
    # unless `expand` is checked.
    prefixes: dict[str, tuple[str, tuple[str, ...]]] = field(default_factory=dict)
    expand: QCheckBox | None = None


class PlotsPanel(QWidget):
    marker_activated = Signal(object)  # Marker double-clicked or right-clicked on any tab

    def __init__(self, history: History, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("plots_panel")
        self._history = history
        self._overlays: list[Overlay] = []
        self._cursor_step: int | None = None
        self._caches: dict[str, SeriesCache] = {}
        self._tabs: list[_Tab] = []
        self._seen: tuple[int, float, float] = (0, 0.0, 0.0)  # (points, last step, last wall)
        self._seen_revision = history.revision
        self._next_draw = 0.0  # time.monotonic() before which new data waits (the redraw budget)
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

        self._tab_widget = QTabWidget(objectName="plots_tabs")
        self._tab_widget.setDocumentMode(True)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addLayout(controls)
        layout.addWidget(self._tab_widget, 1)

        for tab in TABS:
            self.add_tab(
                tab.title,
                list(tab.series),
                tab.y_label,
                tab.smooth,
                tab.bands,
                {prefix: (name, RAMPS[ramp]) for prefix, name, ramp in tab.groups},
            )
        self._update_smoothing_label()

        self._smoothing.valueChanged.connect(self._on_smoothing_value_changed)
        self._log_y.toggled.connect(self._on_log_y_toggled)
        self._x_axis.currentIndexChanged.connect(self._on_x_axis_changed)
        self._follow.toggled.connect(self._on_follow_toggled)
        self._tab_widget.currentChanged.connect(self._on_tabs_current_changed)

        self._timer = QTimer(self, objectName="plots_redraw_timer")
        self._timer.setInterval(REDRAW_INTERVAL_MS)
        self._timer.timeout.connect(self._on_timer_timeout)
        self._timer.start()

    # ---- public API ---------------------------------------------------------------------------

    def add_tab(
        self,
        title: str,
        series: list[tuple[str, str]],
        y_label: str | None = None,
        smooth: bool = True,
        bands: bool = False,
        prefixes: dict[str, tuple[str, tuple[str, ...]]] | None = None,
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
        tab = _Tab(
            title,
            page,
            list(series),
            y_label or title.lower(),
            smooth and not bands,
            bands,
            prefixes=dict(prefixes or {}),
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

    def _built(self, tab: _Tab) -> _Tab:
        """`tab`, with its plot built in the panel's current settings if it was not yet."""
        if tab.plot is not None:
            return tab
        plot = TimedPlotWidget()
        plot.setObjectName(f"plots_plot_{self._tabs.index(tab)}")
        item = plot.getPlotItem()
        item.showGrid(x=True, y=True, alpha=0.15)
        for name in ("left", "bottom"):  # an opaque grid goes under the curves, not over them
            item.getAxis(name).setZValue(-1000)
        # Curves arrive already reduced to ~2 points a pixel column (see Lod), or are short. So
        # pyqtgraph's own downsampling and clipping are off: with them on, every range change
        # (each auto-range while following) re-runs setData on every curve and paints twice.
        item.setDownsampling(auto=False)  # the defaults for curves added later, too
        item.setClipToView(False)
        item.setLabel("left", tab.y_label)
        item.getAxis("left").enableAutoSIPrefix(False)  # no "(x0.001)" on unitless values
        item.setLabel("bottom", X_AXES[self._x_axis.currentIndex()][1])
        item.setLogMode(x=False, y=self._log_y.isChecked())
        view = item.getViewBox()
        view.sigRangeChangedManually.connect(self._on_view_range_changed_manually)
        view.sigXRangeChanged.connect(self._on_view_x_range_changed)
        for i, (key, label) in enumerate(tab.series):
            self._add_curve(tab, item, key, label, SERIES_COLORS[i % len(SERIES_COLORS)])
        # A row of its own above the plot, so the legend never hides the newest points. Made after
        # the curves: PlotItem.addItem would list each named curve at once, data or not, and
        # _sync_legend lists a series only once it has some.
        item.layout.setRowFixedHeight(0, LEGEND_ROW_PX)
        legend = pg.LegendItem(colCount=max(1, len(tab.series) or 2), frame=False, labelTextSize="8pt")
        legend.layout.setContentsMargins(0, 0, 0, 0)
        legend.setParentItem(item)
        legend.anchor(itemPos=(0, 0), parentPos=(0, 0), offset=(item.getAxis("left").width(), 0))
        item.legend = legend
        tab.compare = CompareLayer()
        item.addItem(tab.compare)  # in the auto-range: compared runs stay in view
        tab.markers = MarkerLayer(self._label_fill())
        item.addItem(tab.markers, ignoreBounds=True)
        tab.markers.activated.connect(self.marker_activated)
        tab.plot = plot
        self._emphasise(tab)
        tab.page.layout().addWidget(plot)
        tab.drawn = None
        self._apply_palette(tab)
        self._redraw(tab)  # up to date from the start, whoever asked for it
        return tab

    def _add_curve(self, tab: _Tab, item, key: str, label: str, color_name: str) -> _Curve:
        """One series' items in a built tab: the curve, its faint raw values, and for a metric its
        band and error bars."""
        color = QColor(color_name)
        faint = QColor(color)
        faint.setAlpha(RAW_ALPHA)
        raw = pg.PlotDataItem(pen=pg.mkPen(faint, width=1), antialias=False)
        dots = {"symbol": "o", "symbolSize": 5, "symbolBrush": color, "symbolPen": None} if tab.bands else {}
        main = SeriesItem(pen=pg.mkPen(color, width=1), antialias=False, name=label, **dots)
        for data_item in (raw, main):
            item.addItem(data_item)
        raw.setVisible(False)
        band = error_bars = None
        if tab.bands:
            # The edges need a pen: a PlotDataItem without one never hands its data to the
            # curve that FillBetweenItem fills from, and the band stayed invisible.
            edge = QColor(color)
            edge.setAlpha(BAND_EDGE_ALPHA)
            lo = pg.PlotDataItem(pen=pg.mkPen(edge, width=1), antialias=False)
            hi = pg.PlotDataItem(pen=pg.mkPen(edge, width=1), antialias=False)
            fill = QColor(color)
            fill.setAlpha(BAND_ALPHA)
            for band_item in (lo, hi, pg.FillBetweenItem(lo, hi, brush=fill)):
                item.addItem(band_item)
            error_bars = pg.PlotDataItem(pen=pg.mkPen(edge, width=2), connect="pairs", antialias=False)
            item.addItem(error_bars)
            band = (lo, hi)
        curve = _Curve(key, label, main, raw, band, error_bars)
        tab.curves.append(curve)
        return curve

    def _discover(self, tab: _Tab, keys: set[str]) -> None:
        """Curves for the history keys a prefix tab has not drawn yet (a layer seen for the first time)."""
        have = {c.key for c in tab.curves}
        for prefix, (_group, colors) in tab.prefixes.items():
            new = sorted(k for k in keys if k.startswith(prefix) and k not in have)
            for key in new:
                n = sum(c.key.startswith(prefix) for c in tab.curves)
                color = colors[n % len(colors)]
                curve = self._add_curve(tab, tab.plot.getPlotItem(), key, key[len(prefix) :], color)
                curve.smooth.setToolTip(key)
                tab.series.append((key, curve.label))

    def _legend_entries(self, tab: _Tab, with_data: list[_Curve]) -> list[tuple[pg.PlotDataItem, str]]:
        if not tab.prefixes or (tab.expand is not None and tab.expand.isChecked()):
            return [(c.smooth, c.label) for c in with_data]
        entries, seen = [], set()
        for c in with_data:
            prefix = next((p for p in tab.prefixes if c.key.startswith(p)), None)
            if prefix is None:
                entries.append((c.smooth, c.label))
            elif prefix not in seen:
                seen.add(prefix)
                count = sum(d.key.startswith(prefix) for d in with_data)
                entries.append((c.smooth, f"{tab.prefixes[prefix][0]}: {count} series"))
        return entries

    def _on_expand_toggled(self, tab: _Tab) -> None:
        tab.drawn = None
        self._urgent = True

    def _built_tabs(self) -> list[_Tab]:
        return [tab for tab in self._tabs if tab.plot is not None]

    def show_tab(self, title: str) -> None:
        self._tab_widget.setCurrentWidget(self._tab(title).page)

    def refresh(self) -> None:
        """Redraw every built tab now, whether or not the history changed (the others draw when
        they are built)."""
        for tab in self._built_tabs():
            self._redraw(tab, force=True)

    def redraw(self) -> bool:
        """Redraw the visible tab now if its data or view changed (what a display tick does,
        without the budget); True if it drew."""
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
        return [tab.title for tab in self._tabs]

    # ---- compared runs ------------------------------------------------------------------------

    def set_overlays(self, overlays: list[Overlay]) -> None:
        """Draw these other runs on every tab too, each in its colour, with the same smoothing,
        log-y and x axis; the current run stays in front."""
        keep = {id(o) for o in overlays}
        for tab in self._built_tabs():  # an unticked run leaves the plots now, not at the next redraw
            for key in [k for k in tab.compared if k not in keep]:
                del tab.compared[key]
            tab.compare.set_curves([c for c in tab.compare.curves if c.run in keep])
        self._overlays = list(overlays)
        for tab in self._built_tabs():
            self._emphasise(tab)
        self._invalidate()

    def overlays(self) -> list[Overlay]:
        return list(self._overlays)

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

    def _tab(self, title: str) -> _Tab:
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

    def _signature(self) -> tuple:
        h = self._history
        n = len(h)
        last_step = int(h.steps()[-1]) if n else -1
        last_wall = float(h.walls()[-1]) if n else 0.0
        last_marker = id(h.markers[-1]) if h.markers else 0
        overlays = tuple((id(o), o.name, o.history.revision, len(o.history)) for o in self._overlays)
        return (h.revision, n, last_step, last_wall, len(h.markers), last_marker, overlays)

    def _check_rewritten(self) -> None:
        """Drop every cache when the history was truncated (a rollback) rather than appended to."""
        h = self._history
        n, step, wall = self._seen
        rewritten = (
            h.revision != self._seen_revision
            or len(h) < n
            or (n > 0 and (int(h.steps()[n - 1]) != step or float(h.walls()[n - 1]) != wall))
        )
        self._seen_revision = h.revision
        if rewritten:
            self._caches.clear()
            for tab in self._tabs:
                tab.drawn = None
        if len(h):
            self._seen = (len(h), int(h.steps()[-1]), float(h.walls()[-1]))
        else:
            self._seen = (0, 0.0, 0.0)
        for o in self._overlays:  # the same for each compared run, whose caches are its own
            oh, seen = o.history, o.seen
            n = len(oh)
            if seen and (
                oh.revision != seen[0] or n < seen[1] or (seen[1] and int(oh.steps()[seen[1] - 1]) != seen[2])
            ):
                o.caches.clear()
            o.seen = (oh.revision, n, int(oh.steps()[n - 1]) if n else -1)

    def _view_key(self, tab: _Tab) -> tuple:
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

    def _redraw(self, tab: _Tab, force: bool = False) -> bool:
        self._check_rewritten()
        key = (self._signature(), self._view_key(tab))
        if not force and tab.drawn == key:
            return False
        h = self._history
        x_all = h.walls() if self._wall_x else h.steps()
        weight = self._weight if tab.smooth else 0.0
        keys = set(h.keys)
        if tab.prefixes:  # the series found in this run or in a compared one
            self._discover(tab, keys.union(*(o.history.keys for o in self._overlays)))
        view = key[1]
        with_data = []
        for c in tab.curves:
            if c.key not in keys:
                c.smooth.setData([], [])
                c.raw.setData([], [])
                continue
            raw = h.series(c.key)
            cache = self._caches.get(c.key)
            if cache is None:
                cache = self._caches[c.key] = SeriesCache()
            cache.update(raw, weight)
            if cache.n_finite:
                with_data.append(c)
            if tab.bands:
                self._draw_points(c, cache, x_all, raw, h)
                continue
            i0, i1 = self._index_range(view, cache, x_all)
            if weight > 0.0:
                c.smooth.setData(*self._curve_data(view, cache, x_all, raw, i0, i1, smoothed=True))
                c.raw.setData(*self._curve_data(view, cache, x_all, raw, i0, i1, smoothed=False))
                c.raw.setVisible(True)
            else:
                c.smooth.setData(*self._curve_data(view, cache, x_all, raw, i0, i1, smoothed=False))
                c.raw.setVisible(False)
        entries = self._legend_entries(tab, with_data) + self._draw_overlays(tab, view, weight)
        self._sync_legend(tab, entries)
        self._update_markers(tab)
        self._update_cursor(tab)
        # Auto-range and re-map now rather than at the start of the paint: there, the new range
        # would update the axes mid-paint and queue a second full paint of the plot.
        tab.plot.getPlotItem().getViewBox().prepareForPaint()
        tab.drawn = key
        return True

    def _draw_points(self, c: _Curve, cache: SeriesCache, x_all, raw, h: History) -> None:
        """A sparse metric: every finite point, with its band."""
        if cache.finite is None:
            x, y = x_all, raw
        else:
            index = cache.finite.view()
            x, y = x_all[index], raw[index]
        c.smooth.setData(x, y)
        c.raw.setVisible(False)
        std = h.series(c.key + "_std")
        std = std if cache.finite is None else std[cache.finite.view()]
        std = np.nan_to_num(std, nan=0.0)
        c.band[0].setData(x, y - std)
        c.band[1].setData(x, y + std)
        c.error_bars.setData(np.repeat(x, 2), np.column_stack([y - std, y + std]).ravel())

    def _draw_overlays(self, tab: _Tab, view: tuple, weight: float) -> list[tuple[pg.PlotDataItem, str]]:
        """Hand each compared run's series in this tab to its CompareLayer; (legend sample, run
        name) for the legend, one per run that has data here. A run whose history, name, colour and
        view did not change keeps its curves (and the layer the paths made from them)."""
        entries, curves = [], []
        for o in self._overlays:
            made_from = (
                o.name,
                o.color,
                o.history.revision,
                len(o.history),
                view,
                weight,
                self._wall_x,
                len(tab.series),
            )
            known = tab.compared.get(id(o))
            if known is None or known[0] != made_from:
                known = tab.compared[id(o)] = (made_from, self._overlay_curves(tab, o, view, weight))
            run_curves = known[1]
            curves += run_curves
            if run_curves:
                entries.append((tab.compare.legend_sample(id(o), run_curves[0]), o.name))
        tab.compare.set_curves(curves)
        return entries

    def _overlay_curves(self, tab: _Tab, o: Overlay, view: tuple, weight: float) -> list[LayerCurve]:
        """`o`'s series of this tab that have finite points, reduced as the current run's are, each
        in a tint of the run's colour (paler for the tab's later series)."""
        h = o.history
        x_all = h.walls() if self._wall_x else h.steps()
        base = QColor(o.color)
        out = []
        for i, (key, label) in enumerate(tab.series):
            if not h.has(key):
                continue
            raw = h.series(key)
            cache = o.caches.get(key)
            if cache is None:
                cache = o.caches[key] = SeriesCache()
            cache.update(raw, weight)
            if not cache.n_finite:
                continue
            if tab.bands:
                index = cache.finite.view() if cache.finite is not None else slice(None)
                x, y = x_all[index], raw[index]
            else:
                i0, i1 = self._index_range(view, cache, x_all)
                coarse = (max(1, view[0] // OVERLAY_COLUMN_PX), *view[1:]) if view else view
                x, y = self._curve_data(coarse, cache, x_all, raw, i0, i1, smoothed=weight > 0.0)
            t = OVERLAY_TINTS[i % len(OVERLAY_TINTS)]
            tint = QColor.fromRgbF(*(c + (1.0 - c) * t for c in (base.redF(), base.greenF(), base.blueF())))
            out.append(
                LayerCurve(
                    id(o),
                    o.name,
                    label,
                    pg.mkPen(tint, width=1),
                    x,
                    y,
                    pg.mkBrush(base) if tab.bands else None,
                )
            )
        return out

    def _emphasise(self, tab: _Tab) -> None:
        """The current run's curves, wider while other runs are compared with it."""
        width = CURRENT_WIDTH_COMPARED if self._overlays else 1
        for i, c in enumerate(tab.curves):
            c.smooth.setPen(pg.mkPen(SERIES_COLORS[i % len(SERIES_COLORS)], width=width))

    def _update_cursor(self, tab: _Tab) -> None:
        if self._cursor_step is None:
            if tab.cursor is not None:
                tab.cursor.hide()
            return
        if tab.cursor is None:  # made when first needed: most sessions never compare samples
            tab.cursor = pg.InfiniteLine(angle=90, movable=False, pen=pg.mkPen(CURSOR_COLOR, width=1))
            tab.plot.getPlotItem().addItem(tab.cursor, ignoreBounds=True)
        x = self._history.wall_at(self._cursor_step) if self._wall_x else self._cursor_step
        tab.cursor.setValue(x)
        tab.cursor.show()

    @staticmethod
    def _sync_legend(tab: _Tab, entries: list[tuple[pg.PlotDataItem, str]]) -> None:
        """List the series that have data, in the tab's order ("modes covered" means nothing on
        the digits, so it is not listed there), then each compared run by name: as many to a row
        as the plot's width holds, in a row above the plot as tall as they need (and no taller once
        compared runs are gone)."""
        item = tab.plot.getPlotItem()
        legend = item.legend
        font = QFont()
        font.setPointSizeF(8)  # the legend's labelTextSize
        metrics = QFontMetrics(font)
        widest = max((metrics.horizontalAdvance(label) for _, label in entries), default=0) + LEGEND_ENTRY_PX
        room = tab.plot.width() - item.getAxis("left").width()
        columns = max(1, min(len(entries), int(room // widest)))
        if [
            (sample.item, label.text) for sample, label in legend.items
        ] == entries and legend.columnCount == columns:
            return
        legend.clear()
        legend.setColumnCount(columns)
        for entry, label in entries:
            legend.addItem(entry, label)
        item.layout.setRowFixedHeight(0, max(LEGEND_ROW_PX, math.ceil(legend.height())))

    @staticmethod
    def _index_range(view: tuple, cache: SeriesCache, x_all: np.ndarray) -> tuple[int, int]:
        """The finite points to draw: all of them when following, else those in view plus one
        view width either side (so a pan shows lines before the next redraw) and one point more
        each way (so the lines reach the edges)."""
        n = cache.n_finite
        if len(view) < 3:
            return 0, n
        lo, hi = view[1], view[2]
        span = hi - lo
        a = int(np.searchsorted(x_all, lo - span, side="left"))
        b = int(np.searchsorted(x_all, hi + span, side="right"))
        if cache.finite is not None:
            index = cache.finite.view()
            a, b = int(np.searchsorted(index, a)), int(np.searchsorted(index, b))
        return max(0, a - 1), min(n, b + 1)

    @staticmethod
    def _curve_data(
        view: tuple,
        cache: SeriesCache,
        x_all: np.ndarray,
        raw: np.ndarray,
        i0: int,
        i1: int,
        smoothed: bool,
    ) -> tuple[np.ndarray, np.ndarray]:
        """x and y for one curve: the points i0..i1-1 as they are (views of the buffers when
        possible), or when there are more than LOD_DIRECT_POINTS, the min and max of each of about
        one bucket per pixel column, from the series' pyramid."""
        finite = cache.finite.view() if cache.finite is not None else None
        if smoothed:
            smooth = cache.smoothed.view()
            values: Callable[[int, int], np.ndarray] = lambda a, b: smooth[a:b]  # noqa: E731
        else:
            values = lambda a, b: cache.finite_values(raw, a, b)  # noqa: E731
        if i1 - i0 <= LOD_DIRECT_POINTS:
            return (x_all[i0:i1] if finite is None else x_all[finite[i0:i1]]), values(i0, i1)
        width = view[0] if len(view) == 1 else 3 * view[0]  # the margins hold two more views
        starts, mins, maxs = cache.pyramid(raw, smoothed).buckets(values, i0, i1, width)
        xs = x_all[starts] if finite is None else x_all[finite[starts]]
        return np.repeat(xs, 2), np.column_stack([mins, maxs]).ravel()

    def _update_markers(self, tab: _Tab) -> None:
        markers = self._history.markers
        if not markers:
            tab.markers.set_markers(np.empty(0), markers)
            return
        steps = np.fromiter((m.step for m in markers), dtype=np.float64, count=len(markers))
        # On a wall-time axis a marker not logged yet sits at the last point and moves as they come.
        tab.markers.set_markers(self._history.walls_at(steps) if self._wall_x else steps, markers)

    def _invalidate(self) -> None:
        for tab in self._tabs:
            tab.drawn = None
        self._urgent = True

    def _label_fill(self) -> QColor:
        fill = QColor(self.palette().color(QPalette.ColorRole.Base))
        fill.setAlpha(220)
        return fill

    def _apply_palette(self, tab: _Tab) -> None:
        palette = self.palette()
        background = palette.color(QPalette.ColorRole.Base)
        foreground = palette.color(QPalette.ColorRole.Text)
        tab.plot.setBackground(background)
        item = tab.plot.getPlotItem()
        for name in ("left", "bottom"):
            axis = item.getAxis(name)
            axis.setPen(foreground)
            axis.setTextPen(foreground)
            axis.set_background(background)
        tab.markers.set_label_fill(self._label_fill())
        legend = item.legend
        if legend is not None:
            legend_fill = QColor(background)
            legend_fill.setAlpha(200)
            legend.setBrush(legend_fill)
            legend.setPen(palette.color(QPalette.ColorRole.Mid))
            legend.setLabelTextColor(foreground)
            for _sample, label in legend.items:
                label.setText(label.text)  # setLabelTextColor only takes effect on the next setText

    def _update_smoothing_label(self) -> None:
        self._smoothing_value.setText(f"{self._weight:.2f}")

    # ---- handlers -----------------------------------------------------------------------------

    def _on_timer_timeout(self) -> None:
        """The display tick. A change the user made is drawn now; new training data waits for the
        budget: at least MIN_REDRAW_GAP_S between redraws, and REDRAW_DUTY of the time at most."""
        now = time.monotonic()
        if not self._urgent and now < self._next_draw:
            return
        current = self._tab_widget.currentIndex()
        if not self.isVisible() or current < 0:
            return
        self._urgent = False
        tab = self._built(self._tabs[current])
        t0 = time.perf_counter()
        if self._redraw(tab):
            cost = time.perf_counter() - t0 + tab.plot.paint_s  # this setData + the last paint
            self._next_draw = now + max(MIN_REDRAW_GAP_S, cost / REDRAW_DUTY)

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
                self._apply_palette(tab)
        super().changeEvent(event)
