"""The graphics items the plots panel draws with, besides pyqtgraph's own.

GridAxis draws opaque grid lines; TimedPlotWidget remembers how long its last paint took (the
redraw budget's input); MarkerLayer draws every History marker of a plot; SeriesItem is a
PlotDataItem whose 2-px line is painted as 1-px strokes; CompareLayer draws every compared run's
curves of a plot. Each is one item per plot, painting many lines in one call, because pyqtgraph's
per-item cost (Python bookkeeping in setData, auto-range and paint) is what a plot with many curves
spends its frame on, not Qt's stroking.
"""

from __future__ import annotations

import functools
import importlib.util
import time
import weakref
from dataclasses import dataclass, field

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QLineF, QRectF, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QPainter, QPainterPath, QPen, QTransform

from ganstudio.core.run.history import Marker

HOVER_PX = 4  # how close (in pixels) the mouse must be to a marker line or compared curve to name it
CHECKPOINT_SPACING_PX = 8  # checkpoint markers closer than this are thinned
TICK_PX = 9  # routine autosaves are ticks this tall at the bottom of the plot, not full lines
# "checkpoint" is a routine autosave (a tick); "save" one the user asked for (a full line).
MARKER_COLORS = {"hparams": "#f59f00", "checkpoint": "#7b93ad", "save": "#52708f"}
ALERT_COLOR = "#e03131"  # every other marker kind is an alert
MARKER_ORDER = ("checkpoint", "save", "hparams")  # drawn first to last, alerts on top
TICK_KINDS = (MARKER_ORDER.index("checkpoint"),)  # kind_index values drawn as ticks


class GridAxis(pg.AxisItem):
    """An axis whose grid lines are opaque, their colour pre-blended with the plot background.

    They look the same as pyqtgraph's translucent ones (grid lines only cross each other), but Qt's
    raster engine strokes translucent lines through a slow path: ~140 of them took 12.7 ms a frame
    here, against 1.1 ms opaque."""

    def __init__(self, orientation: str):
        super().__init__(orientation)
        self._background = QColor("white")
        self._pens: dict[int, QPen] = {}

    def set_background(self, color: QColor) -> None:
        self._background = QColor(color)
        self._pens.clear()
        self.picture = None  # regenerate the cached drawing
        self.update()

    def generateDrawSpecs(self, p):  # noqa: N802 (pyqtgraph's name)
        specs = super().generateDrawSpecs(p)
        if specs is None or self.grid is False:
            return specs
        axis_spec, tick_specs, text_specs = specs
        return axis_spec, [(self._opaque(pen), p1, p2) for pen, p1, p2 in tick_specs], text_specs

    def _opaque(self, pen: QPen) -> QPen:
        color = pen.color()
        if color.alpha() == 255:
            return pen
        key = color.rgba()
        out = self._pens.get(key)
        if out is None:
            a, b = color.alphaF(), self._background
            out = QPen(pen)
            out.setColor(
                QColor.fromRgbF(
                    b.redF() + (color.redF() - b.redF()) * a,
                    b.greenF() + (color.greenF() - b.greenF()) * a,
                    b.blueF() + (color.blueF() - b.blueF()) * a,
                )
            )
            self._pens[key] = out
        return out


@functools.cache
def working_exporters() -> list[type]:
    """The formats pyqtgraph's right-click Export… dialog offers, less those that fail here: its SVG
    exporter raises on the paths this Qt writes (pyqtgraph issue #3485, a ValueError in
    correctCoordinates, found by trying it), and its Matplotlib one needs matplotlib, which GAN
    Studio does not install. Either printed a traceback to the terminal and saved nothing. Checked
    once, on a small plot of its own, when Export… is first chosen; returns what is left."""
    from pyqtgraph.exporters import Exporter, MatplotlibExporter, SVGExporter

    broken: list[type] = []
    if importlib.util.find_spec("matplotlib") is None:
        broken.append(MatplotlibExporter)
    probe = pg.PlotWidget()
    probe.plot([0.0, 1.0], [0.0, 1.0])
    try:
        SVGExporter(probe.getPlotItem()).export(toBytes=True)
    except Exception:  # whatever pyqtgraph raises on the way, the format does not work here
        broken.append(SVGExporter)
    finally:
        probe.deleteLater()
    Exporter.Exporters[:] = [e for e in Exporter.Exporters if e not in broken]
    return list(Exporter.Exporters)


