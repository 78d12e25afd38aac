"""CompareLayer: every compared run's curves on one plot, drawn by one item (with LayerCurve, one
series of one run as the layer draws it, and the legend's sample for a run)."""

from __future__ import annotations

import weakref
from dataclasses import dataclass, field

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QBrush, QPainter, QPainterPath, QPen

from ganstudio.core.curves import distance_to_polyline
from ganstudio.qt.widgets.plot_items import HOVER_PX, ViewLayer

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
    key: str = ""  # the series' History key
    # A group's band under its mean line: (x, lo, hi), filled with band_brush.
    band: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
    band_brush: QBrush | None = None
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


class CompareLayer(ViewLayer):
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

    def _band_y(self, c: LayerCurve) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(x, lo, hi) of a curve's band as drawn (log10 on a log-y plot); empty for none."""
        if c.band is None:
            return np.empty(0), np.empty(0), np.empty(0)
        x, lo, hi = (np.asarray(a, dtype=np.float64) for a in c.band)
        if self._log_y:
            with np.errstate(divide="ignore", invalid="ignore"):
                lo, hi = (np.where(a > 0, np.log10(np.where(a > 0, a, 1.0)), np.nan) for a in (lo, hi))
        ok = np.isfinite(x) & np.isfinite(lo) & np.isfinite(hi)
        return x[ok], lo[ok], hi[ok]

    def _band_path(self, c: LayerCurve) -> QPainterPath:
        x, lo, hi = self._band_y(c)
        return pg.arrayToQPath(np.concatenate([x, x[::-1]]), np.concatenate([lo, hi[::-1]]), connect="all")

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
            y = np.concatenate([y[np.isfinite(y)], *self._band_y(c)[1:]])
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
            if c.band is not None and c.band_brush is not None:
                p.fillPath(self._band_path(c), c.band_brush)
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
            d = distance_to_polyline((c.x[a:b] - x) / px, (self._y(c)[a:b] - y) / py)
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
