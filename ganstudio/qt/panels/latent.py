"""The latent explorer dock: what the current generator does across its latent space.

Its generator is the app's own run (a copy taken with the latest samples while the dock is open:
`Trainer.share_generator`), a stopped model (an opened checkpoint, or a run after Stop: its G,
copied), or a followed run (its latest checkpoint, reloaded when a new one appears). Every
computation runs on the explorer's own thread, which holds one pending request per kind: a slider
dragged fast replaces the request still waiting instead of queueing a backlog, and the GUI thread
only draws the arrays that come back. Only what the visible tab shows is computed.

Clicking a sample (here or in the Samples grid) picks it: two picks give an interpolation strip
between them, exportable as PNG and animated GIF.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
from PySide6.QtCore import QSignalBlocker, Qt, Signal, Slot
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QPushButton,
    QSizePolicy,
    QSlider,
    QSpinBox,
    QStackedWidget,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from ganstudio.core.events import CheckpointSaved, Samples
from ganstudio.qt.latent_thread import ORDER, ExplorerThread, Reply
from ganstudio.qt.panels.latent_views import ImageView, Plane, mesh_polyline
from ganstudio.qt.panels.samples import grid_index

PSI_TICKS = 100  # truncation slider ticks per unit of psi
WALK_RANGE, WALK_TICKS = 3.0, 100  # walk sliders: -3..3 (prior standard deviations), 0.01 steps
AXES = 4  # walk sliders along the first latent dimensions
DEFAULT_FRAMES, DEFAULT_K = 12, 8
NO_SOURCE = "No generator yet: start training, open a checkpoint, or open a run."


# ----- the panel --------------------------------------------------------------------------------


class LatentPanel(QWidget):
    redrawn = Signal(str)  # a view drew a result: "source", "grid", "strip", "compare", "nearest"
    saved = Signal(str)  # the path of an exported strip

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
        self._psi.setToolTip("Truncation ψ: scales every z towards the mean (0): 1 leaves it, 0 makes "
                             "every sample the mean's")
        self._psi_label = QLabel(objectName="latent_truncation_value")
        controls = QGridLayout()
        controls.setContentsMargins(0, 0, 0, 0)
        controls.addWidget(QLabel("Truncation ψ"), 0, 0)
        controls.addWidget(self._psi, 0, 1)
        controls.addWidget(self._psi_label, 0, 2)

        walk = QGroupBox("Walk", objectName="latent_walk")
        walk_layout = QGridLayout(walk)
        walk_layout.setContentsMargins(6, 4, 6, 4)
        self._walk: dict[str, QSlider] = {}
        self._walk_labels: dict[str, QLabel] = {}
        names = [(f"z{i}", f"z[{i}]", f"Along latent dimension {i}") for i in range(AXES)]
        names += [("random", "random", "Along a random direction (New draws another)"),
                  ("between", "A → B", "Along the direction from pick A to pick B")]
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
        self._new_direction = QPushButton("New", objectName="latent_new_direction")
        self._new_direction.setToolTip("Draw another random direction")
        self._walk_reset = QPushButton("Reset", objectName="latent_walk_reset")
        self._walk_reset.setToolTip("Every walk slider back to 0")
        walk_layout.addWidget(self._walk_reset, 0, 6)
        walk_layout.addWidget(self._new_direction, AXES // 2, 6)

        self._picks_label = QLabel(objectName="latent_picks")
        self._seed_a = QSpinBox(objectName="latent_seed_a", maximum=2**31 - 1)
        self._seed_b = QSpinBox(objectName="latent_seed_b", maximum=2**31 - 1, value=1)
        for box in (self._seed_a, self._seed_b):
            box.setMaximumWidth(110)
        self._use_seeds = QPushButton("Use seeds", objectName="latent_use_seeds")
        self._use_seeds.setToolTip("Pick the latents these two seeds draw instead of grid samples")
        self._clear_picks = QPushButton("Clear", objectName="latent_clear_picks")
        picks = QHBoxLayout()
        picks.addWidget(self._picks_label, 1)
        for w in (QLabel("seeds"), self._seed_a, self._seed_b, self._use_seeds, self._clear_picks):
            picks.addWidget(w)

        self._tabs = QTabWidget(objectName="latent_tabs")
        self._tabs.addTab(self._build_explore(), "Explore")
        self._tabs.addTab(self._build_compare(), "G vs EMA")
        self._tabs.addTab(self._build_nearest(), "Nearest real")
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
        for s in self._walk.values():
            s.valueChanged.connect(self._on_walk_value_changed)
        self._new_direction.clicked.connect(self._on_new_direction_clicked)
        self._walk_reset.clicked.connect(self._on_walk_reset_clicked)
        self._use_seeds.clicked.connect(self._on_use_seeds_clicked)
        self._clear_picks.clicked.connect(self._on_clear_picks_clicked)
        self._tabs.currentChanged.connect(self._on_tabs_current_changed)
        self._grid_view.clicked.connect(self._on_grid_view_clicked)
        self._mode.currentIndexChanged.connect(lambda _i: self._update({"strip"}))
        self._frames.valueChanged.connect(lambda _v: self._update({"strip"}))
        self._k.valueChanged.connect(lambda _v: self._update({"nearest"}))
        self._mesh.toggled.connect(lambda _on: self._update({"grid"}))
        self._export_png.clicked.connect(self._on_export_png_clicked)
        self._export_gif.clicked.connect(self._on_export_gif_clicked)
        self._sync_controls()

    @staticmethod
    def _slider(name: str, low: int, high: int, value: int) -> QSlider:
        s = QSlider(Qt.Orientation.Horizontal, objectName=name)
        s.setRange(low, high)
        s.setValue(value)
        return s

    def _build_explore(self) -> QWidget:
        self._grid_view = ImageView("latent_grid", 120)
        self._grid_view.setToolTip("Click a sample to pick it (A, then B)")
        self._plane: Plane | None = None
        self._plane_points: np.ndarray | None = None
        self._grid_stack = QStackedWidget()
        self._grid_stack.addWidget(self._grid_view)
        self._mesh = QCheckBox("Latent mesh", objectName="latent_mesh", checked=True)
        self._mesh.setToolTip("The image of a regular grid over z[0], z[1] in [-3, 3] (GAN Lab's "
                              "manifold view)")
        self._mode = QComboBox(objectName="latent_mode")
        self._mode.addItem("spherical", "slerp")
        self._mode.addItem("linear", "linear")
        self._frames = QSpinBox(objectName="latent_frames", minimum=8, maximum=64, value=DEFAULT_FRAMES)
        self._frames.setSuffix(" frames")
        self._export_png = QPushButton("PNG…", objectName="latent_export_png")
        self._export_gif = QPushButton("GIF…", objectName="latent_export_gif")
        self._strip_view = ImageView("latent_strip", 40)
        self._strip_view.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        row = QHBoxLayout()
        row.addWidget(QLabel("Interpolate A → B"))
        row.addWidget(self._mode)
        row.addWidget(self._frames)
        row.addStretch(1)
        row.addWidget(self._mesh)
        row.addWidget(self._export_png)
        row.addWidget(self._export_gif)
        page = QWidget()
        layout = QVBoxLayout(page)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addWidget(self._grid_stack, 4)
        layout.addLayout(row)
        layout.addWidget(self._strip_view, 1)
        return page

    def _build_compare(self) -> QWidget:
        page = QWidget()
        layout = QVBoxLayout(page)
        layout.setContentsMargins(2, 2, 2, 2)
        self._compare_note = QLabel(objectName="latent_compare_note", wordWrap=True)
        self._compare_columns = QHBoxLayout()
        self._compare_views: dict[str, tuple[QLabel, ImageView]] = {}
        self._compare_box = QWidget(objectName="latent_compare")
        self._compare_box.setLayout(self._compare_columns)
        self._compare_stack = QStackedWidget()
        self._compare_stack.addWidget(self._compare_box)
        self._compare_plane: Plane | None = None
        layout.addWidget(self._compare_note)
        layout.addWidget(self._compare_stack, 1)
        return page

    def _build_nearest(self) -> QWidget:
        page = QWidget()
        layout = QVBoxLayout(page)
        layout.setContentsMargins(2, 2, 2, 2)
        self._k = QSpinBox(objectName="latent_k", minimum=1, maximum=32, value=DEFAULT_K)
        self._k.setPrefix("k = ")
        top = QHBoxLayout()
        self._nearest_note = QLabel(objectName="latent_nearest_note", wordWrap=True)
        top.addWidget(self._nearest_note, 1)
        top.addWidget(self._k)
        self._query_view = ImageView("latent_query", 48)
        self._query_view.setMaximumWidth(96)
        layout.addLayout(top)
        layout.addWidget(self._query_view)
        self._nearest_views: dict[str, tuple[QLabel, ImageView]] = {}
        for key, title in (("features", "in the metrics' feature space"), ("pixels", "in pixels")):
            label = QLabel(title, objectName=f"latent_nearest_{key}_label", wordWrap=True)
            view = ImageView(f"latent_nearest_{key}", 40)
            layout.addWidget(label)
            layout.addWidget(view, 1)
            self._nearest_views[key] = (label, view)
        return page

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
        return self._grid_view.array

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
        self._set_picks(self._picks + [("sample", int(index))] if len(self._picks) == 1
                        else [("sample", int(index))])

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
        s = self._session
        if not self._active:
            return
        if s.following:
            path = s.followed.latest_checkpoint()
            if path is None:
                self._set_no_source("This run has no checkpoint yet; the explorer loads its latest one "
                                    "when it appears.")
                return
            try:
                st = path.stat()
                key = ("checkpoint", str(path), st.st_mtime_ns, st.st_size)
            except OSError:
                return
            self._load(key, {"checkpoint": str(path)}, f"Loading {path.name}…")
            return
        latest = s.run.latest_samples
        weights = getattr(latest, "generator", None) if latest is not None else None
        dataset = s.trainer.data if s.trainer is not None else None
        if weights is not None:
            self._load(("weights", id(weights)), {"weights": weights, "dataset": dataset}, "")
        elif s.trainer is not None and not s.busy:
            from ganstudio.core import latent

            trainer = s.trainer
            name = f"checkpoint {s.checkpoint_path.name}" if s.checkpoint_path is not None else "run"
            key = ("trainer", id(trainer), trainer.step)
            if key != self._source_key:
                self._load(key, {"weights": latent.weights_of(trainer, name), "dataset": dataset}, "")
        elif s.trainer is not None or s.busy:
            path = s.folder.latest_checkpoint() if s.folder is not None else None
            if path is not None and self._source_key is None:
                self._load(("checkpoint", str(path)), {"checkpoint": str(path), "dataset": dataset}, "")
            elif self._source_key is None:
                self._set_no_source("Waiting for the run's next samples (every log.sample_every steps).")
        else:
            self._set_no_source(NO_SOURCE)

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
        self._grid_step = None
        self._grid_view.set_image(None)
        self._strip_view.set_image(None)
        self._strip = None
        self._sync_controls()

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
        return {"psi": self._psi_value(), "walk": self._walk_spec(), "picks": list(self._picks)}

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
                args["mesh"] = self._mesh.isChecked()
            elif kind == "strip":
                if not two:
                    continue
                args.update(frames=self._frames.value(), mode=self._mode.currentData())
            elif kind == "nearest":
                if not self._picks or self._info["is_2d"]:
                    continue
                args["k"] = self._k.value()
            self._submit(kind, args)

    # ----- replies -----

    @Slot(object)
    def _on_thread_replied(self, reply: Reply) -> None:
        if reply.generation != self._generation:
            return  # computed from a generator that is no longer the explorer's
        if reply.error:
            what = {"source": "load the generator", "grid": "draw the grid", "strip": "interpolate",
                    "compare": "compare G and its EMA", "nearest": "find the nearest real images"}
            self._status.setText(f"Could not {what[reply.kind]}: {reply.error}")
            if reply.kind == "source":
                self._source_label.setText(f"Could not load the generator: {reply.error}")
            return
        getattr(self, f"_show_{reply.kind}")(reply.payload)
        self._status.setText(f"{reply.kind}: {reply.seconds * 1000:.0f} ms")
        self.redrawn.emit(reply.kind)

    def _show_source(self, info: dict) -> None:
        self._info = info
        ema = " · drawn with its EMA" if info["has_ema"] else ""
        self._source_label.setText(f"{info['source']} · step {info['step']}{ema}")
        self._dirty |= {"grid", "strip", "compare", "nearest"}
        self._sync_controls()
        self._submit_visible()

    def _show_grid(self, out: dict) -> None:
        self._grid_step = self._info["step"]
        if self._info["is_2d"]:
            plane = self._ensure_plane()
            self._plane_points = out["grid"]
            plane.scatter("points", out["grid"], (37, 99, 235, 200), 4)
            plane.lines("mesh", mesh_polyline(out["mesh"]) if out["mesh"] is not None else None,
                        (120, 120, 120, 160))
            self._show_picks_on_plane()
        else:
            self._grid_view.set_image(out["grid"])

    def _show_strip(self, strip) -> None:
        self._strip = strip
        if strip.points is not None:
            self._ensure_plane().lines("path", strip.points, (234, 88, 12, 230), 2.0, z=10, symbol="o")
        else:
            self._strip_view.set_image(strip.image)
        self._sync_controls()

    def _show_compare(self, cmp) -> None:
        if cmp.points:
            plane = self._ensure_compare_plane()
            colors = {"G": (37, 99, 235, 170), "EMA": (234, 88, 12, 170)}
            for key in list(plane.layers):
                if key not in cmp.points:
                    plane.scatter(key, None, (0, 0, 0, 0))
            # G on top: the others show where they differ from it.
            for z, (key, points) in enumerate(reversed(cmp.points.items())):
                plane.scatter(key, points, colors.get(key, (22, 163, 74, 170)), 4, z=z)
            return
        for key in [k for k in self._compare_views if k not in cmp.columns]:
            label, view = self._compare_views.pop(key)
            label.deleteLater()
            view.deleteLater()
        for i, (title, image) in enumerate(cmp.columns.items()):
            if title not in self._compare_views:
                label = QLabel(objectName=f"latent_compare_title_{i}", alignment=Qt.AlignmentFlag.AlignCenter)
                view = ImageView(f"latent_compare_{i}", 64)
                box = QVBoxLayout()
                box.addWidget(label)
                box.addWidget(view, 1)
                self._compare_columns.addLayout(box)
                self._compare_views[title] = (label, view)
            label, view = self._compare_views[title]
            scale = cmp.scales.get(title)
            label.setText(title if scale is None else f"{title}\nwhite = {scale:.3g}")
            view.set_image(image)

    def _show_nearest(self, out: dict) -> None:
        self._query_view.set_image(out["query"])
        for (key, (label, view)), (space, (row, distances)) in zip(self._nearest_views.items(),
                                                                    out["rows"].items(), strict=True):
            shown = ", ".join(f"{d:.2f}" for d in distances)
            where = "pixels" if key == "pixels" else f"the metrics' feature space ({space})"
            label.setText(f"The {len(distances)} nearest training images in {where}; distances {shown}")
            view.set_image(row)

    # ----- 2D views -----

    def _ensure_plane(self) -> Plane:
        if self._plane is None:
            self._plane = Plane("latent_plane", self.palette())
            self._plane.set_real(self._reference)
            self._grid_stack.addWidget(self._plane.widget)
            points = self._plane.scatter("points", None, (37, 99, 235, 200), 4)
            points.sigClicked.connect(self._on_plane_points_clicked)
        self._grid_stack.setCurrentWidget(self._plane.widget)
        return self._plane

    def _ensure_compare_plane(self) -> Plane:
        if self._compare_plane is None:
            self._compare_plane = Plane("latent_compare_plane", self.palette(), legend=True)
            self._compare_plane.set_real(self._reference)
            self._compare_stack.addWidget(self._compare_plane.widget)
        self._compare_stack.setCurrentWidget(self._compare_plane.widget)
        return self._compare_plane

    def _show_picks_on_plane(self) -> None:
        points = self._plane_points
        if self._plane is None or points is None:
            return
        chosen = [points[i] for kind, i in self._picks if kind == "sample" and 0 <= i < len(points)]
        self._plane.scatter("picks", np.array(chosen) if chosen else None, (234, 88, 12, 255), 11, z=20)

    # ----- state -----

    def _set_picks(self, picks: list[tuple[str, int]]) -> None:
        self._picks = picks[:2]
        self._strip = None
        self._strip_view.set_image(None)
        if self._plane is not None:
            self._plane.clear("path")
            self._show_picks_on_plane()
        between = self._walk["between"].value() != 0
        self._update({"strip", "compare", "nearest"} | ({"grid"} if between else set()))
        self._sync_controls()

    def _sync_controls(self) -> None:
        info = self._info
        names = {"A": None, "B": None}
        for label, (kind, value) in zip("AB", self._picks, strict=False):
            names[label] = f"sample {value}" if kind == "sample" else f"seed {value}"
        self._picks_label.setText(f"A: {names['A'] or '—'} · B: {names['B'] or '—'}"
                                  + ("" if self._picks else "  (click samples to pick)"))
        self._grid_view.set_marks([(v, label) for label, (kind, v) in zip("AB", self._picks, strict=False)
                                   if kind == "sample"])
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
        for b in (self._export_png, self._export_gif):
            b.setEnabled(has_strip)
            b.setToolTip("Export the strip" if not is_2d else "Export is for image data")
        self._mesh.setVisible(is_2d)
        self._strip_view.setVisible(not is_2d)
        if info is None:
            self._compare_note.setText("")
        elif is_2d:
            self._compare_note.setText("The fixed noise's points through G" + (", its EMA" if info["has_ema"]
                                       else " (train.ema is off: no EMA)") + " and G on truncated latents.")
        elif info["has_ema"]:
            self._compare_note.setText("The same latents (the picks, else the first 8 samples) through G, "
                                       "its EMA and G on truncated latents; difference maps per pixel.")
        else:
            self._compare_note.setText("train.ema is off: there is no EMA generator to compare. G and G "
                                       "on truncated latents, and their difference per pixel.")
        self._nearest_note.setText(
            "For image data." if is_2d else
            "Pick a sample: its nearest training images show whether G memorises them."
            if not self._picks else "The nearest training images of pick A, as drawn in the grid.")
        self._tabs.setTabEnabled(2, not is_2d)

    # ----- handlers -----

    @Slot(object)
    def _on_model_changed(self, changes) -> None:
        if not self._active:
            return
        if "samples" in changes and any(getattr(e, "generator", None) is not None
                                        for e in changes.of_type(Samples)):
            self._refresh_source()
        elif "checkpoints" in changes and (self._session.following or self._source_key is None) \
                and changes.of_type(CheckpointSaved):
            self._refresh_source()

    @Slot()
    def _on_model_reset(self) -> None:
        # Another run: another fixed noise, so the picks mean nothing now.
        self._picks = []
        self._source_key = None
        self._set_no_source(NO_SOURCE)
        self._sync_sharing()
        self._refresh_source()

    @Slot(str)
    def _on_session_state_changed(self, _state: str) -> None:
        self._sync_sharing()  # a trainer built or continued: it shares from its next samples
        if self._active and self._source_key is None:
            self._refresh_source()
        elif self._active and not self._session.busy and self._session.trainer is not None:
            self._refresh_source()  # stopped: the trainer's own weights are the latest

    @Slot(object)
    def _on_session_reference_points(self, points) -> None:
        self._reference = None if points is None else np.asarray(points)
        for plane in (self._plane, self._compare_plane):
            if plane is not None:
                plane.set_real(self._reference)

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

    def _on_grid_view_clicked(self, x: float, y: float) -> None:
        array = self._grid_view.array
        index = grid_index(array.shape, x, y) if array is not None else None
        if index is not None:
            self.pick(index)

    def _on_plane_points_clicked(self, _item, points, _event=None) -> None:
        if len(points):
            self.pick(int(points[0].index()))

    def _export_path(self, title: str, name: str, filter_: str, suffix: str) -> str | None:
        path, _ = QFileDialog.getSaveFileName(self, title, os.path.join(self._last_dir, name), filter_)
        if not path:
            return None
        if not path.lower().endswith(suffix):
            path += suffix
        self._last_dir = os.path.dirname(path)
        return path

    def _on_export_png_clicked(self) -> None:
        path = self._export_path("Export the interpolation strip", "interpolation.png", "PNG image (*.png)",
                                 ".png")
        if path:
            self._export(self.export_png, path)

    def _on_export_gif_clicked(self) -> None:
        path = self._export_path("Export the interpolation as GIF", "interpolation.gif", "GIF image (*.gif)",
                                 ".gif")
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
