"""The 2D lab (after GAN Lab): D's opinion of the whole plane as a heatmap, the generated points,
the push that G's loss gives each point, and the real data drawn on top of them all (small dark
points over a translucent generated cloud: a mode the generator covers still shows).

The items are created once and updated. Samples are stored as they arrive and drawn from a
display-rate single-shot QTimer, so a burst of events costs one redraw; a hidden panel draws
when it is shown again. Each samples event of the run is checked against the toy's convergence
rule (core.metrics.converged) until it first holds: "converged at step N (Xs)" then stays.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent, QRectF, QTimer
from PySide6.QtGui import QColor, QImage, QPainter, QPalette, QPixmap
from PySide6.QtWidgets import QCheckBox, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from ganstudio.core.extent import Extent, data_extent
from ganstudio.core.metrics.converged import CLOSE_STDS, CONVERGED, MIN_CLOSE_SHARE, MIN_MODE_SHARE
from ganstudio.core.run.events import Marker, Samples
from ganstudio.qt.widgets.plot_items import offer_working_exports

REDRAW_INTERVAL_MS = 33  # ~30 Hz at most, never once per event
REAL_POINTS_SHOWN = 2000  # a random subset of the real data is as informative and far cheaper
ARROWS_SHOWN = 256  # at most this many arrows (every k-th point): more only blurs into a mat
ARROW_FRACTION = 0.05  # the longest arrow, as a fraction of the extent's width
ARROW_SCALE_QUANTILE = 90  # arrows are scaled by the gradient norm relative to this percentile
FIELD_ALPHA = 110  # the heatmap's strongest opacity (0..255): it must not drown the points
BAR_SIZE = (120, 10)

# Where D says "fake" the plane turns magenta, where it says "real" green; undecided is clear, so
# the heatmap works on light and dark backgrounds alike.
FAKE_COLOR = (219, 39, 119)
REAL_COLOR = (22, 163, 74)
POINT_COLOR = (37, 99, 235, 150)  # the samples panel's blue, see-through: the real data shows below
POINT_COLOR_DARK = (96, 165, 250, 160)  # a lighter blue where the background is dark
REAL_POINT_ALPHA = 200  # the real points are the palette's text colour (dark on light), at this opacity
# Bottom to top: the field, the generated points, G's push on them, the real data above them all.
Z_FIELD, Z_FAKE, Z_ARROWS, Z_REAL = -10, 0, 1, 5


def field_lut(size: int = 256, alpha: int = FIELD_ALPHA) -> np.ndarray:
    """A (size, 4) uint8 RGBA diverging table: FAKE_COLOR at 0, clear at the middle, REAL_COLOR
    at 1, with opacity growing linearly away from the middle."""
    t = np.linspace(0.0, 1.0, size)
    lut = np.empty((size, 4), dtype=np.uint8)
    real = t >= 0.5
    lut[:, :3] = np.where(real[:, None], REAL_COLOR, FAKE_COLOR)
    lut[:, 3] = np.round(np.abs(2.0 * t - 1.0) * alpha).astype(np.uint8)
    return lut


def arrow_segments(points: np.ndarray, grads: np.ndarray, length: float) -> np.ndarray:
    """(2k, 2) segment ends for connect="pairs": from each point along its gradient, the longest
    `length`, each scaled by its norm relative to the ARROW_SCALE_QUANTILE-th percentile (capped
    at 1), so points that G barely moves get short arrows."""
    p = np.asarray(points, dtype=np.float64)
    g = np.asarray(grads, dtype=np.float64)
    ok = np.all(np.isfinite(p), axis=1) & np.all(np.isfinite(g), axis=1)
    p, g = p[ok], g[ok]
    if len(p) > ARROWS_SHOWN:
        every = int(np.ceil(len(p) / ARROWS_SHOWN))
        p, g = p[::every], g[::every]
    norm = np.linalg.norm(g, axis=1)
    if len(p) == 0 or not np.any(norm > 0):
        return np.empty((0, 2))
    scale = np.percentile(norm, ARROW_SCALE_QUANTILE)
    scale = scale if scale > 0 else norm.max()
    rel = np.minimum(norm / scale, 1.0)
    direction = g / np.where(norm > 0, norm, 1.0)[:, None]
    segments = np.empty((2 * len(p), 2))
    segments[0::2] = p
    segments[1::2] = p + direction * (rel * length)[:, None]
    return segments


def field_at(field: np.ndarray, extent: Extent, points: np.ndarray) -> np.ndarray:
    """The field's value in the grid cell under each finite point; points outside the extent take
    the nearest edge cell."""
    p = np.asarray(points, dtype=np.float64)
    p = p[np.all(np.isfinite(p), axis=1)]
    rows, cols = field.shape
    xmin, xmax, ymin, ymax = extent
    ix = np.clip(np.floor((p[:, 0] - xmin) / (xmax - xmin) * cols), 0, cols - 1).astype(np.int64)
    iy = np.clip(np.floor((p[:, 1] - ymin) / (ymax - ymin) * rows), 0, rows - 1).astype(np.int64)
    return field[iy, ix]


def raw_levels(
    field: np.ndarray,
    extent: Extent,
    real: np.ndarray | None,
    fake: np.ndarray | None,
) -> tuple[float, float]:
    """Colour levels for raw scores (hinge, LSGAN, WGAN): centred halfway between D's mean on the
    real and on the generated points, where D draws its line between them (a WGAN critic's offset is
    arbitrary, so 0 would mean nothing), and as wide as 90% of those points' distance from it, so
    the data's neighbourhood uses the whole scale and the far corners saturate. Without both kinds
    of points: symmetric around 0."""
    on_real = field_at(field, extent, real) if real is not None else np.empty(0)
    on_fake = field_at(field, extent, fake) if fake is not None else np.empty(0)
    on_real, on_fake = on_real[np.isfinite(on_real)], on_fake[np.isfinite(on_fake)]
    if len(on_real) == 0 or len(on_fake) == 0:
        finite = np.abs(field[np.isfinite(field)])
        peak = float(np.percentile(finite, 99)) if finite.size else 1.0
        peak = peak if peak > 0 else 1.0
        return (-peak, peak)
    centre = float(on_real.mean() + on_fake.mean()) / 2
    half = float(np.percentile(np.abs(np.concatenate([on_real, on_fake]) - centre), 90))
    half = half if half > 1e-12 else 1.0
    return (centre - half, centre + half)


def _bar_pixmap(lut: np.ndarray, base: QColor) -> QPixmap:
    """The colour table drawn over the palette's base colour, as the plot blends it."""
    w, h = BAR_SIZE
    index = np.linspace(0, len(lut) - 1, w).round().astype(int)
    rgba = lut[index].astype(np.float64)
    a = rgba[:, 3:4] / 255.0
    under = np.array([base.red(), base.green(), base.blue()], dtype=np.float64)
    rgb = (rgba[:, :3] * a + under * (1 - a)).round().astype(np.uint8)
    image = np.ascontiguousarray(np.repeat(rgb[None, :, :], h, axis=0))
    qimage = QImage(image.data, w, h, image.strides[0], QImage.Format.Format_RGB888)
    return QPixmap.fromImage(qimage.copy())


