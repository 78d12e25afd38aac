"""A compared run on the plots (Overlay), and its curves of one tab, reduced as the current run's
are and drawn by the tab's CompareLayer."""

from __future__ import annotations

from dataclasses import dataclass, field

import pyqtgraph as pg
from PySide6.QtGui import QColor

from ganstudio.core.curves import SeriesCaches, curve_data, index_range
from ganstudio.core.run.history import History
from ganstudio.qt.run_model import RunModel
from ganstudio.qt.widgets.compare_layer import LayerCurve

# Compared runs: each in its colour, a tab's later series in paler tints of it (opaque and solid:
# Qt strokes dashed or translucent lines several times slower, and ten runs are many lines).
OVERLAY_TINTS = (0.0, 0.45, 0.65, 0.8)  # how far each series' colour is mixed towards white
# A compared run's long series is reduced to a (min, max) pair every this many pixel columns (the
# current run's, every column): the same envelope, drawn with half the points; with ten runs, Qt's
# stroking of their points is most of a frame.
OVERLAY_COLUMN_PX = 2


@dataclass(eq=False)
class Overlay:
    """Another run drawn on every tab beside the current one: its name (legend and hover), colour
    and RunModel, which the panel only reads and redraws on (its `changed` and `reset`)."""

    name: str
    color: str
    model: RunModel
    caches: SeriesCaches = field(default_factory=SeriesCaches)
    version: int = 0  # bumped on every change of the run: its curves are made again

    @property
    def history(self) -> History:
        return self.model.history

    def curves(
        self, series: list[tuple[str, str]], bands: bool, view: tuple, weight: float, wall_x: bool
    ) -> list[LayerCurve]:
        """The run's `series` (a tab's (key, label) pairs) that have finite points, reduced for
        `view` as the current run's are (every point for a sparse metric, `bands`), each in a tint
        of the run's colour (paler for the tab's later series)."""
        h = self.history
        x_all = h.walls() if wall_x else h.steps()
        base = QColor(self.color)
        out = []
        for i, (key, label) in enumerate(series):
            if not h.has(key):
                continue
            raw = h.series(key)
            cache = self.caches.get(key, h.revision)
            cache.update(raw, weight)
            if not cache.n_finite:
                continue
            if bands:
                index = cache.finite.view() if cache.finite is not None else slice(None)
                x, y = x_all[index], raw[index]
            else:
                i0, i1 = index_range(view, cache, x_all)
                coarse = (max(1, view[0] // OVERLAY_COLUMN_PX), *view[1:]) if view else view
                x, y = curve_data(coarse, cache, x_all, raw, i0, i1, smoothed=weight > 0.0)
            t = OVERLAY_TINTS[i % len(OVERLAY_TINTS)]
            tint = QColor.fromRgbF(*(c + (1.0 - c) * t for c in (base.redF(), base.greenF(), base.blueF())))
            brush = pg.mkBrush(base) if bands else None
            out.append(LayerCurve(id(self), self.name, label, pg.mkPen(tint, width=1), x, y, brush))
        return out
