"""A grid of samples as the trainer lays it out (core.train.trainer.to_grid: 8 a row, 1 px padding):
which sample a pixel belongs to, and a view that paints the grid crisp, outlines picked samples
and says which pixel a click hit. The Samples panel and the latent explorer both show one."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QRectF, Qt, Signal
from PySide6.QtGui import QColor, QImage, QPainter, QPalette, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

GRID_NROW, GRID_PADDING = 8, 1  # the layout of the trainer's grids (core.train.trainer.to_grid)
PICK_COLORS = {"A": QColor(37, 99, 235), "B": QColor(234, 88, 12)}  # the latent explorer's picks


def grid_index(
    shape: tuple[int, ...], x: float, y: float, nrow: int = GRID_NROW, padding: int = GRID_PADDING
) -> int | None:
    """The index of the sample under pixel (x, y) of a grid of square samples laid out as
    core.train.trainer.to_grid lays them out (`nrow` per row, `padding` px around each), or None on the
    padding or outside. The fixed-noise grid's sample i is G(fixed_noise[i])."""
    height, width = shape[:2]
    side = (width - padding) // nrow - padding
    if side < 1 or x < 0 or y < 0:
        return None
    cell = side + padding
    col, dx = divmod(int(x) - padding, cell)
    row, dy = divmod(int(y) - padding, cell)
    rows = (height - padding) // cell
    if not (0 <= col < nrow and 0 <= row < rows and dx < side and dy < side):
        return None
    return row * nrow + col


class GridView(QWidget):
    """Paints one uint8 image as large as fits, keeping aspect, with nearest-neighbour scaling so
    8x8 digits stay crisp. A click says which image pixel it hit (`clicked(x, y)`). Picked samples
    of a grid are outlined and labelled (`set_marks`); subclasses draw more in `_paint_over`."""

    clicked = Signal(float, float)

    def __init__(self, parent: QWidget | None = None, name: str = "", min_size: tuple[int, int] = (64, 64)):
        super().__init__(parent)
        if name:
            self.setObjectName(name)
        self.setMinimumSize(*min_size)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self._array: np.ndarray | None = None  # keeps the QImage's buffer alive
        self._image: QImage | None = None
        self._marks: list[tuple[int, str]] = []

    @property
    def array(self) -> np.ndarray | None:
        return self._array

    @property
    def marks(self) -> list[tuple[int, str]]:
        return list(self._marks)

    def set_marks(self, marks: list[tuple[int, str]]) -> None:
        """Outline grid cells: (sample index, "A" or "B"), laid out as core.train.trainer.to_grid does."""
        self._marks = [(int(i), str(label)) for i, label in marks]
        self.update()

    def set_image(self, array: np.ndarray | None) -> None:
        if array is None:
            self._array = self._image = None
        else:
            if array.ndim == 3 and array.shape[2] == 1:
                array = array[:, :, 0]
            array = np.ascontiguousarray(array)
            h, w = array.shape[:2]
            channels = 1 if array.ndim == 2 else array.shape[2]
            fmt = {
                1: QImage.Format.Format_Grayscale8,
                3: QImage.Format.Format_RGB888,
                4: QImage.Format.Format_RGBA8888,
            }.get(channels)
            if fmt is None:
                raise ValueError(f"a sample grid needs 1, 3 or 4 channels, not {channels}")
            self._array = array
            self._image = QImage(array.data, w, h, array.strides[0], fmt)
        self.update()

    def _target(self) -> QRectF:
        """Where the image is drawn: as large as fits, centred, keeping its aspect."""
        iw, ih = self._image.width(), self._image.height()
        scale = min(self.width() / iw, self.height() / ih)
        w, h = iw * scale, ih * scale
        return QRectF((self.width() - w) / 2, (self.height() - h) / 2, w, h)

    def paintEvent(self, _event) -> None:  # noqa: N802 (Qt's name)
        painter = QPainter(self)
        painter.fillRect(self.rect(), self.palette().color(QPalette.ColorRole.Base))
        if self._image is not None:
            target = self._target()
            painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, False)
            painter.drawImage(target, self._image)
            self._paint_marks(painter, target)
            self._paint_over(painter, target)
        painter.end()

    def _paint_marks(self, painter: QPainter, target: QRectF) -> None:
        w, h = self._image.width(), self._image.height()
        side = (w - GRID_PADDING) // GRID_NROW - GRID_PADDING
        if side < 1:
            return
        rows = (h - GRID_PADDING) // (side + GRID_PADDING)
        k = target.width() / w
        for index, label in self._marks:
            row, col = divmod(index, GRID_NROW)
            if not 0 <= row < rows:
                continue  # a pick beyond this grid's samples
            x = target.x() + (GRID_PADDING + col * (side + GRID_PADDING)) * k
            y = target.y() + (GRID_PADDING + row * (side + GRID_PADDING)) * k
            painter.setPen(QPen(PICK_COLORS.get(label, PICK_COLORS["A"]), 2))
            painter.drawRect(QRectF(x, y, side * k, side * k))
            painter.drawText(QRectF(x + 2, y, side * k, side * k), label)

    def _paint_over(self, painter: QPainter, target: QRectF) -> None:
        """Drawn over the image, in `target` (the widget rectangle it fills)."""

    def mousePressEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        if self._image is None or event.button() != Qt.MouseButton.LeftButton:
            super().mousePressEvent(event)
            return
        target, pos = self._target(), event.position()
        if target.contains(pos):
            self.clicked.emit(
                (pos.x() - target.x()) * self._image.width() / target.width(),
                (pos.y() - target.y()) * self._image.height() / target.height(),
            )
