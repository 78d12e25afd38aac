"""PySide6 6.12.0 on Python 3.11 took a reference from None on every call of a method returning
void; after enough paints None's count reached zero and the interpreter aborted in none_dealloc.
pyproject.toml pins PySide6 below 6.12 for this. These tests fail (or crash) on a binding with the
bug: they paint as the plots do, then check that None did not lose references.

The count may rise (6.11.3 adds about one reference per PlotDataItem.setData, which is harmless);
it must not fall. Garbage is collected on both sides of each measurement so that freeing unrelated
objects cannot make it fall. On Python 3.12+ None is immortal and the assertions hold trivially.
"""

from __future__ import annotations

import gc
import sys

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF
from PySide6.QtGui import QColor, QImage, QPainter, QPen
from PySide6.QtWidgets import QApplication


def test_plot_repaints_keep_none_alive(qtbot):
    widget = pg.PlotWidget()
    qtbot.addWidget(widget)
    widget.resize(320, 200)
    widget.show()
    curve = widget.plot(pen=pg.mkPen("#3b82f6", width=1))
    x = np.arange(1000, dtype=np.float64)
    rng = np.random.default_rng(0)
    QApplication.processEvents()
    gc.collect()
    before = sys.getrefcount(None)
    for _ in range(300):
        curve.setData(x, rng.normal(size=x.size))
        widget.grab()
        QApplication.processEvents()
    gc.collect()
    assert sys.getrefcount(None) >= before


def test_void_painter_calls_keep_none_alive():
    image = QImage(64, 64, QImage.Format.Format_ARGB32)
    image.fill(QColor("white"))
    painter = QPainter(image)
    pen = QPen(QColor("black"))
    gc.collect()
    before = sys.getrefcount(None)
    for i in range(1000):
        painter.setPen(pen)  # returns void: the call that leaked a reference from None
        painter.drawPoint(QPointF(i % 64, i // 64 % 64))
    gc.collect()
    after = sys.getrefcount(None)
    painter.end()
    assert after >= before
