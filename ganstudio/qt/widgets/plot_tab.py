"""One tab of the plots panel: its plot, built once, and what it holds (a curve per series, the
legend row above the plot, the markers, the compared runs' layer, the compare's cursor).

PlotTab knows how its plot is laid out, coloured and labelled; what is drawn in it and when (the
data, the redraw budget, the compared runs' reduction) is the panel's (ganstudio.qt.panels.plots).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pyqtgraph as pg
from PySide6.QtGui import QAction, QActionGroup, QColor, QFont, QFontMetrics, QPalette
from PySide6.QtWidgets import QCheckBox, QWidget

from ganstudio.core.metrics.tabs import rest_keys
from ganstudio.core.run.groups import MINMAX, STD
from ganstudio.qt.widgets.compare_layer import CompareLayer, LayerCurve
from ganstudio.qt.widgets.plot_items import MarkerLayer, SeriesItem, TimedPlotWidget

# Series colours readable on light and dark backgrounds, and distinct from the marker colours.
SERIES_COLORS = ("#3b82f6", "#16a34a", "#a855f7", "#0891b2")
RAW_ALPHA = 70
BAND_ALPHA = 70  # the bootstrap band's fill; its edges and the error bars are a little stronger
BAND_EDGE_ALPHA = 110
LEGEND_ROW_PX = 22  # the legend's row above each plot (taller if its text needs it)
LEGEND_ENTRY_PX = 44  # a legend entry's line sample and spacing, besides its text
# While other runs are compared, the current run's curves are drawn this wide, so they stay the
# ones in front (the compared runs' are 1 px, under them).
CURRENT_WIDTH_COMPARED = 2
CURSOR_COLOR = "#64748b"


def label_fill(palette: QPalette) -> QColor:
    """The fill behind a hovered marker's label: the plot's background, nearly opaque."""
    fill = QColor(palette.color(QPalette.ColorRole.Base))
    fill.setAlpha(220)
    return fill


@dataclass
class TabCurve:
    key: str
    label: str
    smooth: pg.PlotDataItem
    raw: pg.PlotDataItem
    band: tuple[pg.PlotDataItem, pg.PlotDataItem] | None = None  # value -/+ its "<key>_std"
    # The same interval as a vertical bar at each point: a band between one or two points is a
    # sliver or nothing at all, and a metric's first evaluations are just that.
    error_bars: pg.PlotDataItem | None = None

    def clear(self) -> None:
        self.smooth.setData([], [])
        self.raw.setData([], [])

    def set_points(self, x: np.ndarray, y: np.ndarray, std: np.ndarray) -> None:
        """A sparse metric: its points, each with its band and error bar of +/- `std`."""
        self.smooth.setData(x, y)
        self.raw.setVisible(False)
        self.band[0].setData(x, y - std)
        self.band[1].setData(x, y + std)
        self.error_bars.setData(np.repeat(x, 2), np.column_stack([y - std, y + std]).ravel())


@dataclass
class PlotTab:
    """One plot tab. Its plot is built when the tab is first shown or asked for (`build`): each
    pyqtgraph plot costs ~30 ms to build, and most tabs are hidden at startup."""

    title: str
    page: QWidget  # the tab's page; the plot goes in it once built
    series: list[tuple[str, str]]
    y_label: str
    smooth: bool
    bands: bool
    plot: TimedPlotWidget | None = None
    curves: list[TabCurve] = field(default_factory=list)
    markers: MarkerLayer | None = None
    # The run, a compared run or the panel's settings changed since the tab was last drawn.
    dirty: bool = True
    drawn_view: tuple | None = None  # the view (see the panel's _view_key) it was last drawn for
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
    rest: bool = False  # draws every key no other tab does (core.metrics.tabs.rest_keys)
    # The plot's context menu: draw every run as deltas against the baseline run; a group's band.
    deltas: QAction | None = None
    band: str = MINMAX
    band_actions: dict[str, QAction] = field(default_factory=dict)

    def add_compare_actions(self, changed: Callable[[PlotTab], None]) -> None:
        """Add to the plot's right-click menu "Deltas Against Baseline" (checkable) and the choice
        of a group's band; `changed(tab)` follows either."""
        menu = self.plot.getPlotItem().getViewBox().menu
        menu.addSeparator()
        self.deltas = menu.addAction("Deltas Against Baseline")
        self.deltas.setCheckable(True)
        self.deltas.setToolTip(
            "Draw each run as its value minus the baseline run's at the same step (steps the "
            "baseline did not log are left out); set the baseline in the Runs dock"
        )
        self.deltas.toggled.connect(lambda _on: changed(self))
        bands = menu.addMenu("Group Band")
        choice = QActionGroup(bands)
        for kind, text in ((MINMAX, "Min / Max"), (STD, "Mean ± Std")):
            action = bands.addAction(text)
            action.setCheckable(True)
            action.setChecked(kind == self.band)
            choice.addAction(action)
            action.toggled.connect(lambda on, k=kind: on and self._set_band(k, changed))
            self.band_actions[kind] = action

    def _set_band(self, kind: str, changed: Callable[[PlotTab], None]) -> None:
        self.band = kind
        changed(self)

    def show_deltas(self, on: bool) -> None:
        """Say on the y axis whether the plot draws deltas against the baseline."""
        label = f"{self.y_label} - baseline" if on else self.y_label
        axis = self.plot.getPlotItem().getAxis("left")
        if axis.labelText != label:  # setting it redraws the axis, as a range change does
            axis.setLabel(label)

    def build(self, name: str, x_label: str, log_y: bool, fill: QColor) -> TimedPlotWidget:
        """Make the tab's plot (object name `name`), its curves, legend row and layers."""
        plot = TimedPlotWidget()
        plot.setObjectName(name)
        item = plot.getPlotItem()
        item.showGrid(x=True, y=True, alpha=0.15)
        for axis in ("left", "bottom"):  # an opaque grid goes under the curves, not over them
            item.getAxis(axis).setZValue(-1000)
        # Curves arrive already reduced to ~2 points a pixel column (see Lod), or are short. So
        # pyqtgraph's own downsampling and clipping are off: with them on, every range change
        # (each auto-range while following) re-runs setData on every curve and paints twice.
        item.setDownsampling(auto=False)  # the defaults for curves added later, too
        item.setClipToView(False)
        item.setLabel("left", self.y_label)
        item.getAxis("left").enableAutoSIPrefix(False)  # no "(x0.001)" on unitless values
        item.setLabel("bottom", x_label)
        item.setLogMode(x=False, y=log_y)
        self.plot = plot
        for i, (key, label) in enumerate(self.series):
            self.add_curve(key, label, SERIES_COLORS[i % len(SERIES_COLORS)])
        # A row of its own above the plot, so the legend never hides the newest points. Made after
        # the curves: PlotItem.addItem would list each named curve at once, data or not, and
        # sync_legend lists a series only once it has some.
        item.layout.setRowFixedHeight(0, LEGEND_ROW_PX)
        legend = pg.LegendItem(colCount=max(1, len(self.series) or 2), frame=False, labelTextSize="8pt")
        legend.layout.setContentsMargins(0, 0, 0, 0)
        legend.setParentItem(item)
        legend.anchor(itemPos=(0, 0), parentPos=(0, 0), offset=(item.getAxis("left").width(), 0))
        item.legend = legend
        self.compare = CompareLayer()
        item.addItem(self.compare)  # in the auto-range: compared runs stay in view
        self.markers = MarkerLayer(fill)
        item.addItem(self.markers, ignoreBounds=True)
        self.page.layout().addWidget(plot)
        self.dirty, self.drawn_view = True, None
        return plot

    def add_curve(self, key: str, label: str, color_name: str) -> TabCurve:
        """One series' items in the built plot: the curve, its faint raw values, and for a metric
        its band and error bars."""
        item = self.plot.getPlotItem()
        color = QColor(color_name)
        faint = QColor(color)
        faint.setAlpha(RAW_ALPHA)
        raw = pg.PlotDataItem(pen=pg.mkPen(faint, width=1), antialias=False)
        dots = {"symbol": "o", "symbolSize": 5, "symbolBrush": color, "symbolPen": None} if self.bands else {}
        main = SeriesItem(pen=pg.mkPen(color, width=1), antialias=False, name=label, **dots)
        for data_item in (raw, main):
            item.addItem(data_item)
        raw.setVisible(False)
        band = error_bars = None
        if self.bands:
            # The edges need a pen: a PlotDataItem without one never hands its data to the
            # curve that FillBetweenItem fills from, and the band stayed invisible.
            edge = QColor(color)
            edge.setAlpha(BAND_EDGE_ALPHA)
            lo = pg.PlotDataItem(pen=pg.mkPen(edge, width=1), antialias=False)
            hi = pg.PlotDataItem(pen=pg.mkPen(edge, width=1), antialias=False)
            band_fill = QColor(color)
            band_fill.setAlpha(BAND_ALPHA)
            for band_item in (lo, hi, pg.FillBetweenItem(lo, hi, brush=band_fill)):
                item.addItem(band_item)
            error_bars = pg.PlotDataItem(pen=pg.mkPen(edge, width=2), connect="pairs", antialias=False)
            item.addItem(error_bars)
            band = (lo, hi)
        curve = TabCurve(key, label, main, raw, band, error_bars)
        self.curves.append(curve)
        return curve

    def discover(self, keys: set[str]) -> None:
        """Curves for the history keys a prefix tab has not drawn yet (a layer seen for the first time)."""
        have = {c.key for c in self.curves}
        if self.rest:
            for key in rest_keys(keys - have):
                i = len(self.curves)
                curve = self.add_curve(key, key, SERIES_COLORS[i % len(SERIES_COLORS)])
                self.series.append((key, curve.label))
        for prefix, (_group, colors) in self.prefixes.items():
            for key in sorted(k for k in keys if k.startswith(prefix) and k not in have):
                n = sum(c.key.startswith(prefix) for c in self.curves)
                curve = self.add_curve(key, key[len(prefix) :], colors[n % len(colors)])
                curve.smooth.setToolTip(key)
                self.series.append((key, curve.label))

    def legend_entries(self, with_data: list[TabCurve]) -> list[tuple[pg.PlotDataItem, str]]:
        """(sample, label) for the series that have data: each one, or a prefix's group as one
        line while the tab's "Every series" box is not checked."""
        if not self.prefixes or (self.expand is not None and self.expand.isChecked()):
            return [(c.smooth, c.label) for c in with_data]
        entries, seen = [], set()
        for c in with_data:
            prefix = next((p for p in self.prefixes if c.key.startswith(p)), None)
            if prefix is None:
                entries.append((c.smooth, c.label))
            elif prefix not in seen:
                seen.add(prefix)
                count = sum(d.key.startswith(prefix) for d in with_data)
                entries.append((c.smooth, f"{self.prefixes[prefix][0]}: {count} series"))
        return entries

    def sync_legend(self, entries: list[tuple[pg.PlotDataItem, str]]) -> None:
        """List the series that have data, in the tab's order ("modes covered" means nothing on
        the digits, so it is not listed there), then each compared run by name: as many to a row
        as the plot's width holds, in a row above the plot as tall as they need (and no taller once
        compared runs are gone)."""
        item = self.plot.getPlotItem()
        legend = item.legend
        font = QFont()
        font.setPointSizeF(8)  # the legend's labelTextSize
        metrics = QFontMetrics(font)
        widest = max((metrics.horizontalAdvance(label) for _, label in entries), default=0) + LEGEND_ENTRY_PX
        room = self.plot.width() - item.getAxis("left").width()
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

    def emphasise(self, compared: bool) -> None:
        """The current run's curves, wider while other runs are compared with it."""
        width = CURRENT_WIDTH_COMPARED if compared else 1
        for i, c in enumerate(self.curves):
            c.smooth.setPen(pg.mkPen(SERIES_COLORS[i % len(SERIES_COLORS)], width=width))

    def set_cursor(self, x: float | None) -> None:
        """A vertical line at data x (the compare's step), or none."""
        if x is None:
            if self.cursor is not None:
                self.cursor.hide()
            return
        if self.cursor is None:  # made when first needed: most sessions never compare samples
            self.cursor = pg.InfiniteLine(angle=90, movable=False, pen=pg.mkPen(CURSOR_COLOR, width=1))
            self.plot.getPlotItem().addItem(self.cursor, ignoreBounds=True)
        self.cursor.setValue(x)
        self.cursor.show()

    def apply_palette(self, palette: QPalette) -> None:
        background = palette.color(QPalette.ColorRole.Base)
        foreground = palette.color(QPalette.ColorRole.Text)
        self.plot.setBackground(background)
        item = self.plot.getPlotItem()
        for name in ("left", "bottom"):
            axis = item.getAxis(name)
            axis.setPen(foreground)
            axis.setTextPen(foreground)
            axis.set_background(background)
        self.markers.set_label_fill(label_fill(palette))
        legend = item.legend
        if legend is not None:
            legend_fill = QColor(background)
            legend_fill.setAlpha(200)
            legend.setBrush(legend_fill)
            legend.setPen(palette.color(QPalette.ColorRole.Mid))
            legend.setLabelTextColor(foreground)
            for _sample, label in legend.items:
                label.setText(label.text)  # setLabelTextColor only takes effect on the next setText
