"""The latent explorer's views: an image that outlines picked grid cells and reports clicks, and
a 2D plane of point and line layers (pyqtgraph, built on first use)."""

from __future__ import annotations

from typing import Any

import numpy as np
from PySide6.QtCore import QRectF
from PySide6.QtGui import QColor, QPainter, QPalette, QPen

from ganstudio.qt.panels.plot_items import offer_working_exports
from ganstudio.qt.panels.samples import GRID_NROW, GRID_PADDING, GridView

PICK_COLORS = {"A": QColor(37, 99, 235), "B": QColor(234, 88, 12)}


class ImageView(GridView):
    """A GridView with picked grid cells outlined (`set_marks`)."""

    def __init__(self, name: str, min_height: int = 48):
        super().__init__(name=name, min_size=(48, min_height))
        self._marks: list[tuple[int, str]] = []

    def set_marks(self, marks: list[tuple[int, str]]) -> None:
        """Outline grid cells: (sample index, "A" or "B")."""
        self._marks = marks
        self.update()

    def _paint_over(self, painter: QPainter, target: QRectF) -> None:
        w = self._image.width()
        side = (w - GRID_PADDING) // GRID_NROW - GRID_PADDING
        if side < 1:
            return
        k = target.width() / w
        for index, label in self._marks:
            row, col = divmod(index, GRID_NROW)
            x = target.x() + (GRID_PADDING + col * (side + GRID_PADDING)) * k
            y = target.y() + (GRID_PADDING + row * (side + GRID_PADDING)) * k
            painter.setPen(QPen(PICK_COLORS[label], 2))
            painter.drawRect(QRectF(x, y, side * k, side * k))
            painter.drawText(QRectF(x + 2, y, side * k, side * k), label)


class Plane:
    """A 2D plot of the plane, built on first use (pyqtgraph costs start-up time): the real data
    faint behind, and named layers of points and lines."""

    def __init__(self, name: str, palette: QPalette, legend: bool = False):
        import pyqtgraph as pg

        self.pg = pg
        self.widget = offer_working_exports(pg.PlotWidget(objectName=name))
        self.widget.setAspectLocked(True)
        self.widget.hideButtons()
        self.widget.setMenuEnabled(False)
        self.widget.setMinimumHeight(160)
        # The window's colours, as the samples scatter has them (pyqtgraph's default is black).
        self.widget.setBackground(palette.color(QPalette.ColorRole.Base))
        for side in ("left", "bottom"):
            axis = self.widget.getPlotItem().getAxis(side)
            axis.setPen(palette.color(QPalette.ColorRole.Mid))
            axis.setTextPen(palette.color(QPalette.ColorRole.Text))
        if legend:
            self.widget.addLegend(offset=(8, 8), labelTextColor=palette.color(QPalette.ColorRole.Text))
        self.real = pg.ScatterPlotItem(size=3, pen=None, brush=pg.mkBrush(150, 150, 150, 90),
                                       name="real data")
        self.widget.addItem(self.real)
        self.layers: dict[str, Any] = {}

    def set_real(self, points: np.ndarray | None) -> None:
        self.real.setData(pos=points[:: max(1, len(points) // 2000)] if points is not None else [])

    def scatter(self, key: str, points: np.ndarray | None, color: tuple, size: int = 5, z: float = 0) -> Any:
        item = self.layers.get(key)
        if item is None:
            item = self.pg.ScatterPlotItem(size=size, pen=None, brush=self.pg.mkBrush(*color), name=key)
            item.setZValue(z)
            self.widget.addItem(item)
            self.layers[key] = item
        item.setData(pos=np.zeros((0, 2)) if points is None else points)
        return item

    def clear(self, key: str) -> None:
        item = self.layers.get(key)
        if item is not None:
            item.clear()

    def lines(self, key: str, xy: np.ndarray | None, color: tuple, width: float = 1.0, z: float = 0,
              symbol: str | None = None) -> None:
        """A polyline; NaN rows break it (connect="finite")."""
        item = self.layers.get(key)
        if item is None:
            item = self.pg.PlotDataItem(pen=self.pg.mkPen(color=color, width=width), connect="finite",
                                        symbol=symbol, symbolSize=6, symbolPen=None,
                                        symbolBrush=self.pg.mkBrush(*color))
            item.setZValue(z)
            self.widget.addItem(item)
            self.layers[key] = item
        if xy is None or not len(xy):
            item.setData([], [])
        else:
            item.setData(xy[:, 0], xy[:, 1])


def mesh_polyline(mesh: np.ndarray) -> np.ndarray:
    """A (r, c, 2) mesh as one polyline: every row, then every column, NaN between lines."""
    gap = np.full((1, 2), np.nan, dtype=np.float32)
    parts = []
    for line in list(mesh) + list(mesh.transpose(1, 0, 2)):
        parts += [line, gap]
    return np.concatenate(parts) if parts else np.zeros((0, 2), np.float32)