def offer_working_exports(view: pg.GraphicsView) -> pg.GraphicsView:
    """Route `view`'s right-click Export… through working_exporters, so that the dialog lists only
    the formats that work. Every pyqtgraph view of the app is made with it; returns `view`."""
    scene = view.scene()
    export = scene.contextMenu[0]  # pyqtgraph's "Export..." action
    scene_ref = weakref.ref(scene)  # the action, which the scene owns, must not keep it alive

    def show() -> None:  # the action lives and fires on the GUI thread
        working_exporters()
        if (alive := scene_ref()) is not None:
            alive.showExportDialog()

    export.triggered.disconnect(scene.showExportDialog)
    export.triggered.connect(show)
    return view


class TimedPlotWidget(pg.PlotWidget):
    """A PlotWidget with opaque grid axes that remembers how long its last paint took (and whose
    right-click Export… offers only the formats that work)."""

    def __init__(self) -> None:
        super().__init__(axisItems={"left": GridAxis("left"), "bottom": GridAxis("bottom")})
        self.paint_s = 0.0
        offer_working_exports(self)

    def paintEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        t0 = time.perf_counter()
        super().paintEvent(event)
        self.paint_s = time.perf_counter() - t0


class _ViewLayer(pg.GraphicsObject):
    """An item that draws anywhere in its view (markers, compared runs): its bounds are the view's
    rect, which changes only with the view's transform, never in the middle of a paint."""

    def __init__(self) -> None:
        super().__init__()
        self._bounds: QRectF | None = None

    def viewTransformChanged(self) -> None:  # noqa: N802 (pyqtgraph's name)
        self.prepareGeometryChange()
        self._bounds = None
        super().viewTransformChanged()

    def boundingRect(self) -> QRectF:  # noqa: N802 (Qt's name)
        if self._bounds is None:
            vr = self.viewRect()
            self._bounds = QRectF() if vr is None else QRectF(vr)
        return self._bounds


