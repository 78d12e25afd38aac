"""The generator's samples over time: the latest grid (or 2D scatter), a timeline to scrub back,
and PNG / animated GIF export.

The timeline keeps the uint8 arrays the trainer sent (no QPixmap per grid; a view is copied, so
it does not keep a larger buffer alive) and is bounded: when full, the older half is thinned to
every other frame, so a long run keeps an even-ish coverage from its first frame to its latest.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

import numpy as np
import pyqtgraph as pg
from PIL import Image
from PySide6.QtCore import QEvent, QSignalBlocker, Qt, Signal, Slot
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import (
    QCheckBox,
    QFileDialog,
    QGraphicsItem,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QPushButton,
    QSlider,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from ganstudio.core.extent import Extent, data_extent
from ganstudio.core.image import rasterise_points
from ganstudio.core.run.events import Samples
from ganstudio.qt.widgets.grid_view import PICK_COLORS, GridView, grid_index
from ganstudio.qt.widgets.plot_items import offer_working_exports

GIF_MIN_WIDTH = 256  # small grids are upscaled (nearest) to at least this width
GIF_FRAME_MS = 100
GIF_MARGIN = 16  # px above each frame for its "step N" label
POINTS_IMAGE_SIZE = 256  # 2D samples are rasterised at this size for PNG / GIF
MARK_SIZE = 13  # px: the ring around a picked point of a 2D scatter
FAKE_RGBA = (37, 99, 235, 150)  # generated points: blue, see-through where they pile up
REAL_ALPHA = 110  # the real points, in the palette's text colour
REAL_EXPORT_RGB = (60, 60, 60)  # the real points in an exported PNG / GIF (on white)
Z_FAKE, Z_REAL, Z_MARKS = 0, 5, 10


@dataclass(frozen=True)
class _Frame:
    step: int
    image: np.ndarray | None = None  # HxWxC (or HxW) uint8
    points: np.ndarray | None = None  # (n, 2) float


AUGMENTED_TIP = (
    "Show the training reals as the discriminator sees them now (data.augment), in place of the "
    "generator's samples; the timeline keeps scrubbing the samples."
)


def _frame(step: int, array: np.ndarray) -> _Frame:
    """A timeline frame from a stored array: uint8 arrays are grids, float (n, 2) ones points."""
    if array.dtype != np.uint8 and array.ndim == 2 and array.shape[1] == 2:
        return _Frame(int(step), points=_owned(array))
    if array.dtype != np.uint8 or array.ndim not in (2, 3):
        raise ValueError(
            f"sample at step {step} is neither an HxWxC uint8 grid nor (n, 2) points "
            f"(got {array.dtype} {array.shape})"
        )
    return _Frame(int(step), image=_owned(array))


def _owned(array: np.ndarray) -> np.ndarray:
    """`array` if it owns its memory, else a compact copy. A view keeps its whole base alive for as
    long as the timeline keeps the frame: a one-channel grid from the trainer is one channel of a
    three-channel torch tensor, so 400 such frames held 6.4 MB (and 400 tensors) for 2.1 MB of
    pixels."""
    return array if array.base is None else array.copy()


def _to_rgb(image: np.ndarray) -> np.ndarray:
    if image.ndim == 2:
        image = image[:, :, None]
    if image.shape[2] == 1:
        return np.repeat(image, 3, axis=2)
    return image[:, :, :3]


def _to_pil(image: np.ndarray) -> Image.Image:
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    return Image.fromarray(np.ascontiguousarray(image))


def _readable(path: str, err: OSError) -> OSError:
    reason = err.strerror or str(err)
    return OSError(f"Could not write '{path}': {reason}. Choose another folder or file name.")


class SamplesPanel(QWidget):
    saved = Signal(str)  # the path of a grid PNG or GIF written from the buttons
    sample_picked = Signal(int)  # a sample clicked: its index in the run's fixed-noise batch

    def __init__(self, model=None, parent: QWidget | None = None, max_grids: int = 400):
        """`model`: the window's RunModel (ganstudio.qt.run_model), whose samples it shows."""
        super().__init__(parent)
        if max_grids < 4:
            raise ValueError(f"max_grids must be at least 4 to thin the timeline, got {max_grids}")
        self.setObjectName("samples_panel")
        self._max = max_grids
        self._frames: list[_Frame] = []
        self._index = -1  # the displayed frame
        self._reference: np.ndarray | None = None
        self._extent: Extent | None = None
        self._last_dir = os.path.expanduser("~")
        self._marks: list[tuple[int, str]] = []  # the latent explorer's picks, outlined here too
        self._augmented: np.ndarray | None = None  # the latest training reals as D sees them

        self._grid_view = GridView(name="samples_grid")
        self._grid_view.setToolTip("Click a sample to pick it for the Latent Explorer (A, then B)")
        self._scatter = offer_working_exports(pg.PlotWidget())
        self._scatter.setObjectName("samples_scatter")
        self._scatter.setAspectLocked(True)
        self._scatter.hideButtons()
        self._scatter.setMenuEnabled(False)
        # The real data above the generated points (as in the 2D lab): a mode the generator
        # covers still shows. Small points in the palette's text colour (_apply_palette) over a
        # see-through generated cloud.
        self._reference_item = pg.ScatterPlotItem(size=2, pen=None, antialias=False)
        self._reference_item.setZValue(Z_REAL)
        # Every real point is drawn (a subset would thin the modes' tails), but once: Qt keeps the
        # rendering as a pixmap of the visible part and redraws it only when the reference or the
        # view changes, not for new samples. Painting 50,000 translucent points every frame took
        # 14 ms of a 15 ms scatter paint.
        self._reference_item.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
        self._points_item = pg.ScatterPlotItem(
            size=4, pen=None, brush=pg.mkBrush(*FAKE_RGBA), antialias=False
        )
        self._points_item.setZValue(Z_FAKE)
        self._marks_item = pg.ScatterPlotItem(size=MARK_SIZE, antialias=True)
        self._marks_item.setZValue(Z_MARKS)
        self._scatter.addItem(self._reference_item)
        self._scatter.addItem(self._points_item)
        self._scatter.addItem(self._marks_item)
        self._points_item.sigClicked.connect(self._on_points_item_clicked)
        self._placeholder = QLabel("No samples yet")
        self._placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self._stack = QStackedWidget()
        for widget in (self._placeholder, self._grid_view, self._scatter):
            self._stack.addWidget(widget)

        self._timeline = QSlider(Qt.Orientation.Horizontal, objectName="samples_timeline")
        self._timeline.setRange(0, 0)
        self._timeline.setToolTip("Scrub back through the samples of this run")
        self._step_label = QLabel(objectName="samples_step")
        self._follow = QCheckBox("Follow latest", objectName="samples_follow")
        self._follow.setChecked(True)
        self._show_augmented = QCheckBox("Augmented reals", objectName="samples_augmented")
        self._show_augmented.setToolTip(AUGMENTED_TIP)
        self._save = QPushButton("Save grid…", objectName="samples_save")
        self._export = QPushButton("Export GIF…", objectName="samples_export_gif")

        scrub = QHBoxLayout()
        scrub.addWidget(self._timeline, 1)
        scrub.addWidget(self._step_label)
        buttons = QHBoxLayout()
        buttons.addWidget(self._follow)
        buttons.addWidget(self._show_augmented)
        buttons.addStretch(1)
        buttons.addWidget(self._save)
        buttons.addWidget(self._export)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self._stack, 1)
        layout.addLayout(scrub)
        layout.addLayout(buttons)

        self._timeline.valueChanged.connect(self._on_timeline_value_changed)
        self._grid_view.clicked.connect(self._on_grid_view_clicked)
        self._follow.toggled.connect(self._on_follow_toggled)
        self._show_augmented.toggled.connect(self._on_show_augmented_toggled)
        self._save.clicked.connect(self._on_save_clicked)
        self._export.clicked.connect(self._on_export_clicked)
        self._apply_palette()
        self._sync_controls()
        if model is not None:
            model.changed.connect(self._on_model_changed)
            model.reset.connect(self.clear)

    # ---- public API ---------------------------------------------------------------------------

    @property
    def steps(self) -> list[int]:
        """The steps of the frames in the timeline, oldest first."""
        return [f.step for f in self._frames]

    @property
    def current_step(self) -> int | None:
        return self._frames[self._index].step if self._frames else None

    @property
    def marks(self) -> list[tuple[int, str]]:
        """The outlined samples: (index in the fixed-noise batch, "A" or "B")."""
        return list(self._marks)

    @Slot(list)
    def set_marks(self, marks: list[tuple[int, str]]) -> None:
        """Outline these samples in the grid (ringed in a 2D scatter), on every frame of the
        timeline: they are the same fixed-noise latents at every step."""
        self._marks = [(int(i), str(label)) for i, label in marks]
        self._grid_view.set_marks(self._marks)
        self._show_marked_points()

    def current_array(self) -> np.ndarray | None:
        """The displayed grid (HxWxC uint8) or points ((n, 2) float), as stored."""
        if not self._frames:
            return None
        frame = self._frames[self._index]
        return frame.image if frame.image is not None else frame.points

    def add_samples(self, ev: Samples) -> None:
        if ev.grid is not None:
            self._augmented = _owned(ev.augmented) if ev.augmented is not None else None
            frame = _frame(ev.step, ev.grid)
        elif ev.points is not None:
            frame = _frame(ev.step, ev.points)
        else:
            return
        if len(self._frames) >= self._max:
            self._thin()
        self._frames.append(frame)
        if self._follow.isChecked() or self._index < 0:
            self._index = len(self._frames) - 1
            self._show()
        self._sync_controls()

    def set_default_folder(self, path: str | os.PathLike | None) -> None:
        """Where Save grid… and Export GIF… open next: the run's samples folder, say. Until the
        next call a folder the user picks is remembered instead; None keeps the current one."""
        if path is not None:
            self._last_dir = os.fspath(path)

    def _dialog_dir(self) -> str:
        """The folder a file dialog opens in: the default or last used one, or the nearest folder
        above it that exists (a new run writes its samples folder with its first grid)."""
        folder = os.path.abspath(self._last_dir)
        while not os.path.isdir(folder) and os.path.dirname(folder) != folder:
            folder = os.path.dirname(folder)
        return folder if os.path.isdir(folder) else os.path.expanduser("~")

    def set_reference_points(self, points: np.ndarray | None) -> None:
        """The real 2D data, drawn faint behind the generated points; it fixes the view's range."""
        self._reference = None if points is None else np.asarray(points, dtype=np.float64)
        if self._reference is None:
            self._reference_item.clear()
            self._extent = None
        else:
            self._reference_item.setData(pos=self._reference)
            self._extent = data_extent(self._reference)
        self._apply_extent()

    def clear(self) -> None:
        """Empty the timeline (a new run)."""
        self._frames.clear()
        self._augmented = None
        self._index = -1
        if self._reference is None:
            self._extent = None
        self._grid_view.set_image(None)
        self._points_item.clear()
        self.set_marks([])  # another run's noise: the picks were of the old one
        self._stack.setCurrentWidget(self._placeholder)
        self._sync_controls()

    def load_timeline(self, items: list[tuple[int, np.ndarray]]) -> None:
        """Replace the timeline with (step, grid) pairs, e.g. from a reopened checkpoint."""
        frames = [_frame(step, array) for step, array in items]
        self.clear()
        self._frames = frames
        while len(self._frames) > self._max:
            self._thin()
        if self._frames:
            self._index = len(self._frames) - 1
            self._follow.setChecked(True)
            self._show()
        self._sync_controls()

    def save_grid(self, path: str) -> None:
        """Write the displayed grid as PNG; raises OSError with a readable message on failure."""
        if not self._frames:
            raise ValueError("There are no samples to save yet.")
        try:
            _to_pil(self._export_image(self._frames[self._index])).save(path, format="PNG")
        except OSError as err:
            raise _readable(path, err) from err

    def export_gif(self, path: str) -> None:
        """Write the whole timeline as a looping animated GIF, each frame labelled with its step."""
        if not self._frames:
            raise ValueError("There are no samples to export yet.")
        from PIL import ImageDraw  # with its fonts, 8 ms that start-up need not pay

        images = [_to_rgb(self._export_image(frame)) for frame in self._frames]
        width = max(image.shape[1] for image in images)
        scale = max(1, math.ceil(GIF_MIN_WIDTH / width))
        canvas_w = width * scale
        canvas_h = max(image.shape[0] for image in images) * scale + GIF_MARGIN
        frames = []
        for frame, image in zip(self._frames, images, strict=True):
            pil = Image.fromarray(np.ascontiguousarray(image))
            if scale > 1:
                pil = pil.resize((pil.width * scale, pil.height * scale), Image.Resampling.NEAREST)
            canvas = Image.new("RGB", (canvas_w, canvas_h), (0, 0, 0))
            canvas.paste(pil, ((canvas_w - pil.width) // 2, GIF_MARGIN))
            ImageDraw.Draw(canvas).text((4, 2), f"step {frame.step}", fill=(255, 255, 255))
            frames.append(canvas)
        try:
            frames[0].save(
                path,
                format="GIF",
                save_all=True,
                append_images=frames[1:],
                duration=GIF_FRAME_MS,
                loop=0,
            )
        except OSError as err:
            raise _readable(path, err) from err

    # ---- internals ----------------------------------------------------------------------------

    def _thin(self) -> None:
        """Drop every other frame of the older half (keeping the first); the displayed frame moves
        to its nearest kept predecessor."""
        n = len(self._frames)
        half = n // 2
        kept = list(range(0, half, 2)) + list(range(half, n))
        new_index = {old: new for new, old in enumerate(kept)}
        if self._index >= 0:
            index = self._index if self._index in new_index else self._index - 1
            self._index = new_index[index]
        self._frames = [self._frames[i] for i in kept]

    def _export_image(self, frame: _Frame) -> np.ndarray:
        if frame.image is not None:
            return frame.image
        # The real points last, above the samples, as on screen.
        layers = ((frame.points, FAKE_RGBA[:3], 3), (self._reference, REAL_EXPORT_RGB, 1))
        return rasterise_points(layers, self._extent or data_extent(frame.points), POINTS_IMAGE_SIZE)

    def showing_augmented(self) -> bool:
        """Whether the grid shown is the augmented training reals (not the generator's samples)."""
        return self._show_augmented.isChecked() and self._augmented is not None

    def _show(self) -> None:
        frame = self._frames[self._index]
        if frame.image is not None:
            self._grid_view.set_image(self._augmented if self.showing_augmented() else frame.image)
            self._stack.setCurrentWidget(self._grid_view)
        else:
            if self._extent is None:  # no reference: fix the view on the first points seen
                self._extent = data_extent(frame.points)
                self._apply_extent()
            self._points_item.setData(pos=frame.points)
            self._stack.setCurrentWidget(self._scatter)
        self._show_marked_points()

    def _show_marked_points(self) -> None:
        points = self.current_array() if self._frames else None
        spots = []
        if points is not None and points.dtype != np.uint8:
            for index, label in self._marks:
                if 0 <= index < len(points):
                    pen = pg.mkPen(PICK_COLORS.get(label, PICK_COLORS["A"]), width=2.5)
                    spots.append({"pos": points[index], "pen": pen, "brush": pg.mkBrush(0, 0, 0, 0)})
        self._marks_item.setData(spots=spots)

    def _apply_extent(self) -> None:
        view = self._scatter.getPlotItem().getViewBox()
        if self._extent is None:
            view.enableAutoRange()
            return
        xmin, xmax, ymin, ymax = self._extent
        view.setRange(xRange=(xmin, xmax), yRange=(ymin, ymax), padding=0)
        view.disableAutoRange()

    def _apply_palette(self) -> None:
        palette = self.palette()
        self._scatter.setBackground(palette.color(QPalette.ColorRole.Base))
        text = palette.color(QPalette.ColorRole.Text)
        self._reference_item.setBrush(pg.mkBrush(text.red(), text.green(), text.blue(), REAL_ALPHA))
        for name in ("left", "bottom"):
            axis = self._scatter.getPlotItem().getAxis(name)
            axis.setPen(palette.color(QPalette.ColorRole.Mid))
            axis.setTextPen(palette.color(QPalette.ColorRole.Text))

    def changeEvent(self, event: QEvent) -> None:  # noqa: N802 (Qt's name)
        if event.type() == QEvent.Type.PaletteChange:
            self._apply_palette()
        super().changeEvent(event)

    def _sync_controls(self) -> None:
        total = len(self._frames)
        with QSignalBlocker(self._timeline):
            self._timeline.setRange(0, max(total - 1, 0))
            self._timeline.setValue(max(self._index, 0))
        self._timeline.setEnabled(total > 1)
        if total:
            self._step_label.setText(f"step {self.current_step} ({self._index + 1}/{total})")
        else:
            self._step_label.setText("no samples")
        self._save.setEnabled(total > 0)
        self._export.setEnabled(total > 0)
        self._show_augmented.setEnabled(self._augmented is not None)
        self._show_augmented.setVisible(self._augmented is not None or self._show_augmented.isChecked())

    # ---- handlers -----------------------------------------------------------------------------

    def _on_model_changed(self, changes) -> None:
        for ev in changes.events:
            if isinstance(ev, Samples):
                self.add_samples(ev)

    def _on_grid_view_clicked(self, x: float, y: float) -> None:
        image = self.current_array()
        index = grid_index(image.shape, x, y) if image is not None and image.dtype == np.uint8 else None
        if index is not None:
            self.sample_picked.emit(index)

    def _on_points_item_clicked(self, _item, points, _event=None) -> None:
        # The scatter's points are the fixed noise's, in order.
        if len(points):
            self.sample_picked.emit(int(points[0].index()))

    def _on_timeline_value_changed(self, value: int) -> None:
        if not self._frames:
            return
        self._index = value
        self._show()
        at_end = value == len(self._frames) - 1
        if self._follow.isChecked() != at_end:
            self._follow.setChecked(at_end)
        self._sync_controls()

    def _on_show_augmented_toggled(self, _checked: bool) -> None:
        if self._frames:
            self._show()

    def _on_follow_toggled(self, checked: bool) -> None:
        if checked and self._frames and self._index != len(self._frames) - 1:
            self._index = len(self._frames) - 1
            self._show()
            self._sync_controls()

    def _on_save_clicked(self) -> None:
        name = f"samples_step{self.current_step}.png"
        path, _ = QFileDialog.getSaveFileName(
            self, "Save sample grid", os.path.join(self._dialog_dir(), name), "PNG image (*.png)"
        )
        if not path:
            return
        if not path.lower().endswith(".png"):
            path += ".png"
        self._last_dir = os.path.dirname(path)
        try:
            self.save_grid(path)
        except (OSError, ValueError) as err:
            QMessageBox.warning(self, "Could not save the grid", str(err))
            return
        self.saved.emit(path)

    def _on_export_clicked(self) -> None:
        path, _ = QFileDialog.getSaveFileName(
            self,
            "Export samples as GIF",
            os.path.join(self._dialog_dir(), "samples.gif"),
            "GIF image (*.gif)",
        )
        if not path:
            return
        if not path.lower().endswith(".gif"):
            path += ".gif"
        self._last_dir = os.path.dirname(path)
        try:
            self.export_gif(path)
        except (OSError, ValueError) as err:
            QMessageBox.warning(self, "Could not export the GIF", str(err))
            return
        self.saved.emit(path)
