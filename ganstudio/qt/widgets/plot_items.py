"""The graphics items the plots panel draws with, besides pyqtgraph's own.

GridAxis draws opaque grid lines; FollowViewBox's auto-range leaves headroom, so that the axes'
ticks stay put while the data grows; TimedPlotWidget remembers how long its last paint took (the
redraw budget's input); ViewLayer is an item that draws anywhere in its view; MarkerLayer draws
every History marker of a plot; SeriesItem is a PlotDataItem whose 2-px line is painted as 1-px
strokes (compare_layer.CompareLayer, a ViewLayer too, draws every compared run's curves of a
plot). Each is one item per plot, painting many lines in one call, because pyqtgraph's per-item
cost (Python bookkeeping in setData, auto-range and paint) is what a plot with many curves spends
its frame on, not Qt's stroking.
"""

from __future__ import annotations

import functools
import importlib.util
import time
import weakref

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QLineF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QPainter, QPainterPath, QPen, QTransform

from ganstudio.core.curves import FOLLOW_HEADROOM, sticky_range
from ganstudio.core.run.history import Marker

HOVER_PX = 4  # how close (in pixels) the mouse must be to a marker line or compared curve to name it
CHECKPOINT_SPACING_PX = 8  # checkpoint markers closer than this are thinned
TICK_PX = 9  # routine autosaves are ticks this tall at the bottom of the plot, not full lines
# "checkpoint" is a routine autosave (a tick); "save" one the user asked for (a full line).
# "converged": a 2D toy's samples first met core.metrics.converged's rule (good news, not an alert).
MARKER_COLORS = {"hparams": "#f59f00", "checkpoint": "#7b93ad", "save": "#52708f", "converged": "#2f9e44"}
ALERT_COLOR = "#e03131"  # every other marker kind is an alert
MARKER_ORDER = ("checkpoint", "save", "hparams", "converged")  # drawn first to last, alerts on top
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


class FollowViewBox(pg.ViewBox):
    """A ViewBox whose auto-range (the plots' "Follow latest") leaves headroom where the data grows
    and keeps its range while the data fits it (core.curves.sticky_range). pyqtgraph's own fits
    the data exactly, so with every new point both axes moved and each regenerated its tick text
    and grid (AxisItem.generateDrawSpecs and a new QPicture): the largest part of a frame."""

    def __init__(self) -> None:
        super().__init__()
        self._auto_ranging = False

    def updateAutoRange(self) -> None:  # noqa: N802 (pyqtgraph's name)
        self._auto_ranging = True
        try:
            super().updateAutoRange()
        finally:
            self._auto_ranging = False

    def setRange(self, rect=None, xRange=None, yRange=None, *args, **kwargs) -> None:  # noqa: N803 (pyqtgraph's names)
        if self._auto_ranging:  # the auto-range's padded fit of the data: made sticky
            xRange = self._sticky(0, xRange, (0.0, FOLLOW_HEADROOM))  # noqa: N806 (steps and time only grow)
            yRange = self._sticky(1, yRange, (FOLLOW_HEADROOM, FOLLOW_HEADROOM))  # noqa: N806
        super().setRange(rect, xRange, yRange, *args, **kwargs)

    def _sticky(self, ax: int, fit, headroom: tuple[float, float]):
        if fit is None:
            return None
        p = self.suggestPadding(ax)  # what updateAutoRange added to each side, times the data's span
        pad = (fit[1] - fit[0]) * p / (1.0 + 2.0 * p)
        data = (fit[0] + pad, fit[1] - pad)
        return sticky_range(self.state["targetRange"][ax], data, p, headroom)


class TimedPlotWidget(pg.PlotWidget):
    """A PlotWidget with opaque grid axes and a sticky auto-range that remembers the CPU time of
    its last paint (and whose right-click Export… offers only the formats that work)."""

    def __init__(self) -> None:
        super().__init__(
            viewBox=FollowViewBox(), axisItems={"left": GridAxis("left"), "bottom": GridAxis("bottom")}
        )
        self.paint_s = 0.0
        offer_working_exports(self)

    def paintEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        # The GUI thread's CPU time, not the wall clock's: a paint preempted by another process on
        # a busy machine is not an expensive paint (the redraw budget is a share of the CPU).
        t0 = time.thread_time()
        super().paintEvent(event)
        self.paint_s = time.thread_time() - t0


class ViewLayer(pg.GraphicsObject):
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


class MarkerLayer(ViewLayer):
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
