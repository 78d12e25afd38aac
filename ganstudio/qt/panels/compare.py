"""Runs side by side: the current run and the ones ticked in the Runs dock.

Samples: each run's grid at the same step (the nearest step at or below it), one slider and a play
button driving all of them and the plots' cursor (`step_changed`); for the 2D toys, the runs' point
clouds in one view, coloured by run, each named with the step it shows, and the real data drawn on top
of them (as the 2D lab draws it: a mode a cloud covers still shows). Config: the keys in which the runs
differ, the changes made during a run included with their steps (ganstudio.core.run.compare).

Every run is a RunModel (the current one the session's, the others from ganstudio.qt.overlays);
this panel keeps each run's sample timeline from the models' Samples events and redraws on their
change notifications.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass, field

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent, QSignalBlocker, Qt, QTimer, Signal, Slot
from PySide6.QtGui import QColor, QImage, QPalette, QPixmap
from PySide6.QtWidgets import (
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSlider,
    QStackedWidget,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from ganstudio.core.config import is_2d
from ganstudio.core.extent import preview_points
from ganstudio.core.run.compare import config_diff
from ganstudio.core.run.events import Samples
from ganstudio.qt.overlays import OverlayRun, Overlays
from ganstudio.qt.run_model import RunChanges, RunModel
from ganstudio.qt.widgets.plot_items import offer_working_exports

TILE_PX = 180  # a grid is enlarged by a whole factor (nearest) to about this size
PLAY_MS = 250
MAX_FRAMES = 400  # per run; the older half is thinned when full, as the samples timeline does
CURRENT_COLOR = "#3b82f6"
CLOUD_ALPHA = 170  # the runs' clouds are see-through where they overlap one another
REAL_POINT_ALPHA = 200  # the real data: the palette's text colour (dark on light), as the 2D lab has it
# Bottom to top: the compared runs' clouds, the current run's, the real data above them all.
Z_CLOUD, Z_CURRENT, Z_REAL = 0, 1, 5


@dataclass(eq=False)
class _Run:
    name: str
    color: str
    model: RunModel
    steps: list[int] = field(default_factory=list)
    frames: list[Samples] = field(default_factory=list)
    shown: int | None = None  # the step of the frame drawn

    def add(self, ev: Samples) -> None:
        i = bisect.bisect_left(self.steps, ev.step)
        if i < len(self.steps) and self.steps[i] == ev.step:
            self.frames[i] = ev
            return
        self.steps.insert(i, ev.step)
        self.frames.insert(i, ev)
        if len(self.frames) > MAX_FRAMES:  # thin the older half, keep the recent ones whole
            half = len(self.frames) // 2
            keep = list(range(0, half, 2)) + list(range(half, len(self.frames)))
            self.steps = [self.steps[k] for k in keep]
            self.frames = [self.frames[k] for k in keep]

    def at(self, step: int) -> Samples | None:
        """The frame of the nearest step at or below `step`."""
        i = bisect.bisect_right(self.steps, step) - 1
        return self.frames[i] if i >= 0 else None

    def clear(self) -> None:
        self.steps, self.frames, self.shown = [], [], None


class _Tile(QWidget):
    """One run's grid with its name and the step shown."""

    def __init__(self, run: _Run):
        super().__init__()
        self.caption = QLabel()
        self.caption.setTextFormat(Qt.TextFormat.RichText)
        self.image = QLabel()
        self.image.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.image.setMinimumSize(64, 64)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addWidget(self.caption)
        layout.addWidget(self.image, 1)
        self.set_caption(run, None)

    def set_caption(self, run: _Run, step: int | None) -> None:
        where = f"step {step:,}" if step is not None else "no samples yet"
        self.caption.setText(f"<b style='color:{run.color}'>■</b> {run.name} · {where}")


