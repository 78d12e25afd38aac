"""The latent explorer dock: what the current generator does across its latent space.

Its generator is the app's own run (a copy taken with the latest samples while the dock is open:
`Trainer.share_generator`), a stopped model (an opened checkpoint, or a run after Stop: its G,
copied), or a followed run (its latest checkpoint, reloaded when a new one appears). Every
computation runs on the explorer's own thread, which holds one pending request per kind: a slider
dragged fast replaces the request still waiting instead of queueing a backlog, and the GUI thread
only draws the arrays that come back. Only what the visible tab shows is computed.

Clicking a sample (here or in the Samples grid) picks it: two picks give an interpolation strip
between them, exportable as PNG and animated GIF; the Samples grid outlines the picks too
(`marks_changed`). Another run (the model's `reset`) starts the explorer over: nothing of the last
run's generator, picks, plane or results is kept (`_start_over`).
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
from PySide6.QtCore import QSignalBlocker, Qt, Signal, Slot
from PySide6.QtWidgets import (
    QFileDialog,
    QGridLayout,
    QGroupBox,
    QLabel,
    QMessageBox,
    QPushButton,
    QSlider,
    QSpinBox,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from ganstudio.core.run.events import CheckpointSaved, Samples
from ganstudio.qt.latent_thread import ORDER, ExplorerThread, Reply
from ganstudio.qt.run_handle import NO_SOURCE
from ganstudio.qt.widgets.latent_views import ClassPicker, CompareTab, ExploreTab, NearestTab, compact

PSI_TICKS = 100  # truncation slider ticks per unit of psi
WALK_RANGE, WALK_TICKS = 3.0, 100  # walk sliders: -3..3 (prior standard deviations), 0.01 steps
AXES = 4  # walk sliders along the first latent dimensions
ALL_VIEWS = {"grid", "strip", "compare", "nearest"}


# ----- the panel --------------------------------------------------------------------------------


class LatentPanel(QWidget):
    redrawn = Signal(str)  # a view drew a result: "source", "grid", "strip", "compare", "nearest"
    saved = Signal(str)  # the path of an exported strip
    marks_changed = Signal(list)  # [(sample index, "A" | "B")]: the picks that are grid samples

    def __init__(self, session, parent: QWidget | None = None):
        """`session`: the window's Session, whose run model it follows and whose run (its trainer,
        opened checkpoint or followed folder) is the explorer's generator."""
        super().__init__(parent)
        self.setObjectName("latent_panel")
        self._session = session
        self._thread: ExplorerThread | None = None
        self._active = False
        self._generation = 0
        self._source_key: Any = None
        self._info: dict | None = None
        self._picks: list[tuple[str, int]] = []
        self._dirty: set[str] = set()
        self._strip = None
        self._grid_step: int | None = None  # the step of the generator the grid shows
        self._reference: np.ndarray | None = None
        self._last_dir = os.path.expanduser("~")
        self._random_seed = 0
        self._build()
        model = session.model
        model.changed.connect(self._on_model_changed)
        model.reset.connect(self._on_model_reset)
        session.state_changed.connect(self._on_session_state_changed)
        session.reference_points.connect(self._on_session_reference_points)

    # ----- construction -----

    def _build(self) -> None:
        self._source_label = QLabel(NO_SOURCE, objectName="latent_source", wordWrap=True)
        self._psi = self._slider("latent_truncation", 0, PSI_TICKS, PSI_TICKS)
        self._psi.setToolTip(
            "Truncation ψ: scales every z towards the mean (0): 1 leaves it, 0 makes every sample the mean's"
        )
        self._psi_label = QLabel(objectName="latent_truncation_value")
        controls = QGridLayout()
        controls.setContentsMargins(0, 0, 0, 0)
        controls.addWidget(QLabel("Truncation ψ"), 0, 0)
        controls.addWidget(self._psi, 0, 1)
        controls.addWidget(self._psi_label, 0, 2)
        self._class = ClassPicker(controls, row=1)  # a conditional G's class: same z, another class

        walk = QGroupBox("Walk", objectName="latent_walk")
        walk_layout = QGridLayout(walk)
        walk_layout.setContentsMargins(6, 4, 6, 4)
        walk_layout.setHorizontalSpacing(4)
        walk_layout.setVerticalSpacing(2)
        self._walk: dict[str, QSlider] = {}
        self._walk_labels: dict[str, QLabel] = {}
        names = [(f"z{i}", f"z[{i}]", f"Along latent dimension {i}") for i in range(AXES)]
        names += [
            ("random", "random", "Along a random direction (New draws another)"),
            ("between", "A → B", "Along the direction from pick A to pick B"),
        ]
        top = int(WALK_RANGE * WALK_TICKS)
        for i, (key, text, tip) in enumerate(names):
            row, col = divmod(i, 2)  # two sliders a row: the dock's height is for the images
            s = self._slider(f"latent_walk_{key}", -top, top, 0)
            s.setToolTip(tip)
            label = QLabel(text, objectName=f"latent_walk_{key}_label")
            value = QLabel("+0.00")
            for j, w in enumerate((label, s, value)):
                walk_layout.addWidget(w, row, 3 * col + j)
            self._walk[key] = s
            self._walk_labels[key] = value
            self._walk_labels[key + "_name"] = label
        walk_layout.setColumnStretch(1, 1)
        walk_layout.setColumnStretch(4, 1)
        self._new_direction = compact(QPushButton("New", objectName="latent_new_direction"))
        self._new_direction.setToolTip("Draw another random direction")
        self._walk_reset = compact(QPushButton("Reset", objectName="latent_walk_reset"))
        self._walk_reset.setToolTip("Every walk slider back to 0")
        walk_layout.addWidget(self._walk_reset, 0, 6)
        walk_layout.addWidget(self._new_direction, AXES // 2, 6)

        # Two rows, each narrower than the Samples panel: a wider explorer took the width of its
        # dock area from the hyperparameters when it was opened (Qt honours a dock's minimum).
        self._picks_label = QLabel(objectName="latent_picks", wordWrap=True)
        self._seed_a = QSpinBox(objectName="latent_seed_a", maximum=2**31 - 1)
        self._seed_b = QSpinBox(objectName="latent_seed_b", maximum=2**31 - 1, value=1)
        for box in (self._seed_a, self._seed_b):
            box.setMaximumWidth(110)
            box.setMinimumWidth(box.fontMetrics().horizontalAdvance("000000") + 22)
        self._use_seeds = compact(QPushButton("Use seeds", objectName="latent_use_seeds"))
        self._use_seeds.setToolTip("Pick the latents these two seeds draw instead of grid samples")
        self._clear_picks = compact(QPushButton("Clear", objectName="latent_clear_picks"))
        picks = QGridLayout()
        picks.addWidget(self._picks_label, 0, 0, 1, 3)
        picks.addWidget(self._clear_picks, 0, 3)
        for i, w in enumerate((QLabel("Seeds"), self._seed_a, self._seed_b, self._use_seeds)):
            picks.addWidget(w, 1, i)
        picks.setColumnStretch(4, 1)

        self._tabs = QTabWidget(objectName="latent_tabs")
        self._compare = CompareTab()
        self._nearest = NearestTab()
        self._explore = ExploreTab()
        self._tabs.addTab(self._explore, "Explore")
        self._tabs.addTab(self._compare, "G vs EMA")
        self._tabs.addTab(self._nearest, "Nearest real")
        self._status = QLabel(objectName="latent_status", wordWrap=True)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self._source_label)
        layout.addLayout(controls)
        layout.addWidget(walk)
        layout.addLayout(picks)
        layout.addWidget(self._tabs, 1)
        layout.addWidget(self._status)

        self._psi.valueChanged.connect(self._on_psi_value_changed)
        self._class.changed.connect(lambda _k: self._update(set(ALL_VIEWS)))
        for s in self._walk.values():
            s.valueChanged.connect(self._on_walk_value_changed)
        self._new_direction.clicked.connect(self._on_new_direction_clicked)
        self._walk_reset.clicked.connect(self._on_walk_reset_clicked)
        self._use_seeds.clicked.connect(self._on_use_seeds_clicked)
        self._clear_picks.clicked.connect(self._on_clear_picks_clicked)
        self._tabs.currentChanged.connect(self._on_tabs_current_changed)
        explore = self._explore
        explore.picked.connect(self.pick)
        explore.mode.currentIndexChanged.connect(lambda _i: self._update({"strip"}))
        explore.frames.valueChanged.connect(lambda _v: self._update({"strip"}))
        explore.mesh.toggled.connect(lambda _on: self._update({"grid"}))
        explore.export_png.clicked.connect(self._on_export_png_clicked)
        explore.export_gif.clicked.connect(self._on_export_gif_clicked)
        self._nearest.k.valueChanged.connect(lambda _v: self._update({"nearest"}))
        self._sync_controls()

    @staticmethod
    def _slider(name: str, low: int, high: int, value: int) -> QSlider:
        s = QSlider(Qt.Orientation.Horizontal, objectName=name)
        s.setRange(low, high)
        s.setValue(value)
        return s

    # ----- public API -----

    @property
    def picks(self) -> list[tuple[str, int]]:
        return list(self._picks)

    @property
    def info(self) -> dict | None:
        """What the loaded generator is (step, source, is_2d, has_ema, ...), or None."""
        return self._info

    @property
    def strip_frames(self) -> list[np.ndarray]:
        return list(self._strip.frames or []) if self._strip is not None else []

    def grid_array(self) -> np.ndarray | None:
        return self._explore.grid_view.array

    @property
    def grid_step(self) -> int | None:
        """The training step of the generator the grid (or plane) shows now."""
        return self._grid_step

    @Slot(bool)
    def set_active(self, active: bool) -> None:
        """The dock is shown (True) or hidden: only a shown explorer asks the run for its weights
        and computes."""
        self._active = bool(active)
        self._sync_sharing()
        if self._active:
            self._refresh_source()
            self._submit_visible()

    @Slot(int)
    def pick(self, index: int) -> None:
        """Pick sample `index` of the fixed noise: A, then B; a third pick starts again at A."""
        self._set_picks(
            self._picks + [("sample", int(index))] if len(self._picks) == 1 else [("sample", int(index))]
        )

    def set_seeds(self, a: int, b: int) -> None:
        self._seed_a.setValue(a)
        self._seed_b.setValue(b)
        self._set_picks([("seed", int(a)), ("seed", int(b))])

    def shutdown(self) -> None:
        """Stop the explorer's thread (waits for the computation under way) and stop sharing."""
        self._active = False
        self._sync_sharing()
        if self._thread is not None:
            self._thread.close()
            self._thread = None

    def export_png(self, path: str) -> None:
        from ganstudio.core import latent

        if self._strip is None or self._strip.image is None:
            raise ValueError("There is no interpolation strip to export: pick two samples first.")
        latent.save_png(self._strip.image, path)

    def export_gif(self, path: str) -> None:
        from ganstudio.core import latent

        if self._strip is None or not self._strip.frames:
            raise ValueError("There is no interpolation strip to export: pick two samples first.")
        latent.save_gif(self._strip.frames, path)

    # ----- sources -----

    def _sync_sharing(self) -> None:
        """Ask the app's own trainer for a copy of its generator with each samples event, only
        while the explorer is shown (it costs one copy of G's weights per samples event)."""
        self._session.set_share_generator(self._active)

    def _refresh_source(self) -> None:
        """Load the current generator, wherever the run lives (the run handle says where)."""
        if not self._active:
            return
        src = self._session.handle.generator()
        if src.fallback and self._source_key is not None:
            return  # a fallback only while nothing is shown
        if src.key is not None:
            if src.key != self._source_key:
                self._load(src.key, src.args(), src.note)
        elif src.note:
            self._set_no_source(src.note)

    def _load(self, key: Any, args: dict, note: str) -> None:
        if key == self._source_key:
            return
        self._source_key = key
        self._generation += 1
        if note:
            self._status.setText(note)
        self._submit("source", args)

    def _set_no_source(self, text: str) -> None:
        self._source_key = None
        self._info = None
        self._generation += 1
        self._source_label.setText(text)
        self._clear_views()

    # ----- requests -----

    def _thread_for_requests(self) -> ExplorerThread:
        if self._thread is None:
            self._thread = ExplorerThread(self)
            self._thread.replied.connect(self._on_thread_replied)
        return self._thread

    def _submit(self, kind: str, args: dict) -> None:
        self._thread_for_requests().submit(kind, self._generation, args)

    def _psi_value(self) -> float:
        return self._psi.value() / PSI_TICKS

    def _walk_spec(self) -> list[tuple[str, int, float]]:
        spec = []
        for key, s in self._walk.items():
            amount = s.value() / WALK_TICKS
            if not amount or not s.isEnabled():
                continue
            if key.startswith("z"):
                spec.append(("axis", int(key[1:]), amount))
            elif key == "random":
                spec.append(("random", self._random_seed, amount))
            else:
                spec.append(("between", 0, amount))
        return spec

    def _common(self) -> dict:
        walk, label = self._walk_spec(), self._class.value()
        return {"psi": self._psi_value(), "walk": walk, "picks": list(self._picks), "label": label}

    def _update(self, kinds: set[str]) -> None:
        """Something the `kinds` views show changed: compute the visible ones now, the rest when
        their tab is shown."""
        self._dirty |= kinds
        self._submit_visible()

    def _visible_kinds(self) -> set[str]:
        index = self._tabs.currentIndex()
        return [{"grid", "strip"}, {"compare"}, {"nearest"}][index] if index >= 0 else set()

    def _submit_visible(self) -> None:
        if not self._active or self._info is None:
            return
        two = len(self._picks) >= 2
        for kind in ORDER[1:]:
            if kind not in self._dirty or kind not in self._visible_kinds():
                continue
            self._dirty.discard(kind)
            args = self._common()
            if kind == "grid":
                args["mesh"] = self._explore.mesh.isChecked()
            elif kind == "strip":
                if not two:
                    continue
                args.update(frames=self._explore.frames.value(), mode=self._explore.mode.currentData())
            elif kind == "nearest":
                if not self._picks or self._info["is_2d"]:
                    continue
                args["k"] = self._nearest.k.value()
            self._submit(kind, args)

    # ----- replies -----

    @Slot(object)
    def _on_thread_replied(self, reply: Reply) -> None:
        if reply.generation != self._generation:
            return  # computed from a generator that is no longer the explorer's
        if reply.error:
            what = {
                "source": "load the generator",
                "grid": "draw the grid",
                "strip": "interpolate",
                "compare": "compare G and its EMA",
                "nearest": "find the nearest real images",
            }
            self._status.setText(f"Could not {what[reply.kind]}: {reply.error}")
            if reply.kind == "source":
                self._source_label.setText(f"Could not load the generator: {reply.error}")
            return
        getattr(self, f"_show_{reply.kind}")(reply.payload)
        self._status.setText(f"{reply.kind}: {reply.seconds * 1000:.0f} ms")
        self.redrawn.emit(reply.kind)

    def _show_source(self, info: dict) -> None:
        if self._info is not None and self._info["is_2d"] != info["is_2d"]:
            self._clear_views()  # 2D and image results never share a view
        self._info = info
        self._class.set_classes(info.get("num_classes"))
        ema = " · drawn with its EMA" if info["has_ema"] else ""
        self._source_label.setText(f"{info['source']} · step {info['step']}{ema}")
        self._dirty |= ALL_VIEWS
        self._sync_controls()
        self._submit_visible()

    def _show_grid(self, out: dict) -> None:
        self._grid_step = self._info["step"]
        self._explore.show_grid(out, self._info["is_2d"])

    def _show_strip(self, strip) -> None:
        self._strip = strip
        self._explore.show_strip(strip)
        self._sync_controls()

    def _show_compare(self, cmp) -> None:
        self._compare.show_comparison(cmp)

    def _show_nearest(self, out: dict) -> None:
        self._nearest.show_nearest(out)

    # ----- state -----

    def _start_over(self) -> None:
        """Another run: forget everything of the last one. Its generator (here and on the thread),
        its picks (they index another fixed noise), its walk (another latent space), its real data
        and every result drawn from it, in both modes (image grid or 2D plane)."""
        self._generation += 1  # replies still on their way are from the old generator
        if self._thread is not None:
            self._thread.forget()
        self._source_key = None
        self._info = None
        self._on_session_reference_points(None)  # the new run's real data comes after its reset
        self._random_seed = 0
        for s in self._walk.values():
            with QSignalBlocker(s):
                s.setValue(0)
        self._picks = []
        self._explore.set_picks([])
        self._clear_views()
        self._status.setText("")
        self.marks_changed.emit([])

    def _clear_views(self) -> None:
        """Every view empty, the image views in front: nothing drawn from a generator is left."""
        self._grid_step = None
        self._explore.reset()
        self._strip = None
        self._compare.reset()
        self._nearest.reset()
        self._dirty |= ALL_VIEWS
        self._sync_controls()

    def _marks(self) -> list[tuple[int, str]]:
        return [(v, label) for label, (kind, v) in zip("AB", self._picks, strict=False) if kind == "sample"]

    def _set_picks(self, picks: list[tuple[str, int]]) -> None:
        self._picks = picks[:2]
        self._strip = None
        self._explore.set_picks(self._picks)
        between = self._walk["between"].value() != 0
        self._update({"strip", "compare", "nearest"} | ({"grid"} if between else set()))
        self._sync_controls()
        self.marks_changed.emit(self._marks())

    def _sync_controls(self) -> None:
        info = self._info
        names = {"A": None, "B": None}
        for label, (kind, value) in zip("AB", self._picks, strict=False):
            names[label] = f"sample {value}" if kind == "sample" else f"seed {value}"
        self._picks_label.setText(
            f"A: {names['A'] or '—'} · B: {names['B'] or '—'}"
            + ("" if self._picks else "  (click samples to pick)")
        )
        self._psi_label.setText(f"{self._psi_value():.2f}")
        for key, s in self._walk.items():
            self._walk_labels[key].setText(f"{s.value() / WALK_TICKS:+.2f}")
        dim = info["latent_dim"] if info else AXES
        for i in range(AXES):
            for w in (self._walk[f"z{i}"], self._walk_labels[f"z{i}"], self._walk_labels[f"z{i}_name"]):
                w.setVisible(i < dim)
        self._walk["between"].setEnabled(len(self._picks) >= 2)
        is_2d = bool(info and info["is_2d"])
        has_strip = self._strip is not None and self._strip.frames is not None
        for b in (self._explore.export_png, self._explore.export_gif):
            b.setEnabled(has_strip)
        self._explore.set_2d(is_2d)
        if info is None:
            self._compare.note.setText("")
        elif is_2d:
            self._compare.note.setText(
                "The fixed noise's points through G"
                + (", its EMA" if info["has_ema"] else " (train.ema is off: no EMA)")
                + " and G on truncated latents."
            )
        elif info["has_ema"]:
            self._compare.note.setText(
                "The same latents (the picks, else the first 8 samples) through G, "
                "its EMA and G on truncated latents; difference maps per pixel."
            )
        else:
            self._compare.note.setText(
                "train.ema is off: there is no EMA generator to compare. G and G "
                "on truncated latents, and their difference per pixel."
            )
        self._nearest.note.setText(
            "For image data."
            if is_2d
            else "Pick a sample: its nearest training images show whether G memorises them."
            if not self._picks
            else "The nearest training images of pick A, as drawn in the grid."
        )
        if is_2d and self._tabs.currentIndex() == 2:
            self._tabs.setCurrentIndex(0)  # a disabled tab left in front would stay blank
        self._tabs.setTabEnabled(2, not is_2d)

    # ----- handlers -----

    @Slot(object)
    def _on_model_changed(self, changes) -> None:
        if not self._active:
            return
        if "samples" in changes and any(
            getattr(e, "generator", None) is not None for e in changes.of_type(Samples)
        ):
            self._refresh_source()
        elif (
            "checkpoints" in changes
            and (self._session.handle.elsewhere or self._source_key is None)
            and changes.of_type(CheckpointSaved)
        ):
            self._refresh_source()

    @Slot()
    def _on_model_reset(self) -> None:
        self._start_over()
        self._set_no_source(NO_SOURCE)
        self._sync_sharing()
        self._refresh_source()

    @Slot(str)
    def _on_session_state_changed(self, _state: str) -> None:
        self._sync_sharing()  # a trainer built or continued: it shares from its next samples
        self._refresh_source()  # stopped, say: the trainer's own weights are the latest

    @Slot(object)
    def _on_session_reference_points(self, points) -> None:
        self._reference = None if points is None else np.asarray(points)
        self._explore.set_reference(self._reference)
        self._compare.set_reference(self._reference)

    def _on_psi_value_changed(self, _value: int) -> None:
        self._sync_controls()
        self._update({"grid", "strip", "compare", "nearest"})

    def _on_walk_value_changed(self, _value: int) -> None:
        self._sync_controls()
        self._update({"grid", "strip", "compare", "nearest"})

    def _on_new_direction_clicked(self) -> None:
        self._random_seed += 1
        if self._walk["random"].value():
            self._update({"grid", "strip", "compare", "nearest"})

    def _on_walk_reset_clicked(self) -> None:
        for s in self._walk.values():
            with QSignalBlocker(s):
                s.setValue(0)
        self._sync_controls()
        self._update({"grid", "strip", "compare", "nearest"})

    def _on_use_seeds_clicked(self) -> None:
        self.set_seeds(self._seed_a.value(), self._seed_b.value())

    def _on_clear_picks_clicked(self) -> None:
        with QSignalBlocker(self._walk["between"]):
            self._walk["between"].setValue(0)
        self._set_picks([])

    def _on_tabs_current_changed(self, _index: int) -> None:
        self._submit_visible()

    def _export_path(self, title: str, name: str, filter_: str, suffix: str) -> str | None:
        path, _ = QFileDialog.getSaveFileName(self, title, os.path.join(self._last_dir, name), filter_)
        if not path:
            return None
        if not path.lower().endswith(suffix):
            path += suffix
        self._last_dir = os.path.dirname(path)
        return path

    def _on_export_png_clicked(self) -> None:
        path = self._export_path(
            "Export the interpolation strip", "interpolation.png", "PNG image (*.png)", ".png"
        )
        if path:
            self._export(self.export_png, path)

    def _on_export_gif_clicked(self) -> None:
        path = self._export_path(
            "Export the interpolation as GIF", "interpolation.gif", "GIF image (*.gif)", ".gif"
        )
        if path:
            self._export(self.export_gif, path)

    def _export(self, write, path: str) -> None:
        try:
            write(path)
        except (OSError, ValueError) as err:
            QMessageBox.warning(self, "Could not export the interpolation", str(err))
            return
        self.saved.emit(path)

    def closeEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        self.shutdown()
        super().closeEvent(event)
