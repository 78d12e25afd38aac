"""Live training curves, drawn from the GUI's History.

The plots are created once and updated: one PlotDataItem per series (plus a faint one for the raw
values behind the smoothed curve), fed with views of History's numpy buffers from a display-rate
QTimer, and only when the history changed. Smoothing is cached per stat and extended by the new
tail only, so a million-point run redraws as cheaply as a short one.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent, Qt, QTimer
from PySide6.QtGui import QColor, QPalette
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

from ganstudio.core.history import History, Marker

REDRAW_INTERVAL_MS = 33  # ~30 Hz: as often as anyone can see, never once per event
SMOOTHING_STEPS = 99  # slider 0..99 -> weight 0.00..0.99
DEFAULT_SMOOTHING = 0.6  # TensorBoard's default

# Series colours readable on light and dark backgrounds, and distinct from the marker colours.
SERIES_COLORS = ("#3b82f6", "#16a34a", "#a855f7", "#0891b2")
RAW_ALPHA = 70
MARKER_COLORS = {"hparams": "#f59f00", "checkpoint": "#7b93ad"}
ALERT_COLOR = "#e03131"
MARKER_Z = {"checkpoint": 10, "hparams": 11}  # alerts (12) on top when markers share a step

# (title, [(key, legend label)], y label, smoothed): a learning rate is set, not measured, so a
# smoothed curve would only blur the moment it changed.
DEFAULT_TABS = (
    ("Losses", [("loss_d", "D loss"), ("loss_g", "G loss")], "loss", True),
    ("D outputs", [("d_real", "D(x)"), ("d_fake", "D(G(z))")], "D output", True),
    ("Gradients", [("grad_d", "‖∇D‖"), ("grad_g", "‖∇G‖")], "gradient norm", True),
    ("Learning rates", [("lr_d", "lr D"), ("lr_g", "lr G")], "learning rate", False),
)
X_AXES = (("Step", "step"), ("Wall time (s)", "wall time (s)"))


def ema_debiased(
    values: np.ndarray, weight: float, state: float = 0.0, count: int = 0
) -> tuple[np.ndarray, float, int]:
    """TensorBoard's smoothing of finite `values`, continuing from a previous chunk.

    s_t = w*s_{t-1} + (1-w)*x_t, reported as s_t / (1 - w^t). `state` is the biased s of the last
    point already smoothed and `count` how many points that was. Returns (smoothed, state, count)
    to carry into the next chunk. Vectorised as a doubling scan: after the pass with offset d every
    s_t holds the terms x_{t-k} for k < 2d, and passes stop once w^d is below double precision.
    """
    m = len(values)
    if m == 0:
        return np.empty(0), state, count
    if weight <= 0.0:
        out = np.array(values, dtype=np.float64)
        return out, float(out[-1]), count + m
    s = (1.0 - weight) * np.asarray(values, dtype=np.float64)
    d = 1
    while d < m:
        factor = weight**d
        if factor < 1e-18:
            break
        s[d:] += factor * s[:-d]  # the right side is evaluated into a temporary first
        d *= 2
    if state != 0.0:
        s += state * weight ** np.arange(1, m + 1)
    out = s / (1.0 - weight ** np.arange(count + 1, count + m + 1, dtype=np.float64))
    return out, float(s[-1]), count + m


class _Growable:
    """A preallocated 1-D buffer that doubles when full; `view()` is what has been written."""

    def __init__(self, dtype: type, capacity: int = 1024):
        self.data = np.empty(capacity, dtype=dtype)
        self.n = 0

    def extend(self, values: np.ndarray) -> None:
        need = self.n + len(values)
        if need > len(self.data):
            grown = np.empty(2 * max(need, len(self.data)), dtype=self.data.dtype)
            grown[: self.n] = self.data[: self.n]
            self.data = grown
        self.data[self.n : need] = values
        self.n = need

    def view(self) -> np.ndarray:
        return self.data[: self.n]


class _SeriesCache:
    """One stat's incremental state: which points are finite, and the smoothed finite values.

    Non-finite values (a stat missing from a log point, a NaN loss) are skipped, as TensorBoard
    does: they neither break the line nor reset the average. While every value is finite (the
    common case) no index is kept, and the plot gets History's own buffers.
    """

    def __init__(self) -> None:
        self.consumed = 0  # history points looked at
        self.finite: _Growable | None = None  # indices of the finite points; None while all are
        self.smoothed = _Growable(np.float64)
        self.weight: float | None = None
        self.state = 0.0  # the biased EMA after the last smoothed point
        self.count = 0  # finite points smoothed so far

    @property
    def n_finite(self) -> int:
        return self.consumed if self.finite is None else self.finite.n

    def update(self, raw: np.ndarray, weight: float) -> None:
        n = len(raw)
        if n < self.consumed:  # the panel drops caches on a rollback; be safe anyway
            self.__init__()
        if n > self.consumed:
            ok = np.isfinite(raw[self.consumed : n])
            if self.finite is None and not ok.all():
                self.finite = _Growable(np.int64, 2 * n)
                self.finite.extend(np.arange(self.consumed))
            if self.finite is not None:
                self.finite.extend(np.flatnonzero(ok) + self.consumed)
            self.consumed = n
        if weight <= 0.0:  # raw values are drawn; keep any smoothing for when it comes back
            return
        if weight != self.weight:
            self.weight = weight
            self.smoothed.n = 0
            self.state, self.count = 0.0, 0
        if self.count < self.n_finite:
            if self.finite is None:
                new = raw[self.count : self.consumed]
            else:
                new = raw[self.finite.view()[self.count :]]
            out, self.state, self.count = ema_debiased(new, weight, self.state, self.count)
            self.smoothed.extend(out)


class _MarkerLine(pg.InfiniteLine):
    """A dashed vertical line for one History marker; hovering shows its text."""

    def __init__(self, x: float, marker: Marker, color: str, label_fill: QColor):
        super().__init__(
            pos=x,
            angle=90,
            movable=False,
            pen=pg.mkPen(color, width=1, style=Qt.PenStyle.DashLine),
            hoverPen=pg.mkPen(color, width=3),
        )
        self.marker = marker
        self.setZValue(MARKER_Z.get(marker.kind, 12))
        self._color = color
        self._label_fill = label_fill
        self._label: pg.InfLineLabel | None = None
        self.setToolTip(self.text)

    @property
    def text(self) -> str:
        return f"step {self.marker.step}: {self.marker.text}"

    def hoverEvent(self, ev) -> None:  # noqa: N802 (pyqtgraph's name)
        hovering = not ev.isExit()
        self.setMouseHover(hovering)
        if hovering and self._label is None:
            escaped = self.text.replace("{", "{{").replace("}", "}}")  # InfLineLabel formats it
            self._label = pg.InfLineLabel(
                self, text=escaped, position=0.92, color=self._color, fill=self._label_fill
            )
        if self._label is not None:
            self._label.setVisible(hovering)


@dataclass
class _Curve:
    key: str
    label: str
    smooth: pg.PlotDataItem
    raw: pg.PlotDataItem
    band: tuple[pg.PlotDataItem, pg.PlotDataItem] | None = None  # value -/+ its "<key>_std"


@dataclass
class _Tab:
    title: str
    plot: pg.PlotWidget
    curves: list[_Curve]
    smooth: bool
    lines: list[_MarkerLine] = field(default_factory=list)
    pending: list[_MarkerLine] = field(default_factory=list)  # wall-time x not yet logged
    drawn: tuple | None = None  # the history signature it shows; None = stale


class PlotsPanel(QWidget):
    def __init__(self, history: History, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("plots_panel")
        self._history = history
        self._caches: dict[str, _SeriesCache] = {}
        self._tabs: list[_Tab] = []
        self._seen: tuple[int, float, float] = (0, 0.0, 0.0)  # (points, last step, last wall)
        self._seen_revision = history.revision

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

        for title, series, y_label, smooth in DEFAULT_TABS:
            self.add_tab(title, series, y_label, smooth)
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
    ) -> None:
        """Add a tab plotting the History keys in `series`, given as (key, legend label) pairs.
        `y_label` defaults to the title in lower case; `smooth=False` ignores the smoothing slider.
        `bands=True` is for sparse, uncertain values (quality metrics): each point gets a dot and a
        shaded band of +/- the History key "<key>_std" around it."""
        if any(tab.title == title for tab in self._tabs):
            raise ValueError(f"a plot tab named '{title}' already exists")
        plot = pg.PlotWidget()
        plot.setObjectName(f"plots_plot_{len(self._tabs)}")
        item = plot.getPlotItem()
        item.showGrid(x=True, y=True, alpha=0.15)
        item.setDownsampling(auto=True, mode="peak")  # the defaults for curves added later, too
        item.setClipToView(True)
        item.setLabel("left", y_label or title.lower())
        item.getAxis("left").enableAutoSIPrefix(False)  # no "(x0.001)" on unitless values
        item.setLabel("bottom", X_AXES[self._x_axis.currentIndex()][1])
        item.addLegend(offset=(-8, 8))
        item.setLogMode(x=False, y=self._log_y.isChecked())
        item.getViewBox().sigRangeChangedManually.connect(self._on_view_range_changed_manually)
        curves = []
        for i, (key, label) in enumerate(series):
            color = QColor(SERIES_COLORS[i % len(SERIES_COLORS)])
            faint = QColor(color)
            faint.setAlpha(RAW_ALPHA)
            raw = pg.PlotDataItem(pen=pg.mkPen(faint, width=1), antialias=False)
            dots = {"symbol": "o", "symbolSize": 5, "symbolBrush": color, "symbolPen": None} if bands else {}
            main = pg.PlotDataItem(pen=pg.mkPen(color, width=1), antialias=False, name=label, **dots)
            for data_item in (raw, main):
                item.addItem(data_item)  # applies the PlotItem's modes: set ours after it
                data_item.setDownsampling(auto=True, method="peak")
                data_item.setClipToView(True)
            raw.setVisible(False)
            band = None
            if bands:
                lo, hi = pg.PlotDataItem(pen=None), pg.PlotDataItem(pen=None)
                fill = QColor(color)
                fill.setAlpha(50)
                item.addItem(pg.FillBetweenItem(lo, hi, brush=fill))
                band = (lo, hi)
            curves.append(_Curve(key, label, main, raw, band))
        self._tabs.append(_Tab(title, plot, curves, smooth and not bands))
        self._tab_widget.addTab(plot, title)
        self._apply_palette(self._tabs[-1])

    def show_tab(self, title: str) -> None:
        self._tab_widget.setCurrentWidget(self._tab(title).plot)

    def refresh(self) -> None:
        """Redraw every tab now, whether or not the history changed."""
        for tab in self._tabs:
            self._redraw(tab, force=True)

    # Accessors for tests and for features that decorate a plot (read-only use).
    def plot_widget(self, title: str) -> pg.PlotWidget:
        return self._tab(title).plot

    def curve(self, title: str, key: str, raw: bool = False) -> pg.PlotDataItem:
        """The smoothed (or with raw=True, the faint raw) PlotDataItem of `key` in tab `title`."""
        for c in self._tab(title).curves:
            if c.key == key:
                return c.raw if raw else c.smooth
        raise KeyError(f"tab '{title}' has no series '{key}'")

    def marker_lines(self, title: str) -> list[pg.InfiniteLine]:
        return list(self._tab(title).lines)

    # ---- drawing ------------------------------------------------------------------------------

    def _tab(self, title: str) -> _Tab:
        for tab in self._tabs:
            if tab.title == title:
                return tab
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
        return (h.revision, n, last_step, last_wall, len(h.markers), last_marker)

    def _check_rewritten(self) -> None:
        """Drop every cache when the history was truncated (a rollback) rather than appended to."""
        h = self._history
        n, step, wall = self._seen
        rewritten = h.revision != self._seen_revision or len(h) < n or (
            n > 0 and (int(h.steps()[n - 1]) != step or float(h.walls()[n - 1]) != wall)
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

    def _redraw(self, tab: _Tab, force: bool = False) -> None:
        self._check_rewritten()
        signature = self._signature()
        if not force and tab.drawn == signature:
            return
        h = self._history
        x_all = h.walls() if self._wall_x else h.steps()
        weight = self._weight if tab.smooth else 0.0
        keys = set(h.keys)
        for c in tab.curves:
            if c.key not in keys:
                c.smooth.setData([], [])
                c.raw.setData([], [])
                continue
            raw = h.series(c.key)
            cache = self._caches.get(c.key)
            if cache is None:
                cache = self._caches[c.key] = _SeriesCache()
            cache.update(raw, weight)
            if cache.finite is None:  # the common case: views, no copies
                x, y = x_all, raw
            else:
                index = cache.finite.view()
                x, y = x_all[index], raw[index]
            if weight > 0.0:
                c.smooth.setData(x, cache.smoothed.view())
                c.raw.setData(x, y)
                c.raw.setVisible(True)
            else:
                c.smooth.setData(x, y)
                c.raw.setVisible(False)
            if c.band is not None:
                std = h.series(c.key + "_std")
                std = std if cache.finite is None else std[cache.finite.view()]
                std = np.nan_to_num(std, nan=0.0)
                c.band[0].setData(x, y - std)
                c.band[1].setData(x, y + std)
        self._update_markers(tab)
        tab.drawn = signature

    def _update_markers(self, tab: _Tab) -> None:
        markers = self._history.markers
        drawn = len(tab.lines)
        if drawn > len(markers) or (drawn and markers[drawn - 1] is not tab.lines[-1].marker):
            for line in tab.lines:
                tab.plot.removeItem(line)
            tab.lines.clear()
            tab.pending.clear()
            drawn = 0
        if self._wall_x and tab.pending:
            still_pending = []
            for line in tab.pending:
                line.setValue(self._marker_x(line.marker))
                if not self._logged(line.marker):
                    still_pending.append(line)
            tab.pending = still_pending
        fill = self._label_fill()
        for marker in markers[drawn:]:
            color = MARKER_COLORS.get(marker.kind, ALERT_COLOR)
            line = _MarkerLine(self._marker_x(marker), marker, color, fill)
            tab.plot.addItem(line, ignoreBounds=True)
            tab.lines.append(line)
            if not self._logged(marker):
                tab.pending.append(line)

    def _marker_x(self, marker: Marker) -> float:
        return self._history.wall_at(marker.step) if self._wall_x else float(marker.step)

    def _logged(self, marker: Marker) -> bool:
        """Whether the history already has a point at or after the marker (its wall time is known)."""
        h = self._history
        return len(h) > 0 and int(h.steps()[-1]) >= marker.step

    def _invalidate(self) -> None:
        for tab in self._tabs:
            tab.drawn = None

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
        if not self.isVisible():
            return
        current = self._tab_widget.currentIndex()
        if current >= 0:
            self._redraw(self._tabs[current])

    def _on_tabs_current_changed(self, index: int) -> None:
        if index >= 0 and self.isVisible():
            self._redraw(self._tabs[index])

    def _on_smoothing_value_changed(self, _value: int) -> None:
        self._update_smoothing_label()
        self._invalidate()  # the caches notice the new weight; the next tick recomputes

    def _on_log_y_toggled(self, checked: bool) -> None:
        for tab in self._tabs:
            tab.plot.getPlotItem().setLogMode(x=False, y=checked)
        self._follow.setChecked(True)  # the old y range means nothing on the new scale

    def _on_x_axis_changed(self, index: int) -> None:
        label = X_AXES[index][1]
        for tab in self._tabs:
            tab.plot.getPlotItem().setLabel("bottom", label)
            for line in tab.lines:
                line.setValue(self._marker_x(line.marker))
            tab.pending = [line for line in tab.lines if not self._logged(line.marker)]
        self._invalidate()
        self._follow.setChecked(True)
        self._on_follow_toggled(True)

    def _on_follow_toggled(self, checked: bool) -> None:
        for tab in self._tabs:
            view = tab.plot.getPlotItem().getViewBox()
            if checked:
                view.enableAutoRange()
            else:
                view.disableAutoRange()

    def _on_view_range_changed_manually(self, _mask: object) -> None:
        self._follow.setChecked(False)

    def changeEvent(self, event: QEvent) -> None:  # noqa: N802 (Qt's name)
        if event.type() == QEvent.Type.PaletteChange:
            for tab in self._tabs:
                self._apply_palette(tab)
        super().changeEvent(event)