class MarkerLayer(_ViewLayer):
    """Every History marker of one plot, drawn by one item: dashed vertical lines for the events
    worth a glance (hyperparameter changes, saves the user asked for, alerts), and short ticks at
    the bottom for routine autosaves, which a long run has hundreds of.

    One item per plot, not one per marker: a long run's hundreds of checkpoints cost one paint call
    and a few numpy arrays, and markers closer than a pixel are drawn once. Hovering within HOVER_PX
    of a line (or of a tick, near the bottom) highlights it and shows its text, as a label in the
    plot and as a tooltip.
    """

    #: A marker double-clicked or right-clicked (on a checkpoint: fork from it).
    activated = Signal(object)

    def __init__(self, label_fill: QColor):
        super().__init__()
        self.setZValue(10)  # above the curves
        self.setAcceptedMouseButtons(Qt.MouseButton.NoButton)  # clicks and drags go to the view
        self.x = np.empty(0)
        self.markers: list[Marker] = []
        self.hovered: int | None = None  # index into markers
        self._kinds = np.empty(0, dtype=np.int8)
        self._pens = [self._pen(kind) for kind in (*MARKER_ORDER, "alert")]  # by kind_index
        self._label = pg.TextItem(anchor=(0, 0), fill=label_fill)
        self._label.setParentItem(self)
        self._label.hide()
        self._shape: QPainterPath | None = None

    @staticmethod
    def _pen(kind: str) -> QPen:
        color = MARKER_COLORS.get(kind, ALERT_COLOR)
        if kind in MARKER_ORDER and MARKER_ORDER.index(kind) in TICK_KINDS:
            return pg.mkPen(color, width=2)  # thicker than an axis tick, so not taken for one
        return pg.mkPen(color, width=1, style=Qt.PenStyle.DashLine)

    @staticmethod
    def kind_index(marker: Marker) -> int:
        """The marker's place in MARKER_ORDER (len(MARKER_ORDER) for an alert). A checkpoint the
        user asked for draws as a "save" (a full line), a routine one as a tick."""
        kind = "save" if marker.kind == "checkpoint" and marker.tag == "manual" else marker.kind
        return MARKER_ORDER.index(kind) if kind in MARKER_ORDER else len(MARKER_ORDER)

    def set_markers(self, x: np.ndarray, markers: list[Marker]) -> None:
        """Show `markers` at data x positions `x`."""
        if len(markers) != len(self.markers) or (markers and markers[-1] is not self.markers[-1]):
            self._kinds = np.array([self.kind_index(m) for m in markers], dtype=np.int8)
            self.set_hovered(None)
            self.markers = list(markers)
        self.x = np.asarray(x, dtype=np.float64)
        self._shape = None
        self.update()

    def set_label_fill(self, fill: QColor) -> None:
        self._label.fill = pg.mkBrush(fill)
        self._label.update()

    def text(self, i: int) -> str:
        m = self.markers[i]
        return f"step {m.step}: {m.text}"

    def color(self, i: int) -> QColor:
        return self._pens[self._kinds[i]].color()

    def nearest(self, x: float, y: float | None = None, tolerance_px: float = HOVER_PX) -> int | None:
        """The marker drawn within `tolerance_px` pixels of data x, the top-most kind first. A tick
        counts only when y is near the bottom (or not given)."""
        if not len(self.x):
            return None
        px = self.pixelWidth() or 1.0
        near = np.abs(self.x - x) <= tolerance_px * px
        vr = self.viewRect()
        if y is not None and vr is not None and y > vr.top() + (TICK_PX + tolerance_px) * self._py():
            near &= ~np.isin(self._kinds, TICK_KINDS)
        close = np.flatnonzero(near)
        if not len(close):
            return None
        top = close[self._kinds[close] == self._kinds[close].max()]
        return int(top[np.argmin(np.abs(self.x[top] - x))])

    def set_hovered(self, i: int | None) -> None:
        if i == self.hovered:
            return
        self.hovered = i
        if i is None:
            self._label.hide()
            self.setToolTip("")
        else:
            text = self.text(i)
            self._label.setText(text, color=self.color(i))
            self._place_label()
            self._label.show()
            self.setToolTip(text)
        self.update()

    def _place_label(self) -> None:
        vr = self.viewRect()
        if self.hovered is not None and vr is not None:
            self._label.setPos(self.x[self.hovered] + 3 * (self.pixelWidth() or 0.0), vr.bottom())

    def hoverEvent(self, ev) -> None:  # noqa: N802 (pyqtgraph's name)
        self.set_hovered(None if ev.isExit() else self.nearest(ev.pos().x(), ev.pos().y()))

    def mouseClickEvent(self, ev) -> None:  # noqa: N802 (pyqtgraph's name)
        """A double click or right click on a marker activates it; other clicks go to the view."""
        i = self.nearest(ev.pos().x(), ev.pos().y())
        if i is None or not (ev.double() or ev.button() == Qt.MouseButton.RightButton):
            ev.ignore()
            return
        ev.accept()
        self.activated.emit(self.markers[i])

    def _py(self) -> float:
        """Data units per pixel, vertically."""
        return self.pixelHeight() or 1.0

    def _y_top(self, kind: int, vr: QRectF) -> float:
        """Where a marker of `kind` ends: the plot's top, or a tick's height above its bottom (in
        view coordinates y grows upwards, so the rect's top() is the plot's bottom edge)."""
        return vr.top() + TICK_PX * self._py() if kind in TICK_KINDS else vr.bottom()

    def viewTransformChanged(self) -> None:  # noqa: N802 (pyqtgraph's name)
        super().viewTransformChanged()
        self._shape = None
        self._place_label()

    def _visible(self) -> tuple[np.ndarray, float, QRectF] | None:
        """Indices of the markers to draw, thinned (see CHECKPOINT_SPACING_PX) and in drawing order:
        checkpoints, then saves, then hyperparameter changes, then alerts on top."""
        vr = self.viewRect()
        if vr is None or not len(self.x):
            return None
        px = self.pixelWidth() or 1.0
        inside = np.flatnonzero((self.x >= vr.left() - px) & (self.x <= vr.right() + px))
        if not len(inside):
            return np.empty(0, dtype=np.int64), px, vr
        # Checkpoints, routine and often hundreds, keep CHECKPOINT_SPACING_PX between them;
        # hyperparameter changes and alerts are each drawn down to one per pixel column.
        kinds = self._kinds[inside]
        spacing = np.where(kinds == MARKER_ORDER.index("checkpoint"), CHECKPOINT_SPACING_PX, 1.0) * px
        column = np.round(self.x[inside] / spacing).astype(np.int64) * (len(MARKER_ORDER) + 1) + kinds
        _, first = np.unique(column, return_index=True)
        keep = inside[first]
        return keep[np.argsort(self._kinds[keep], kind="stable")], px, vr

    def drawn(self) -> list[int]:
        """Indices (into `markers`) of the lines the next paint draws."""
        visible = self._visible()
        return [] if visible is None else visible[0].tolist()

    def shape(self) -> QPainterPath:
        if self._shape is None:
            path = QPainterPath()
            visible = self._visible()
            if visible is not None:
                keep, px, vr = visible
                half = HOVER_PX * px
                ticks = np.isin(self._kinds[keep], TICK_KINDS)
                tall = set(np.unique(self.x[keep[~ticks]]).tolist())
                for x in tall:
                    path.addRect(QRectF(x - half, vr.top(), 2 * half, vr.height()))
                height = (TICK_PX + HOVER_PX) * self._py()
                for x in np.unique(self.x[keep[ticks]]).tolist():
                    if x not in tall:
                        path.addRect(QRectF(x - half, vr.top(), 2 * half, height))
            self._shape = path
        return self._shape

    def paint(self, p, *args) -> None:
        visible = self._visible()
        if visible is None:
            return
        keep, _px, vr = visible
        bottom = vr.top()
        for kind, pen in enumerate(self._pens):
            xs = self.x[keep[self._kinds[keep] == kind]]
            if len(xs):
                p.setPen(pen)
                end = self._y_top(kind, vr)
                p.drawLines([QLineF(x, bottom, x, end) for x in xs.tolist()])
        if self.hovered is not None and self.hovered < len(self.x):
            p.setPen(pg.mkPen(self.color(self.hovered), width=3))
            x = float(self.x[self.hovered])
            p.drawLine(QLineF(x, bottom, x, self._y_top(int(self._kinds[self.hovered]), vr)))