def _css(rgb: tuple[int, ...]) -> str:
    return "#{:02x}{:02x}{:02x}".format(*rgb[:3])


class _SmoothImage(pg.ImageItem):
    """An ImageItem scaled bilinearly: a 64 x 64 field reads as a smooth landscape, not tiles."""

    def paint(self, painter: QPainter, *args) -> None:
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, True)
        super().paint(painter, *args)


class Lab2DPanel(QWidget):
    def __init__(self, model=None, parent: QWidget | None = None):
        """`model`: the window's RunModel, whose 2D samples it draws."""
        super().__init__(parent)
        self.setObjectName("lab2d_panel")
        self._model = model
        self._converged_step: int | None = None  # the run's "converged" marker (core/train/loop.py)
        self._converged_timed = False
        if model is not None:
            model.changed.connect(self._on_model_changed)
            model.reset.connect(self.clear)
        self._latest: Samples | None = None
        self._dirty = False
        self._extent: Extent | None = None
        self._reference_extent: Extent | None = None
        self._probabilistic: bool | None = None  # None: decide from the values seen
        self._seen_raw = False  # a value outside [0, 1] was seen this run: raw scores
        self._raw_levels = (-1.0, 1.0)  # the levels of the last field drawn as raw scores
        self._real_shown: np.ndarray | None = None  # the real points drawn (a subset)
        self._point_color = POINT_COLOR  # per palette: see _apply_palette
        self._real_color = (0, 0, 0, REAL_POINT_ALPHA)
        self._lut = field_lut()

        self.plot = offer_working_exports(pg.PlotWidget())
        self.plot.setObjectName("lab2d_plot")
        self.plot.setAspectLocked(True)
        self.plot.hideButtons()
        self.plot.setMenuEnabled(False)
        self.field_item = _SmoothImage(axisOrder="row-major")
        self.field_item.setLookupTable(self._lut)
        self.field_item.setZValue(Z_FIELD)
        # Its colour follows the palette: see _apply_palette.
        self.real_item = pg.ScatterPlotItem(size=3, pen=None, antialias=False, pxMode=True)
        self.real_item.setZValue(Z_REAL)
        self.arrows_item = pg.PlotDataItem(connect="pairs", antialias=False)
        self.arrows_item.setZValue(Z_ARROWS)
        self.fake_item = pg.ScatterPlotItem(
            size=4, pen=None, brush=pg.mkBrush(*POINT_COLOR), antialias=False, pxMode=True
        )
        self.fake_item.setZValue(Z_FAKE)
        for item in (self.field_item, self.real_item, self.arrows_item, self.fake_item):
            self.plot.addItem(item)
        self.field_item.setVisible(False)

        self._show_field = QCheckBox("D field", objectName="lab2d_field")
        self._show_field.setToolTip("Colour the plane by the discriminator's output D(x)")
        self._show_real = QCheckBox("Real data", objectName="lab2d_real")
        self._show_real.setToolTip("Draw a random subset of the real data, dark, over the generated points")
        self._show_arrows = QCheckBox("Gradients", objectName="lab2d_arrows")
        self._show_arrows.setToolTip(
            "From each generated point, the direction the generator's loss pushes it (-∂loss_G/∂x); "
            "longer = pushed harder"
        )
        for box in (self._show_field, self._show_real, self._show_arrows):
            box.setChecked(True)
        self._reset = QPushButton("Reset view", objectName="lab2d_reset_view")
        self._reset.setToolTip("Show the whole extent again after zooming or panning")
        self._bar = QLabel(objectName="lab2d_colorbar")
        self._legend = QLabel(objectName="lab2d_legend")
        self._legend.setToolTip(
            "The plane is coloured by what the discriminator says about each point: green where it "
            "says real, magenta where it says fake, clear where it cannot tell."
        )
        self._keys = QLabel(objectName="lab2d_keys")
        self._keys.setToolTip(
            "Dark: real data, drawn on top; blue: generated points; lines: where the generator's "
            "loss pushes each generated point (longer = harder)."
        )
        self._step = QLabel("no samples", objectName="lab2d_step")
        self._converged = QLabel(objectName="lab2d_converged")
        self._converged.setToolTip(
            f"The first samples in which every mode holds at least {MIN_MODE_SHARE:.0%} of the points "
            f"within {CLOSE_STDS:g} std of its centre, and at least {MIN_CLOSE_SHARE:.0%} of all points "
            "lie that close to some centre; the time is the run's training time at that step"
        )
        for label in (self._legend, self._keys):
            label.setMinimumWidth(1)  # a narrow dock clips the text rather than growing

        controls = QHBoxLayout()
        controls.setContentsMargins(4, 2, 4, 2)
        for box in (self._show_field, self._show_real, self._show_arrows):
            controls.addWidget(box)
        controls.addStretch(1)
        controls.addWidget(self._reset)
        legend = QHBoxLayout()
        legend.setContentsMargins(4, 2, 4, 2)
        legend.setSpacing(6)
        legend.addWidget(self._bar)
        legend.addWidget(self._legend)
        legend.addStretch(1)
        legend.addWidget(self._keys)
        legend.addSpacing(6)
        legend.addWidget(self._converged)
        legend.addWidget(self._step)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addLayout(controls)
        layout.addWidget(self.plot, 1)
        layout.addLayout(legend)

        self._timer = QTimer(self, objectName="lab2d_redraw_timer")
        self._timer.setSingleShot(True)
        self._timer.setInterval(REDRAW_INTERVAL_MS)
        self._timer.timeout.connect(self._on_timer_timeout)
        self._show_field.toggled.connect(self._on_show_field_toggled)
        self._show_real.toggled.connect(self.real_item.setVisible)
        self._show_arrows.toggled.connect(self._on_show_arrows_toggled)
        self._reset.clicked.connect(self.reset_view)
        self._apply_palette()

    # ---- public API ---------------------------------------------------------------------------

    @property
    def current_step(self) -> int | None:
        """The step of the samples on screen (not of any still waiting for the timer)."""
        return None if self._latest is None or self._dirty else self._latest.step

    @property
    def extent(self) -> Extent | None:
        """(xmin, xmax, ymin, ymax) of the field, the view that Reset view restores."""
        return self._extent or self._reference_extent

    @property
    def probabilistic(self) -> bool:
        """Whether the field is drawn as a probability in [0, 1] (else as a raw score around 0)."""
        if self._probabilistic is not None:
            return self._probabilistic
        if self._latest is not None and self._latest.field_is_probability is not None:
            return self._latest.field_is_probability  # the trainer knows its loss
        return not self._seen_raw

    @property
    def converged_step(self) -> int | None:
        """The step of the run's first samples that met the convergence rule, if any yet: the
        run's "converged" marker, which the training loop decides (one place, whoever follows)."""
        return self._converged_step

    def _on_model_changed(self, changes) -> None:
        for ev in changes.events:
            if isinstance(ev, Samples):
                self.show_samples(ev)
            elif isinstance(ev, Marker) and ev.kind == CONVERGED and self._converged_step is None:
                self._converged_step = ev.step
        if self._converged_step is not None and not self._converged_timed:
            self._show_converged()  # its step's training time may come with a later batch

    def _find_converged(self) -> None:
        """A run opened or read back: its marker, if it has one already."""
        history = self._model.history if self._model is not None else None
        found = [m.step for m in history.markers if m.kind == CONVERGED] if history is not None else []
        self._converged_step = min(found) if found else None
        if found:
            self._show_converged()

    def _show_converged(self) -> None:
        step, history = self.converged_step, self._model.history
        known = len(history) > 0 and history.steps()[-1] >= step
        when = f" ({history.wall_at(step):.1f} s)" if known else ""
        self._converged.setText(f"converged at step {step}{when}")
        self._converged_timed = known

    def show_samples(self, ev: Samples) -> None:
        """Keep the latest 2D samples; they are drawn at the next display tick. Image samples
        (no points) are ignored."""
        if ev.points is None:
            return
        self._latest = ev
        self._dirty = True
        if not self._timer.isActive():
            self._timer.start()

    def set_reference_points(self, points: np.ndarray | None) -> None:
        """The real 2D data, drawn over the generated points (a random subset); None for image data.
        It sets the view's range until samples bring their own extent."""
        if points is None:
            self.real_item.clear()
            self._real_shown = None
            self._reference_extent = None
            return
        p = np.asarray(points, dtype=np.float64)
        if len(p) > REAL_POINTS_SHOWN:
            # A fixed seed (never the global RNG): the same data always shows the same subset.
            p = p[np.random.default_rng(0).choice(len(p), REAL_POINTS_SHOWN, replace=False)]
        if self._real_shown is not None and np.array_equal(p, self._real_shown):
            return  # the same data again (a config edit before Start): the user's view stays
        self.real_item.setData(pos=p)
        self._real_shown = p
        self._reference_extent = data_extent(points)
        if self._extent is None:
            self.reset_view()

    def set_probabilistic(self, probabilistic: bool | None) -> None:
        """Say how to colour the field: True for probabilities (levels 0..1), False for raw scores
        (levels from `raw_levels`), None to decide from the values (the default: raw once a
        value outside [0, 1] is seen in this run)."""
        self._probabilistic = probabilistic
        if self._latest is not None and self._latest.field is not None:
            self._draw_field(self._latest)
        self._update_legend()

    def clear(self) -> None:
        """Forget the samples (a new run); the real data stays until set_reference_points."""
        self._timer.stop()
        self._latest = None
        self._dirty = False
        self._extent = None
        self._seen_raw = False
        self.field_item.clear()
        self.field_item.setVisible(False)
        self.fake_item.clear()
        self.arrows_item.setData([], [])
        self._step.setText("no samples")
        self._converged_step = None
        self._converged_timed = False
        self._converged.clear()
        self._find_converged()
        self._update_legend()
        self.reset_view()

    def reset_view(self) -> None:
        extent = self.extent
        view = self.plot.getPlotItem().getViewBox()
        if extent is None:
            view.enableAutoRange()
            return
        xmin, xmax, ymin, ymax = extent
        view.setRange(xRange=(xmin, xmax), yRange=(ymin, ymax), padding=0)
        view.disableAutoRange()

    # ---- drawing ------------------------------------------------------------------------------

    def _redraw(self) -> None:
        ev = self._latest
        self._dirty = False
        if ev is None:
            return
        extent = ev.extent
        if extent is None and self._extent is None and self._reference_extent is None:
            extent = data_extent(ev.points)  # nothing else to go by: fix the view on these points
        if extent is not None and tuple(extent) != self._extent:
            self._extent = tuple(float(v) for v in extent)
            self.reset_view()
        self.fake_item.setData(pos=ev.points)
        self._draw_field(ev)
        self._draw_arrows(ev)
        self._step.setText(f"step {ev.step}")
        self._update_legend()

    def _draw_field(self, ev: Samples) -> None:
        field = ev.field
        if field is None or ev.extent is None:
            self.field_item.setVisible(False)
            return
        finite = field[np.isfinite(field)]
        if finite.size and (finite.min() < 0.0 or finite.max() > 1.0):
            self._seen_raw = True
        if self.probabilistic:
            levels = (0.0, 1.0)
        else:
            levels = self._raw_levels = raw_levels(field, ev.extent, self._real_shown, ev.points)
        self.field_item.setImage(np.nan_to_num(field), autoLevels=False, levels=levels)
        xmin, xmax, ymin, ymax = ev.extent
        self.field_item.setRect(QRectF(xmin, ymin, xmax - xmin, ymax - ymin))
        self.field_item.setVisible(self._show_field.isChecked())

    def _draw_arrows(self, ev: Samples) -> None:
        if ev.arrows is None or not self._show_arrows.isChecked():
            self.arrows_item.setData([], [])  # hidden: nothing to keep up to date
            self.arrows_item.setVisible(False)
            return
        xmin, xmax, _, _ = self._extent or data_extent(ev.points)
        segments = arrow_segments(ev.points, ev.arrows, ARROW_FRACTION * (xmax - xmin))
        self.arrows_item.setData(segments[:, 0], segments[:, 1], connect="pairs")
        self.arrows_item.setVisible(True)

    def _update_legend(self) -> None:
        if self.probabilistic:
            scale = "D(x): 0 fake … 1 real"
        else:
            lo, hi = self._raw_levels
            scale = f"D score: {lo:.3g} fake … {hi:.3g} real"
        self._legend.setText(scale)
        fake, real = _css(self._point_color), _css(self._real_color)
        self._keys.setText(
            f"<span style='color:{fake}'>●</span> G(z) &nbsp;<span style='color:{real}'>●</span> data"
        )

    def _apply_palette(self) -> None:
        palette = self.palette()
        base = palette.color(QPalette.ColorRole.Base)
        self.plot.setBackground(base)
        for name in ("left", "bottom"):
            axis = self.plot.getPlotItem().getAxis(name)
            axis.setPen(palette.color(QPalette.ColorRole.Mid))
            axis.setTextPen(palette.color(QPalette.ColorRole.Text))
        ink = QColor(palette.color(QPalette.ColorRole.Text))
        ink.setAlpha(170)
        self.arrows_item.setPen(pg.mkPen(ink, width=1))
        self._bar.setPixmap(_bar_pixmap(self._lut, base))
        self._point_color = POINT_COLOR_DARK if base.lightness() < 128 else POINT_COLOR
        ink.setAlpha(REAL_POINT_ALPHA)
        self._real_color = ink.getRgb()
        self.real_item.setBrush(pg.mkBrush(ink))
        self.fake_item.setBrush(pg.mkBrush(*self._point_color))
        self._update_legend()

    # ---- handlers -----------------------------------------------------------------------------

    def _on_timer_timeout(self) -> None:
        if self._dirty and self.isVisible():
            self._redraw()

    def _on_show_field_toggled(self, checked: bool) -> None:
        has_field = self._latest is not None and self._latest.field is not None and not self._dirty
        self.field_item.setVisible(checked and has_field)

    def _on_show_arrows_toggled(self, checked: bool) -> None:
        if self._latest is not None and not self._dirty:
            self._draw_arrows(self._latest)
        else:
            self.arrows_item.setVisible(checked)

    def changeEvent(self, event: QEvent) -> None:  # noqa: N802 (Qt's name)
        if event.type() == QEvent.Type.PaletteChange:
            self._apply_palette()
        super().changeEvent(event)

    def showEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        super().showEvent(event)
        if self._dirty and not self._timer.isActive():
            self._timer.start()
