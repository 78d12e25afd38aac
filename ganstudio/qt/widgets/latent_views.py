"""The latent explorer's views: an image that outlines picked grid cells and reports clicks, a 2D
plane of point and line layers (pyqtgraph, built on first use), and the explorer's three tabs:
Explore, G vs EMA and Nearest real. Each can be emptied (`reset`): another run shows nothing of
the last one."""

from __future__ import annotations

from typing import Any

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QSpinBox,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from ganstudio.qt.widgets.grid_view import GridView, grid_index
from ganstudio.qt.widgets.plot_items import offer_working_exports

DEFAULT_FRAMES, DEFAULT_K = 12, 8
POINTS_COLOR, PATH_COLOR = (37, 99, 235, 200), (234, 88, 12, 230)
COMPARE_COLORS = {"G": (37, 99, 235, 170), "EMA": (234, 88, 12, 170)}  # others: green
NEAREST_TITLES = {"features": "in the metrics' feature space", "pixels": "in pixels"}


class ImageView(GridView):
    """A GridView of the explorer's: named, and as small as a narrow dock needs."""

    def __init__(self, name: str, min_height: int = 48):
        super().__init__(name=name, min_size=(48, min_height))


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
        self.real = pg.ScatterPlotItem(
            size=3, pen=None, brush=pg.mkBrush(150, 150, 150, 90), name="real data"
        )
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
        if isinstance(item, self.pg.ScatterPlotItem):
            item.setData(pos=np.zeros((0, 2)))
        elif item is not None:
            item.setData([], [])

    def reset(self) -> None:
        """Every layer emptied: the plane shows no results (the real data is `set_real`'s)."""
        for key in self.layers:
            self.clear(key)

    def lines(
        self,
        key: str,
        xy: np.ndarray | None,
        color: tuple,
        width: float = 1.0,
        z: float = 0,
        symbol: str | None = None,
    ) -> None:
        """A polyline; NaN rows break it (connect="finite")."""
        item = self.layers.get(key)
        if item is None:
            item = self.pg.PlotDataItem(
                pen=self.pg.mkPen(color=color, width=width),
                connect="finite",
                symbol=symbol,
                symbolSize=6,
                symbolPen=None,
                symbolBrush=self.pg.mkBrush(*color),
            )
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


def compact(button: QPushButton) -> QPushButton:
    """A button that may shrink to its text: the style's minimum (80 px) would make the explorer
    wider than the dock it shares with the Samples panel."""
    button.setMinimumWidth(button.fontMetrics().horizontalAdvance(button.text()) + 16)
    return button


def _shrinkable(label: QLabel) -> QLabel:
    """A wrapped label that takes the width its column has instead of widening the dock."""
    label.setWordWrap(True)
    label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
    return label