def grid_pixmap(grid: np.ndarray, size: int = TILE_PX) -> QPixmap:
    """An HxWxC uint8 grid as a pixmap enlarged by a whole factor, pixels kept sharp."""
    h, w, c = grid.shape
    data = np.ascontiguousarray(grid if c in (1, 3) else grid[:, :, :3])
    fmt = QImage.Format.Format_Grayscale8 if data.shape[2] == 1 else QImage.Format.Format_RGB888
    image = QImage(data.data, w, h, w * data.shape[2], fmt).copy()  # owns its pixels
    factor = max(1, size // max(h, w))
    return QPixmap.fromImage(
        image.scaled(
            w * factor,
            h * factor,
            Qt.AspectRatioMode.IgnoreAspectRatio,
            Qt.TransformationMode.FastTransformation,
        )
    )


class ComparePanel(QWidget):
    step_changed = Signal(int)  # the step shown (the plots draw a cursor there)

    def __init__(self, current: RunModel, overlays: Overlays, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("compare_panel")
        self._current = _Run("current run", CURRENT_COLOR, current)
        self._others: dict[OverlayRun, _Run] = {}
        self._steps: list[int] = []  # every run's sample steps, merged
        self._follow_latest = True

        self._slider = QSlider(Qt.Orientation.Horizontal, objectName="compare_step_slider")
        self._slider.setEnabled(False)
        self._play = QPushButton("Play", objectName="compare_play")
        self._play.setCheckable(True)
        self._play.setToolTip("Step through the samples of every run together")
        self._step_label = QLabel("step —", objectName="compare_step")
        controls = QHBoxLayout()
        controls.setContentsMargins(0, 0, 0, 0)
        controls.addWidget(self._play)
        controls.addWidget(self._slider, 1)
        controls.addWidget(self._step_label)

        self._grid_page = QWidget()
        self._grid = QGridLayout(self._grid_page)
        self._grid.setContentsMargins(0, 0, 0, 0)
        self._tiles: dict[int, _Tile] = {}  # id(_Run) -> tile
        self._points = offer_working_exports(pg.PlotWidget())
        self._points.setObjectName("compare_points")  # PlotWidget passes objectName= on to its PlotItem
        self._points.setAspectLocked(True)
        self._legend = self._points.addLegend(offset=(5, 5))
        self._scatters: dict[int, pg.ScatterPlotItem] = {}
        self._real = pg.ScatterPlotItem(size=3, pen=None, antialias=False, name="real data")
        self._real.setZValue(Z_REAL)
        self._points.addItem(self._real)
        self._real_of: tuple[tuple[str, int], ...] = ()  # the (dataset, seed) pairs drawn in _real
        self._views = QStackedWidget()
        self._views.addWidget(self._grid_page)
        self._views.addWidget(self._points)
        samples = QWidget()
        samples_layout = QVBoxLayout(samples)
        samples_layout.setContentsMargins(4, 4, 4, 4)
        samples_layout.addLayout(controls)
        samples_layout.addWidget(self._views, 1)

        self._diff = QTableWidget(objectName="compare_config_diff")
        self._diff.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self._diff_note = QLabel(objectName="compare_config_note")
        self._diff_note.setWordWrap(True)
        config = QWidget()
        config_layout = QVBoxLayout(config)
        config_layout.setContentsMargins(4, 4, 4, 4)
        config_layout.addWidget(self._diff_note)
        config_layout.addWidget(self._diff, 1)

        self._tabs = QTabWidget(objectName="compare_tabs")
        self._tabs.setDocumentMode(True)
        self._tabs.addTab(samples, "Samples")
        self._tabs.addTab(config, "Config diff")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self._tabs)

        self._timer = QTimer(self, objectName="compare_play_timer")
        self._timer.setInterval(PLAY_MS)
        self._timer.timeout.connect(self._on_timer_timeout)
        self._slider.valueChanged.connect(self._on_slider_value_changed)
        self._play.toggled.connect(self._on_play_toggled)
        current.changed.connect(self._on_current_changed)
        current.reset.connect(self._on_current_reset)
        overlays.added.connect(self._on_overlays_added)
        overlays.removed.connect(self._on_overlays_removed)
        overlays.renamed.connect(self._on_overlays_renamed)
        self._layout_tiles()
        self._update_configs()
        self._apply_palette()

    # ----- public ------------------------------------------------------------------------------

    def set_current_name(self, name: str) -> None:
        self._current.name = name
        self._redraw(force=True)
        self._update_configs()

    def runs(self) -> list[_Run]:
        return [self._current, *self._others.values()]

    def step(self) -> int | None:
        return self._steps[self._slider.value()] if self._steps else None

    def steps(self) -> list[int]:
        return list(self._steps)

    def set_step(self, step: int) -> None:
        """Show every run at `step` (the nearest step at or below, for each)."""
        if self._steps:
            self._slider.setValue(max(0, bisect.bisect_right(self._steps, step) - 1))

    def shown(self) -> list[tuple[str, int | None]]:
        """(run name, step of the frame shown) for each run, the current first."""
        return [(r.name, r.shown) for r in self.runs()]

    def tile_pixmap(self, index: int) -> QPixmap | None:
        tile = self._tiles.get(id(self.runs()[index]))
        return tile.image.pixmap() if tile is not None else None

    def scatter(self, index: int) -> pg.ScatterPlotItem | None:
        return self._scatters.get(id(self.runs()[index]))

    def real_points(self) -> pg.ScatterPlotItem:
        """The real data drawn over the runs' clouds (empty unless a run trains on a 2D toy)."""
        return self._real

    def legend_texts(self) -> list[str]:
        """The 2D view's legend, top to bottom: the real data, then each run with its step."""
        return [label.text for _sample, label in self._legend.items]

    def diff_rows(self) -> list[list[str]]:
        """The config diff as text: a header row of run names, then a row per key."""
        t = self._diff
        header = ["key"] + [t.horizontalHeaderItem(c).text() for c in range(t.columnCount())]
        rows = [
            [t.verticalHeaderItem(r).text()] + [t.item(r, c).text() for c in range(t.columnCount())]
            for r in range(t.rowCount())
        ]
        return [header, *rows]

    def show_tab(self, title: str) -> None:
        for i in range(self._tabs.count()):
            if self._tabs.tabText(i) == title:
                self._tabs.setCurrentIndex(i)

    # ----- runs --------------------------------------------------------------------------------

    @Slot(object)
    def _on_overlays_added(self, overlay: OverlayRun) -> None:
        run = _Run(overlay.name, overlay.color, overlay.model)
        self._others[overlay] = run
        overlay.model.changed.connect(lambda changes, r=run: self._on_run_changed(r, changes))
        self._layout_tiles()
        self._update_configs()

    @Slot(object)
    def _on_overlays_removed(self, overlay: OverlayRun) -> None:
        run = self._others.pop(overlay, None)
        if run is None:
            return
        self._forget(run)
        self._merge_steps()
        self._layout_tiles()
        self._update_configs()

    @Slot(object)
    def _on_overlays_renamed(self, overlay: OverlayRun) -> None:
        run = self._others.get(overlay)
        if run is not None:
            run.name = overlay.name
            self._redraw(force=True)
            self._update_configs()

    @Slot(object)
    def _on_current_changed(self, changes: RunChanges) -> None:
        self._on_run_changed(self._current, changes)

    @Slot()
    def _on_current_reset(self) -> None:
        self._current.clear()
        self._merge_steps()
        self._redraw(force=True)
        self._update_configs()

    def _on_run_changed(self, run: _Run, changes: RunChanges) -> None:
        if run is not self._current and run not in self._others.values():
            return  # a run no longer compared (its model may still send a last batch)
        if "source" in changes and any(getattr(e, "state", "") == "rewritten" for e in changes.events):
            run.clear()
        frames = changes.of_type(Samples)
        if frames:
            for ev in frames:
                run.add(ev)
            self._merge_steps()
        if changes.aspects & {"config", "markers"}:
            self._update_configs()
        if frames:
            self._redraw()

    def _forget(self, run: _Run) -> None:
        for store in (self._tiles, self._scatters):
            item = store.pop(id(run), None)
            if isinstance(item, QWidget):
                # Gone from the page at once: deleted later, it would stay drawn where it was
                # until the event loop next deletes objects, over the tiles laid out meanwhile.
                item.hide()
                item.setParent(None)
                item.deleteLater()
            elif item is not None:
                self._points.removeItem(item)

    # ----- the step ----------------------------------------------------------------------------

    def _merge_steps(self) -> None:
        at_end = self._follow_latest or not self._steps or self._slider.value() >= len(self._steps) - 1
        old = self.step()
        self._steps = sorted(set().union(*(r.steps for r in self.runs())))
        with QSignalBlocker(self._slider):
            self._slider.setRange(0, max(0, len(self._steps) - 1))
            if self._steps:
                target = (
                    len(self._steps) - 1
                    if at_end or old is None
                    else max(0, bisect.bisect_right(self._steps, old) - 1)
                )
                self._slider.setValue(target)
        self._slider.setEnabled(len(self._steps) > 1)

    @Slot(int)
    def _on_slider_value_changed(self, value: int) -> None:
        self._follow_latest = value >= len(self._steps) - 1
        self._redraw()

    @Slot(bool)
    def _on_play_toggled(self, on: bool) -> None:
        self._play.setText("Pause" if on else "Play")
        if on:
            if self._slider.value() >= len(self._steps) - 1:
                self._slider.setValue(0)  # from the start, as a player does
            self._timer.start()
        else:
            self._timer.stop()

    @Slot()
    def _on_timer_timeout(self) -> None:
        if self._slider.value() >= len(self._steps) - 1:
            self._play.setChecked(False)
            return
        self._slider.setValue(self._slider.value() + 1)

    # ----- drawing -----------------------------------------------------------------------------

    def _layout_tiles(self) -> None:
        runs = self.runs()
        while self._grid.count():
            self._grid.takeAt(0)
        columns = max(1, math.ceil(math.sqrt(len(runs))))
        for i, run in enumerate(runs):
            tile = self._tiles.get(id(run))
            if tile is None:
                tile = self._tiles[id(run)] = _Tile(run)
            self._grid.addWidget(tile, i // columns, i % columns)
        self._redraw(force=True)

    def _redraw(self, force: bool = False) -> None:
        step = self.step()
        self._step_label.setText(f"step {step:,}" if step is not None else "step —")
        points = any(f.points is not None for r in self.runs() for f in r.frames[-1:])
        self._views.setCurrentWidget(self._points if points else self._grid_page)
        if points:
            for run in self.runs():  # in the runs' order, in the legend too, whichever draws first
                self._scatter_of(run)
        for run in self.runs():
            frame = run.at(step) if step is not None else None
            shown = frame.step if frame is not None else None
            if shown == run.shown and not force:
                continue
            run.shown = shown
            if points:
                self._draw_points(run, frame)
            else:
                self._draw_grid(run, frame)
        if step is not None:
            self.step_changed.emit(step)

    def _draw_grid(self, run: _Run, frame: Samples | None) -> None:
        tile = self._tiles.get(id(run))
        if tile is None:
            return
        tile.set_caption(run, run.shown)
        if frame is None or frame.grid is None:
            tile.image.clear()
            return
        tile.image.setPixmap(grid_pixmap(frame.grid))

    def _scatter_of(self, run: _Run) -> pg.ScatterPlotItem:
        scatter = self._scatters.get(id(run))
        if scatter is None:
            color = QColor(run.color)
            color.setAlpha(CLOUD_ALPHA)
            scatter = self._scatters[id(run)] = pg.ScatterPlotItem(
                size=4, pen=None, brush=pg.mkBrush(color), name=self._legend_text(run)
            )
            scatter.setZValue(Z_CURRENT if run is self._current else Z_CLOUD)
            self._points.addItem(scatter)
        return scatter

    @staticmethod
    def _legend_text(run: _Run) -> str:
        return f"{run.name} · " + (f"step {run.shown:,}" if run.shown is not None else "no samples yet")

    def _draw_points(self, run: _Run, frame: Samples | None) -> None:
        scatter = self._scatter_of(run)
        label = self._legend.getLabel(scatter)
        if label is not None:
            label.setText(self._legend_text(run))
        if frame is None or frame.points is None:
            scatter.setData([], [])
            return
        p = np.asarray(frame.points)
        scatter.setData(p[:, 0], p[:, 1])

    def _update_configs(self) -> None:
        self._update_diff()
        self._update_real()

    def _update_real(self) -> None:
        """The real data of every 2D toy the runs train on (one set per dataset: the modes are the
        same whatever the seed), drawn when it changes."""
        pairs: dict[str, int] = {}
        for run in self.runs():
            cfg = run.model.state.config
            if cfg is not None and is_2d(cfg):
                pairs.setdefault(cfg.data.dataset, cfg.train.seed)
        key = tuple(pairs.items())
        if key == self._real_of:
            return
        self._real_of = key
        sets = [preview_points(name, seed) for name, seed in key]
        if sets:
            self._real.setData(pos=np.concatenate(sets))
        else:
            self._real.clear()

    def _apply_palette(self) -> None:
        palette = self.palette()
        self._points.setBackground(palette.color(QPalette.ColorRole.Base))
        ink = QColor(palette.color(QPalette.ColorRole.Text))
        for name in ("left", "bottom"):
            axis = self._points.getPlotItem().getAxis(name)
            axis.setPen(palette.color(QPalette.ColorRole.Mid))
            axis.setTextPen(ink)
        self._legend.setLabelTextColor(ink)
        for _sample, label in self._legend.items:
            label.setText(label.text)  # the colour set above applies from the next setText on
        ink.setAlpha(REAL_POINT_ALPHA)
        self._real.setBrush(pg.mkBrush(ink))

    def changeEvent(self, event: QEvent) -> None:  # noqa: N802 (Qt's name)
        if event.type() == QEvent.Type.PaletteChange:
            self._apply_palette()
        super().changeEvent(event)

    def _update_diff(self) -> None:
        runs = self.runs()
        rows = config_diff([r.model.state for r in runs])
        t = self._diff
        t.clear()
        t.setColumnCount(len(runs))
        t.setRowCount(len(rows))
        t.setHorizontalHeaderLabels([r.name for r in runs])
        t.setVerticalHeaderLabels([key for key, _ in rows])
        for r, (_key, cells) in enumerate(rows):
            for c, text in enumerate(cells):
                t.setItem(r, c, QTableWidgetItem(text))
        t.resizeColumnsToContents()
        if len(runs) < 2:
            self._diff_note.setText("Tick runs in the Runs dock to compare them with the current run.")
        elif not rows:
            self._diff_note.setText("These runs have the same configuration.")
        else:
            self._diff_note.setText(
                f"{len(rows)} key{'s' if len(rows) != 1 else ''} differ, or changed "
                "during a run (→ new value @ step)."
            )