class _WideCurve(pg.PlotCurveItem):
    """A PlotCurveItem that paints an opaque, solid 2-px pen as three 1-px strokes, the second and
    third one device pixel right and down of the first: the same pixels as a 2-px line, but Qt's
    raster engine strokes a wide line under the plot's scaling transform several times slower
    than a thin one (1.2 ms against 3 x 0.1 ms for a curve of 2,000 points here). Other pens, and
    other paint engines (an SVG export), are painted as pyqtgraph does."""

    OFFSETS = ((1.0, 0.0), (0.0, 1.0))

    def _strokes_thin(self, p: QPainter, pen: QPen) -> bool:
        engine = p.paintEngine()
        return (
            pen.widthF() == 2.0
            and pen.style() == Qt.PenStyle.SolidLine
            and pen.color().alpha() == 255
            and not self.opts["antialias"]
            and self.opts["fillLevel"] is None
            and self.opts["shadowPen"] is None
            and engine is not None
            and engine.type() == engine.Type.Raster
        )

    def paint(self, p, opt, widget) -> None:
        pen = self.opts["pen"]
        if not self._strokes_thin(p, pen):
            super().paint(p, opt, widget)
            return
        thin = QPen(pen)
        thin.setWidth(1)
        base = p.transform()
        self.opts["pen"] = thin
        try:
            super().paint(p, opt, widget)
            for dx, dy in self.OFFSETS:
                p.setTransform(base * QTransform.fromTranslate(dx, dy))
                super().paint(p, opt, widget)
        finally:
            self.opts["pen"] = pen
            p.setTransform(base)