class ExploreTab(QWidget):
    """The fixed-noise batch as the explorer draws it, the picks marked on it: an image grid (image
    data) or points and the latent mesh on a plane (2D data); below, the interpolation's controls
    and its strip (image data) or path (on the plane). Whichever the last grid was is in front."""

    picked = Signal(int)  # a sample clicked, in the grid or on the plane: its fixed-noise index

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.grid_view = ImageView("latent_grid", 80)
        self.grid_view.setToolTip("Click a sample to pick it (A, then B)")
        self.plane: Plane | None = None
        self.plane_points: np.ndarray | None = None  # the points drawn: the fixed noise's, in order
        self._picks: list[tuple[str, int]] = []
        self._reference: np.ndarray | None = None
        self._stack = QStackedWidget()
        self._stack.addWidget(self.grid_view)
        self.mesh = QCheckBox("Latent mesh", objectName="latent_mesh", checked=True)
        self.mesh.setToolTip(
            "The image of a regular grid over z[0], z[1] in [-3, 3] (GAN Lab's manifold view)"
        )
        self.mode = QComboBox(objectName="latent_mode")
        self.mode.addItem("spherical", "slerp")
        self.mode.addItem("linear", "linear")
        self.mode.setToolTip("How the interpolation from pick A to pick B moves through the latents")
        self.frames = QSpinBox(objectName="latent_frames", minimum=8, maximum=64, value=DEFAULT_FRAMES)
        self.frames.setSuffix(" frames")
        self.export_png = compact(QPushButton("PNG…", objectName="latent_export_png"))
        self.export_gif = compact(QPushButton("GIF…", objectName="latent_export_gif"))
        self.strip_view = ImageView("latent_strip", 40)
        self.strip_view.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        # Two rows: in one, the tab was wider than the Samples panel it shares a dock with.
        row = QGridLayout()
        row.addWidget(QLabel("A → B"), 0, 0)
        row.addWidget(self.mode, 0, 1)
        row.addWidget(self.frames, 0, 2)
        row.addWidget(self.mesh, 1, 0, 1, 2)
        exports = QHBoxLayout()
        exports.addStretch(1)
        exports.addWidget(self.export_png)
        exports.addWidget(self.export_gif)
        row.addLayout(exports, 1, 2, 1, 2)
        row.setColumnStretch(3, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addWidget(self._stack, 4)
        layout.addLayout(row)
        layout.addWidget(self.strip_view, 1)
        self.grid_view.clicked.connect(self._on_grid_view_clicked)

    def set_2d(self, is_2d: bool) -> None:
        """The controls that mean something for this kind of data: the mesh, or the strip."""
        self.mesh.setVisible(is_2d)
        self.strip_view.setVisible(not is_2d)
        for b in (self.export_png, self.export_gif):
            b.setToolTip("Export the strip" if not is_2d else "Export is for image data")

    def set_reference(self, points: np.ndarray | None) -> None:
        self._reference = points
        if self.plane is not None:
            self.plane.set_real(points)

    def show_grid(self, out: dict, is_2d: bool) -> None:
        """The thread's grid: {"grid": an image or (n, 2) points, "mesh": (r, c, 2) or None}."""
        if is_2d:
            plane = self._ensure_plane()
            self.plane_points = out["grid"]
            plane.scatter("points", out["grid"], POINTS_COLOR, 4)
            plane.lines(
                "mesh", mesh_polyline(out["mesh"]) if out["mesh"] is not None else None, (120, 120, 120, 160)
            )
            self._show_picks_on_plane()
        else:
            self.grid_view.set_image(out["grid"])
            self._stack.setCurrentWidget(self.grid_view)

    def show_strip(self, strip) -> None:
        """A core.latent.Strip: a row of images, or a path of points on the plane."""
        if strip.points is not None:
            self._ensure_plane().lines("path", strip.points, PATH_COLOR, 2.0, z=10, symbol="o")
        else:
            self.strip_view.set_image(strip.image)

    def set_picks(self, picks: list[tuple[str, int]]) -> None:
        """Picks ("sample", index) or ("seed", seed), A first: the samples are marked; the strip
        or path of the last two is gone."""
        self._picks = list(picks)
        self.grid_view.set_marks(
            [(v, label) for label, (kind, v) in zip("AB", picks, strict=False) if kind == "sample"]
        )
        self.strip_view.set_image(None)
        if self.plane is not None:
            self.plane.clear("path")
            self._show_picks_on_plane()

    def reset(self) -> None:
        """Nothing drawn, the image grid in front."""
        self.grid_view.set_image(None)
        self._stack.setCurrentWidget(self.grid_view)
        if self.plane is not None:
            self.plane.reset()
        self.plane_points = None
        self.strip_view.set_image(None)

    def _ensure_plane(self) -> Plane:
        if self.plane is None:
            self.plane = Plane("latent_plane", self.palette())
            self.plane.set_real(self._reference)
            self._stack.addWidget(self.plane.widget)
            points = self.plane.scatter("points", None, POINTS_COLOR, 4)
            points.sigClicked.connect(self._on_plane_points_clicked)
        self._stack.setCurrentWidget(self.plane.widget)
        return self.plane

    def _show_picks_on_plane(self) -> None:
        points = self.plane_points
        if self.plane is None or points is None:
            return
        chosen = [points[i] for kind, i in self._picks if kind == "sample" and 0 <= i < len(points)]
        self.plane.scatter("picks", np.array(chosen) if chosen else None, (234, 88, 12, 255), 11, z=20)

    def _on_grid_view_clicked(self, x: float, y: float) -> None:
        array = self.grid_view.array
        index = grid_index(array.shape, x, y) if array is not None else None
        if index is not None:
            self.picked.emit(index)

    def _on_plane_points_clicked(self, _item, points, _event=None) -> None:
        if len(points):
            self.picked.emit(int(points[0].index()))


class CompareTab(QWidget):
    """G beside its EMA and G on truncated latents: a column of images each, difference maps with
    a legend of what their black and white are (image data), or each one's points on a plane (2D
    data). Whichever the last comparison was is in front."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.note = QLabel(objectName="latent_compare_note", wordWrap=True)
        self._columns = QHBoxLayout()
        self._columns.setContentsMargins(0, 0, 0, 0)  # five columns fit the narrowest dock
        self._columns.setSpacing(4)
        self.views: dict[str, tuple[QLabel, ImageView]] = {}
        self.box = QWidget(objectName="latent_compare")
        self.box.setLayout(self._columns)
        self._stack = QStackedWidget()
        self._stack.addWidget(self.box)
        self.plane: Plane | None = None
        self._reference: np.ndarray | None = None
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addWidget(self.note)
        layout.addWidget(self._stack, 1)

    def set_reference(self, points: np.ndarray | None) -> None:
        self._reference = points
        if self.plane is not None:
            self.plane.set_real(points)

    def show_comparison(self, cmp) -> None:
        """A core.latent.Comparison."""
        if cmp.points:
            self._show_points(cmp.points)
        else:
            self._show_columns(cmp)

    def reset(self) -> None:
        """Nothing shown: no columns, an empty plane, the columns' page in front."""
        for key in list(self.views):
            self._remove_column(key)
        if self.plane is not None:
            self.plane.reset()
        self._stack.setCurrentWidget(self.box)

    def _show_points(self, points: dict[str, np.ndarray]) -> None:
        for key in list(self.views):
            self._remove_column(key)
        if self.plane is None:
            self.plane = Plane("latent_compare_plane", self.palette(), legend=True)
            self.plane.set_real(self._reference)
            self._stack.addWidget(self.plane.widget)
        self._stack.setCurrentWidget(self.plane.widget)
        for key in list(self.plane.layers):
            if key not in points:
                self.plane.clear(key)
        # G on top: the others show where they differ from it.
        for z, (key, xy) in enumerate(reversed(points.items())):
            self.plane.scatter(key, xy, COMPARE_COLORS.get(key, (22, 163, 74, 170)), 4, z=z)

    def _show_columns(self, cmp) -> None:
        if self.plane is not None:
            self.plane.reset()
        self._stack.setCurrentWidget(self.box)
        for key in [k for k in self.views if k not in cmp.columns]:
            self._remove_column(key)
        for i, (title, image) in enumerate(cmp.columns.items()):
            if title not in self.views:
                label = _shrinkable(
                    QLabel(objectName=f"latent_compare_title_{i}", alignment=Qt.AlignmentFlag.AlignCenter)
                )
                view = ImageView(f"latent_compare_{i}", 64)
                box = QVBoxLayout()
                box.addWidget(label)
                box.addWidget(view, 1)
                self._columns.addLayout(box)
                self.views[title] = (label, view)
            label, view = self.views[title]
            legend = cmp.legends.get(title)
            label.setText(title if legend is None else f"{title}\n{legend}")
            view.set_image(image)

    def _remove_column(self, key: str) -> None:
        label, view = self.views.pop(key)
        for i in range(self._columns.count()):
            box = self._columns.itemAt(i).layout()
            if box is not None and box.indexOf(view) >= 0:
                self._columns.takeAt(i)
                box.deleteLater()
                break
        label.deleteLater()
        view.deleteLater()


class NearestTab(QWidget):
    """The nearest training images of pick A, in the metrics' feature space and in pixels."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.k = QSpinBox(objectName="latent_k", minimum=1, maximum=32, value=DEFAULT_K)
        self.k.setPrefix("k = ")
        self.note = QLabel(objectName="latent_nearest_note", wordWrap=True)
        self.query = ImageView("latent_query", 40)
        self.query.setMaximumWidth(96)
        top = QHBoxLayout()
        top.addWidget(self.note, 1)
        top.addWidget(self.k)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addLayout(top)
        layout.addWidget(self.query)
        self.views: dict[str, tuple[QLabel, ImageView]] = {}
        for key, title in NEAREST_TITLES.items():
            label = QLabel(title, objectName=f"latent_nearest_{key}_label", wordWrap=True)
            view = ImageView(f"latent_nearest_{key}", 32)
            layout.addWidget(label)
            layout.addWidget(view, 1)
            self.views[key] = (label, view)

    def show_nearest(self, out: dict) -> None:
        """The thread's answer: the query image and, per space, a row of images and distances."""
        self.query.set_image(out["query"])
        for (key, (label, view)), (space, (row, distances)) in zip(
            self.views.items(), out["rows"].items(), strict=True
        ):
            shown = ", ".join(f"{d:.2f}" for d in distances)
            where = "pixels" if key == "pixels" else f"the metrics' feature space ({space})"
            label.setText(f"The {len(distances)} nearest training images in {where}; distances {shown}")
            view.set_image(row)

    def reset(self) -> None:
        self.query.set_image(None)
        for key, (label, view) in self.views.items():
            label.setText(NEAREST_TITLES[key])
            view.set_image(None)


class ClassPicker(QWidget):
    """model.conditional: the class the explorer draws every latent for (same z, another class),
    placed across `row` of the panel's `grid` of controls. Hidden for an unconditional generator;
    `changed` carries the class."""

    changed = Signal(int)

    def __init__(self, grid: QGridLayout, row: int):
        super().__init__(objectName="latent_class")
        grid.addWidget(self, row, 0, 1, grid.columnCount())
        self.spin = QSpinBox(objectName="latent_class_value")
        self.spin.setToolTip("The class G is asked for: every view keeps its latents and changes class")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(QLabel("Class"))
        layout.addWidget(self.spin, 1)
        self.spin.valueChanged.connect(self.changed)
        self.setVisible(False)

    def set_classes(self, num_classes: int | None) -> None:
        """The loaded generator's class count (None: unconditional, and the picker hides)."""
        self.setVisible(bool(num_classes))
        if num_classes:
            self.spin.setRange(0, num_classes - 1)

    def value(self) -> int:
        return self.spin.value()
