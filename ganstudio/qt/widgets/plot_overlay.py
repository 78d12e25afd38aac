"""A compared run on the plots (Overlay), a ticked group of replicates (GroupOverlay: their mean and
band, from core.run.groups), and their curves of one tab, reduced as the current run's are and
drawn by the tab's CompareLayer; as deltas against a baseline run's History when one is given."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import numpy as np
import pyqtgraph as pg
from PySide6.QtGui import QBrush, QColor, QPen

from ganstudio.core.curves import LOD_DIRECT_POINTS, SeriesCaches, curve_data, ema_debiased, index_range
from ganstudio.core.run.groups import MINMAX, STD_SUFFIX, GroupBand, delta_history, group_band
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
GROUP_BAND_ALPHA = 60  # a group's band: its colour, this translucent, under its mean line


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

    @property
    def models(self) -> list[RunModel]:
        """The run models it is drawn from (the panel redraws it when one changes)."""
        return [self.model]

    def curves(
        self,
        series: list[tuple[str, str]],
        bands: bool,
        view: tuple,
        weight: float,
        wall_x: bool,
        baseline: History | None = None,
        band: str = MINMAX,
    ) -> list[LayerCurve]:
        """The run's `series` (a tab's (key, label) pairs) that have finite points, reduced for
        `view` as the current run's are (every point for a sparse metric, `bands`), each in a tint
        of the run's colour (paler for the tab's later series); minus `baseline` when given."""
        if baseline is None:
            h, caches = self.history, self.caches
        else:  # made anew for each draw: a delta changes whenever either run does
            h, caches = delta_history(self.history, baseline), SeriesCaches()
        return run_curves(id(self), self.name, self.color, h, caches, series, bands, view, weight, wall_x)


@dataclass(eq=False)
class GroupOverlay:
    """A ticked group of replicates drawn as one run: the mean of its runs at the steps they all
    logged, with a band (min/max or mean +/- std, the tab's choice) in its colour."""

    name: str
    color: str
    members: list[RunModel]
    version: int = 0
    # The mean and band of this version by (band, keys): a pan or zoom only reduces them again, and
    # each tab computes its own few keys (a group of long runs took ~0.1 s a draw for all ~50).
    _bands: dict[tuple, GroupBand] = field(default_factory=dict, repr=False)
    _bands_version: int = field(default=-1, repr=False)

    @property
    def history(self) -> History:
        return self.members[0].history  # its length and keys stand for the group's

    def band_of(self, series: list[tuple[str, str]], band: str) -> GroupBand:
        """The group's mean and band (core.run.groups.group_band) for `series`' keys and their
        "<key>_std", made once per version of its runs."""
        if self._bands_version != self.version:
            self._bands, self._bands_version = {}, self.version
        keys = frozenset(k for key, _ in series for k in (key, key + STD_SUFFIX))
        made = self._bands.get((band, keys))
        if made is None:
            made = self._bands[(band, keys)] = group_band([m.history for m in self.members], band, keys)
        return made

    @property
    def models(self) -> list[RunModel]:
        return list(self.members)

    def curves(
        self,
        series: list[tuple[str, str]],
        bands: bool,
        view: tuple,
        weight: float,
        wall_x: bool,
        baseline: History | None = None,
        band: str = MINMAX,
    ) -> list[LayerCurve]:
        g = self.band_of(series, band)
        mean, lo, hi = g.mean, g.lo, g.hi
        if baseline is not None:
            mean, lo, hi = (delta_history(h, baseline) for h in (mean, lo, hi))
        out = run_curves(
            id(self), self.name, self.color, mean, SeriesCaches(), series, bands, view, weight, wall_x
        )
        fill = QColor(self.color)
        fill.setAlpha(GROUP_BAND_ALPHA)
        x_all = mean.walls() if wall_x else mean.steps()
        for c in out:
            c.band = _band(x_all, lo.series(c.key), hi.series(c.key), 0.0 if bands else weight, view)
            c.band_brush = pg.mkBrush(fill)
        return out


def _band(x: np.ndarray, lo: np.ndarray, hi: np.ndarray, weight: float, view: tuple) -> tuple:
    """(x, lo, hi) of a band's finite points, smoothed as its line is, and reduced to the envelope
    of about one bucket per pixel column when long."""
    ok = np.isfinite(lo) & np.isfinite(hi)
    x, lo, hi = x[ok], lo[ok], hi[ok]
    if weight > 0.0:
        lo, hi = ema_debiased(lo, weight)[0], ema_debiased(hi, weight)[0]
    if len(x) > LOD_DIRECT_POINTS and view:
        edges = np.linspace(0, len(x), max(2, view[0]), endpoint=False).astype(np.int64)
        edges = np.unique(edges)
        x, lo, hi = x[edges], np.minimum.reduceat(lo, edges), np.maximum.reduceat(hi, edges)
    return x, lo, hi


def run_curves(
    run: int,
    name: str,
    color: str,
    h: History,
    caches: SeriesCaches,
    series: list[tuple[str, str]],
    bands: bool,
    view: tuple,
    weight: float,
    wall_x: bool,
) -> list[LayerCurve]:
    """One LayerCurve per series of `h` with finite points (see Overlay.curves)."""
    x_all = h.walls() if wall_x else h.steps()
    out = []
    for i, (key, label) in enumerate(series):
        if not h.has(key):
            continue
        raw = h.series(key)
        cache = caches.get(key, h.revision)
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
        brush = _brush(color) if bands else None
        out.append(
            LayerCurve(run, name, label, _tint_pen(color, i % len(OVERLAY_TINTS)), x, y, brush, key=key)
        )
    return out


@functools.cache
def _tint_pen(color: str, i: int) -> QPen:
    """The pen of a compared run's i-th series: its colour, mixed OVERLAY_TINTS[i] towards white
    (made once: a compare frame remakes every growing run's curves, and pens were a tenth of it)."""
    base, t = QColor(color), OVERLAY_TINTS[i]
    tint = QColor.fromRgbF(*(c + (1.0 - c) * t for c in (base.redF(), base.greenF(), base.blueF())))
    return pg.mkPen(tint, width=1)


@functools.cache
def _brush(color: str) -> QBrush:
    return pg.mkBrush(QColor(color))