class SeriesItem(pg.PlotDataItem):
    """A PlotDataItem whose line is drawn by a _WideCurve (the current run's curves are 2 px wide
    while other runs are compared with it)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.curve.setParentItem(None)  # pyqtgraph's own, made in __init__ and not used again:
        self.curve.deleteLater()  # deleted by the GUI thread, whenever its wrapper goes
        self.curve = _WideCurve()
        self.curve.setParentItem(self)
        self.curve.sigClicked.connect(self.sigClicked)
        self.updateItems(styleUpdate=True)


SYMBOL_PX = 6  # a compared run's marks at a sparse metric's points: triangles this wide
HOVERED_WIDTH = 2  # a compared curve under the mouse is drawn this wide


@dataclass(eq=False)
class LayerCurve:
    """One series of one compared run, as CompareLayer draws it: x and y as logged (the layer maps
    y to log10 on a log-y plot), already reduced to about two points a pixel column."""

    run: int  # which run (the panel's key for it)
    name: str  # the run's name: hover and legend
    label: str  # the series' legend label
    pen: QPen
    x: np.ndarray
    y: np.ndarray
    symbol_brush: QBrush | None = None  # a triangle at every point (a sparse metric's evaluations)
    _log_y: bool | None = field(default=None, repr=False)  # what _y and _path were made for
    _y: np.ndarray | None = field(default=None, repr=False)
    _path: QPainterPath | None = field(default=None, repr=False)

    @property
    def tip(self) -> str:
        return f"{self.name}: {self.label}"


class _LegendSample(pg.PlotDataItem):
    """What the legend shows for a compared run (its pen and symbol; never drawn in the plot).
    Clicking it in the legend hides or shows the run's curves in that plot, as pyqtgraph's legend
    does for a curve of its own."""

    def __init__(self, layer: CompareLayer, run: int, **opts):
        super().__init__(**opts)
        self._layer = weakref.ref(layer)  # the layer holds its samples: no reference cycle
        self._run = run

    def setVisible(self, visible: bool) -> None:  # noqa: N802 (Qt's name; the legend calls it)
        super().setVisible(visible)
        layer = self._layer()
        if layer is not None:
            layer.set_run_hidden(self._run, not visible)


class CompareLayer(_ViewLayer):
    """Every compared run's curves on one plot, drawn by one item under the current run's curves.

    One item for all of them, not a PlotDataItem each: with ten runs on a plot, pyqtgraph's per-item
    bookkeeping (setData, the auto-range's bounds, paint) cost more than Qt's stroking. Paths are
    made once per new data; bounds once per change. Hovering within HOVER_PX of a curve names its
    run and series (tooltip) and draws it wider; the mouse's buttons go to the view."""

    def __init__(self) -> None:
        super().__init__()
        self.setZValue(-1)  # under the current run's curves (0), over the grid (-1000)
        self.setAcceptedMouseButtons(Qt.MouseButton.NoButton)
        self.curves: list[LayerCurve] = []
        self.hovered: LayerCurve | None = None
        self._log_y = False
        self._hidden: set[int] = set()
        self._samples: dict[int, _LegendSample] = {}
        self._extent: tuple[float, float, float, float] | None = None  # x0, x1, y0, y1 of what is shown

    # ---- data ---------------------------------------------------------------------------------

    def set_curves(self, curves: list[LayerCurve]) -> None:
        if len(curves) == len(self.curves) and all(a is b for a, b in zip(curves, self.curves, strict=True)):
            return
        self.curves = list(curves)
        runs = {c.run for c in self.curves}
        self._hidden &= runs
        for run in [r for r in self._samples if r not in runs]:
            del self._samples[run]
        if self.hovered is not None and not any(c is self.hovered for c in self.curves):
            self.set_hovered(None)
        self._changed()

    def shown(self) -> list[LayerCurve]:
        """The curves drawn: those with points, of runs not hidden from the legend."""
        return [c for c in self.curves if len(c.x) and c.run not in self._hidden]

    def set_run_hidden(self, run: int, hidden: bool) -> None:
        if hidden == (run in self._hidden):
            return
        (self._hidden.add if hidden else self._hidden.discard)(run)
        if hidden and self.hovered is not None and self.hovered.run == run:
            self.set_hovered(None)
        self._changed()

    def legend_sample(self, run: int, first: LayerCurve) -> _LegendSample:
        """The item the legend lists for `run` (the same one while its look does not change)."""
        sample = self._samples.get(run)
        symbol = first.symbol_brush is not None
        if (
            sample is None
            or sample.opts["pen"].color() != first.pen.color()
            or bool(sample.opts["symbol"]) != symbol
        ):
            dots = (
                {"symbol": "t", "symbolSize": SYMBOL_PX, "symbolBrush": first.symbol_brush, "symbolPen": None}
                if symbol
                else {}
            )
            sample = self._samples[run] = _LegendSample(self, run, pen=first.pen, antialias=False, **dots)
            if run in self._hidden:
                sample.setVisible(False)
        return sample

    def setLogMode(self, x: bool, y: bool) -> None:  # noqa: N802 (pyqtgraph's name: PlotItem calls it)
        if bool(y) != self._log_y:
            self._log_y = bool(y)
            self._changed()

    def _changed(self) -> None:
        self._extent = None
        self.informViewBoundsChanged()  # the view's auto-range looks at dataBounds again
        self.update()

    def _y(self, c: LayerCurve) -> np.ndarray:
        if c._log_y is not self._log_y:
            y = np.asarray(c.y, dtype=np.float64)
            if self._log_y:  # as pyqtgraph's own curves: a value <= 0 has no place on a log axis
                with np.errstate(divide="ignore", invalid="ignore"):
                    y = np.where(y > 0, np.log10(np.where(y > 0, y, 1.0)), np.nan)
            c._log_y, c._y, c._path = self._log_y, y, None
        return c._y

    def _path(self, c: LayerCurve) -> QPainterPath:
        y = self._y(c)
        if c._path is None:
            c._path = pg.arrayToQPath(np.asarray(c.x, dtype=np.float64), y, connect="finite")
        return c._path

    # ---- pyqtgraph's bounds -------------------------------------------------------------------

    def dataBounds(self, ax: int, frac: float = 1.0, orthoRange=None):  # noqa: N802 (pyqtgraph's name)
        """(min, max) of the shown curves along axis `ax` (0: x, 1: y), for the auto-range; along y
        only over the points whose x is in `orthoRange` when one is given."""
        if ax == 1 and orthoRange is not None:
            lows, highs = [], []
            for c in self.shown():
                a = np.searchsorted(c.x, orthoRange[0], "left")
                y = self._y(c)[a : np.searchsorted(c.x, orthoRange[1], "right")]
                y = y[np.isfinite(y)]
                if len(y):
                    lows.append(y.min())
                    highs.append(y.max())
            return (float(min(lows)), float(max(highs))) if lows else None
        if self._extent is None:
            self._extent = self._measure()
        if self._extent is None:
            return None
        x0, x1, y0, y1 = self._extent
        return (x0, x1) if ax == 0 else (y0, y1) if np.isfinite(y0) else None

    def _measure(self) -> tuple[float, float, float, float] | None:
        x0 = y0 = np.inf
        x1 = y1 = -np.inf
        for c in self.shown():
            x = c.x[np.isfinite(c.x)]
            y = self._y(c)
            y = y[np.isfinite(y)]
            if len(x):
                x0, x1 = min(x0, float(x.min())), max(x1, float(x.max()))
            if len(y):
                y0, y1 = min(y0, float(y.min())), max(y1, float(y.max()))
        return None if x0 > x1 else (x0, x1, y0, y1)

    def pixelPadding(self) -> int:  # noqa: N802 (pyqtgraph's name)
        return SYMBOL_PX // 2 if any(c.symbol_brush is not None for c in self.curves) else 0

    # ---- painting -----------------------------------------------------------------------------

    def paint(self, p: QPainter, *args) -> None:
        shown = self.shown()
        if not shown:
            return
        p.setRenderHint(QPainter.RenderHint.Antialiasing, False)
        for c in shown:
            p.setPen(c.pen)
            p.drawPath(self._path(c))
        if self.hovered is not None and self.hovered.run not in self._hidden:
            wide = QPen(self.hovered.pen)
            wide.setWidth(HOVERED_WIDTH)
            p.setPen(wide)
            p.drawPath(self._path(self.hovered))
        marked = [c for c in shown if c.symbol_brush is not None]
        if marked:  # triangles of a fixed size in pixels: drawn in the device's coordinates
            t = p.transform()
            p.resetTransform()
            for c in marked:
                y = self._y(c)
                ok = np.isfinite(y) & np.isfinite(c.x)
                x, y = np.asarray(c.x, dtype=np.float64)[ok], y[ok]
                p.fillPath(
                    _triangles(t.m11() * x + t.m21() * y + t.dx(), t.m12() * x + t.m22() * y + t.dy()),
                    c.symbol_brush,
                )
            p.setTransform(t)

    # ---- hover --------------------------------------------------------------------------------

    def nearest(self, x: float, y: float, tolerance_px: float = HOVER_PX) -> LayerCurve | None:
        """The shown curve passing within `tolerance_px` pixels of the point (x, y) in the plot's
        coordinates (y as drawn: log10 on a log-y plot), the nearest first, the one on top on a tie."""
        px, py = self.pixelWidth() or 1.0, self.pixelHeight() or 1.0
        best, best_d = None, float(tolerance_px)
        for c in reversed(self.shown()):
            a = max(0, int(np.searchsorted(c.x, x - tolerance_px * px, "left")) - 1)
            b = min(len(c.x), int(np.searchsorted(c.x, x + tolerance_px * px, "right")) + 1)
            if b <= a:
                continue
            d = _distance_to_polyline((c.x[a:b] - x) / px, (self._y(c)[a:b] - y) / py)
            if d < best_d:
                best, best_d = c, d
        return best

    def set_hovered(self, c: LayerCurve | None) -> None:
        if c is self.hovered:
            return
        self.hovered = c
        self.setToolTip("" if c is None else c.tip)
        self.update()

    def hoverEvent(self, ev) -> None:  # noqa: N802 (pyqtgraph's name)
        if ev.isExit():
            self.set_hovered(None)
        else:
            pos = ev.pos()
            self.set_hovered(self.nearest(pos.x(), pos.y()))


def _triangles(x: np.ndarray, y: np.ndarray, size: float = SYMBOL_PX) -> QPainterPath:
    """Downward triangles `size` pixels wide centred on the points (device coordinates)."""
    h = size / 2.0
    xs = np.column_stack([x - h, x + h, x, x - h]).ravel()
    ys = np.column_stack([y - h, y - h, y + h, y - h]).ravel()
    connect = np.tile(np.array([1, 1, 1, 0], dtype=np.int32), len(x))
    return pg.arrayToQPath(xs, ys, connect=connect)


def _distance_to_polyline(x: np.ndarray, y: np.ndarray) -> float:
    """The distance from the origin to the polyline through the points (x, y); inf if none is finite."""
    ok = np.isfinite(x) & np.isfinite(y)
    if len(x) == 1 or not ok.any():
        return float(np.hypot(x, y)[ok].min()) if ok.any() else float("inf")
    x0, y0, dx, dy = x[:-1], y[:-1], np.diff(x), np.diff(y)
    length2 = dx * dx + dy * dy
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.clip(np.where(length2 > 0, -(x0 * dx + y0 * dy) / length2, 0.0), 0.0, 1.0)
    d = np.hypot(x0 + t * dx, y0 + t * dy)
    d = d[np.isfinite(d)]
    points = np.hypot(x, y)[ok]  # a lone finite point between gaps is a curve too
    return float(min(d.min() if len(d) else np.inf, points.min()))
